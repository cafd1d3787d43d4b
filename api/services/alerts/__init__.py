"""Early identification: alert rules and their evaluation."""
