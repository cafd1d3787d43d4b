"""Development helpers: the embedded database launcher and the `make run` supervisor."""
