"""The curated ATC data file (`api/data/atc.json`): resolve a drug name or code to its entry.

Names and synonyms (brand names) are matched after `normalise`, so "GLUCOPHAGE",
"Glucophage" and "glucophage " are the same key. One name may belong to several entries of
the same ingredient (aspirin as an antiplatelet and as an analgesic, salbutamol inhaled and
oral); the route then picks the entry, else the first one listed.
"""

import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "atc.json"
ATC_CODE = re.compile(r"^[A-Z]\d{2}[A-Z]{2}\d{2}$")

# Words that describe a product's strength or form rather than the drug, dropped when the
# name as typed ("Metformin 500 mg tablets") does not match by itself.
_PRODUCT_WORDS = frozenset(
    (
        *("mg", "mcg", "ug", "g", "ml", "iu", "unit", "units"),
        *("tab", "tabs", "tablet", "tablets", "cap", "caps", "capsule", "capsules"),
        *("xr", "xl", "sr", "er", "mr", "cr", "retard", "modified", "release"),
        *("inhaler", "cream", "gel", "ointment", "injection", "pen"),
    )
)
# Salts the data file names only where the INN does ("levothyroxine sodium"); tried last, so
# "amlodipine besylate" finds amlodipine while "potassium chloride" stays itself.
_SALT_WORDS = frozenset(
    (
        *("hydrochloride", "hcl", "besylate", "besilate", "maleate", "succinate", "tartrate"),
        *("mesylate", "mesilate", "fumarate", "sodium", "potassium", "calcium", "magnesium"),
        *("phosphate", "sulfate", "sulphate", "bromide", "acetate", "citrate", "hyclate"),
        *("monohydrate", "dihydrate"),
    )
)


@dataclass(frozen=True)
class AtcEntry:
    code: str
    ingredient: str
    synonyms: tuple[str, ...]
    routes: tuple[str, ...]
    # The active ingredients of a combination product; a single drug is its own component.
    components: tuple[str, ...]

    @property
    def subgroup(self) -> str:
        """The chemical subgroup (ATC level 4), e.g. C09AA for every plain ACE inhibitor."""
        return self.code[:5]

    @property
    def ingredient_keys(self) -> tuple[str, ...]:
        return tuple(normalise(c) for c in self.components)


def normalise(name: str) -> str:
    """Lower case, accents and punctuation dropped, runs of spaces folded into one."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def drug_key(name: str) -> str:
    """The name without strength and form words: the key an unverified drug is checked by."""
    words = [w for w in normalise(name).split() if w not in _PRODUCT_WORDS and not w[0].isdigit()]
    return " ".join(words) or normalise(name)


@dataclass(frozen=True)
class AtcIndex:
    source: str
    entries: tuple[AtcEntry, ...]
    by_code: dict[str, AtcEntry]
    by_name: dict[str, tuple[AtcEntry, ...]]

    def code(self, code: str) -> AtcEntry | None:
        return self.by_code.get(code)

    def candidates(self, name: str) -> tuple[AtcEntry, ...]:
        """Every entry the name stands for: as typed, then without strength, then salt."""
        key = drug_key(name)
        without_salt = " ".join(w for w in key.split() if w not in _SALT_WORDS)
        for attempt in (normalise(name), key, without_salt):
            if attempt in self.by_name:
                return self.by_name[attempt]
        return ()

    def resolve(self, name: str, route: str | None = None) -> AtcEntry | None:
        found = self.candidates(name)
        for entry in found:
            if route in entry.routes:
                return entry
        return found[0] if found else None


def _entry(raw: dict) -> AtcEntry:
    return AtcEntry(
        code=raw["atc"],
        ingredient=raw["ingredient"],
        synonyms=tuple(raw.get("synonyms", ())),
        routes=tuple(raw["routes"]),
        components=tuple(raw.get("components") or (raw["ingredient"],)),
    )


def build_index(document: dict) -> AtcIndex:
    entries = tuple(_entry(raw) for raw in document["entries"])
    by_name: dict[str, list[AtcEntry]] = {}
    for entry in entries:
        for name in {normalise(n) for n in (entry.ingredient, *entry.synonyms)}:
            by_name.setdefault(name, []).append(entry)
    return AtcIndex(
        source=document["source"],
        entries=entries,
        by_code={e.code: e for e in entries},
        by_name={name: tuple(found) for name, found in by_name.items()},
    )


@functools.cache
def index() -> AtcIndex:
    """Loaded once per process; the file ships with the code and never changes at run time."""
    with DATA_FILE.open(encoding="utf-8") as handle:
        return build_index(json.load(handle))
