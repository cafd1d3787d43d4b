"""Short, stable ids for things embedded in documents (goals, check-ups)."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"
