"""What patients log: entries, the measures registry, rollups and the summary."""
