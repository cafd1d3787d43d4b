"""Small pure helpers shared by the domains: codes, intervals, local days, Markdown."""
