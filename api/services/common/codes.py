"""One-time codes a person types or scans: random, short, stored only as a hash."""

import hashlib
import secrets

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10  # 31**10 ≈ 8e14 possibilities


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


SHORT_LENGTH = 6


def new_short_code() -> str:
    """Six digits, for a code read in a mail and typed on a phone's number pad."""
    return f"{secrets.randbelow(10**SHORT_LENGTH):0{SHORT_LENGTH}d}"


def code_hash(code: str) -> str:
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()
