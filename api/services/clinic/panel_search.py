"""The console's search of a provider's panel by name and by condition, through an index.

`panel_terms` holds, per (provider, patient), the patient's name from each of its words on
("maria garcia lopez", "garcia lopez", "lopez"), folded (case and accents aside), and each
condition of their active agreements. A search by name is one range of the `key` index (the
names that start with what was typed), a condition one more; the view and the order come
from the panel rows of the patients found. So a search costs what it finds, never what the
panel holds. The terms move when a membership, a name or an active agreement does.
"""

import re

from pymongo import DeleteMany, ReplaceOne

from api.models.panel import PanelTerm
from api.models.user import User
from api.services.care.education import normalise_condition
from api.services.clinic import panel
from api.services.clinic.population import conditions_of
from api.services.common.text import fold

NAME, CONDITION = "n", "c"
# Past any character a folded name can hold: "<prefix>" + this ends a prefix's range.
RANGE_END = "\U0010ffff"
_APOSTROPHES = re.compile("['\u2019]")
_SEPARATORS = re.compile(r"[\W_]+")


def terms():
    return PanelTerm._get_collection()


def name_key(text: str) -> str:
    """A name as it is searched: folded, apostrophes dropped ("O'Brien" is "obrien"), words
    separated by one space."""
    words = _SEPARATORS.split(_APOSTROPHES.sub("", fold(text)))
    return " ".join(w for w in words if w)


def _term_keys(provider, patient_id, name: str, conditions: list[str]) -> set[str]:
    words = name_key(name).split(" ") if name else []
    keys = [(NAME, " ".join(words[i:])) for i in range(len(words))]
    keys += [(CONDITION, condition) for condition in conditions]
    return {f"{provider}:{kind}:{key}|{patient_id}" for kind, key in keys if key}


def refresh(
    patient_id, *, providers=None, name: str | None = None, conditions: list[str] | None = None
) -> None:
    """Bring the patient's terms in line with their active providers, name and conditions
    (what is not given is read); writes only what changed."""
    if providers is None:
        providers = panel.active_providers(patient_id)
    if name is None:
        user = User._get_collection().find_one({"_id": patient_id}, {"name": 1}) or {}
        name = user.get("name") or ""
    if not providers:
        conditions = []
    elif conditions is None:
        conditions = conditions_of(patient_id)
    wanted = {
        key: provider
        for provider in providers
        for key in _term_keys(provider, patient_id, name, conditions)
    }
    existing = {doc["key"] for doc in terms().find({"patient": patient_id}, {"key": 1})}
    writes = []
    if existing - set(wanted):
        writes.append(DeleteMany({"key": {"$in": sorted(existing - set(wanted))}}))
    writes += [
        ReplaceOne(
            {"key": key}, {"key": key, "provider": provider, "patient": patient_id}, upsert=True
        )
        for key, provider in sorted(wanted.items())
        if key not in existing
    ]
    if writes:
        terms().bulk_write(writes, ordered=False)


def _range(provider_id, kind: str, start: str, end: str) -> dict:
    prefix = f"{provider_id}:{kind}:"
    return {"key": {"$gte": f"{prefix}{start}", "$lt": f"{prefix}{end}"}}


def find_query(provider_id, *, name: str = "", condition: str = "") -> dict | None:
    """The `panel_terms` query of one search (by name if given, else by condition); None
    when there is nothing to search by (a name of punctuation only finds no one)."""
    key = name_key(name)
    if key:
        return _range(provider_id, NAME, key, key + RANGE_END)
    if condition:
        return _range(provider_id, CONDITION, f"{condition}|", f"{condition}|~")
    return None


def _patients(query: dict) -> set:
    return {doc["patient"] for doc in terms().find(query, {"patient": 1})}


def search(provider_id, *, name: str, condition: str, view: str, sort: str, descending: bool):
    """The panel rows ({"patient", <sort>}) of the provider's patients in `view` whose name
    has a word starting with `name` (and the words after it as typed) and who have
    `condition` in an active agreement, ordered as the panel orders them."""
    condition = normalise_condition(condition)
    query = find_query(provider_id, name=name, condition=condition)
    if query is None:
        return []
    found = _patients(query)
    if name_key(name) and condition and found:
        found &= _patients(find_query(provider_id, condition=condition))
    ids = [f"{provider_id}:{view}:{patient_id}" for patient_id in found]
    rows = list(panel.rows().find({"_id": {"$in": ids}}, {"patient": 1, sort: 1}))
    rows.sort(key=lambda row: row[sort], reverse=descending)
    return rows
