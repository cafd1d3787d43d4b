"""Folding text for search: what users type matches what is stored, case and accents aside."""

import unicodedata

# Letters NFKD leaves whole that people type without their stroke or ligature.
_PLAIN = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """Case-folded, without accents: "Zoë Ørsted" → "zoe orsted", "Straße" → "strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_PLAIN)
