"""Who people are: accounts, passwords, tokens, profiles, minors and caregivers."""
