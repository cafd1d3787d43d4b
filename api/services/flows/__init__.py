"""The only place where one domain's change moves another's data: one function per trigger."""
