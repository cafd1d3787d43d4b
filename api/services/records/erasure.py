"""Erasing a patient's account: every record of theirs, in every collection, found by rule.

No list of collections is kept here. The rule reads the registered mongoengine documents,
so a collection added later is covered the day its model is imported in `api.models`:
  - a document is the patient's own, and is deleted, when its `_id` is the patient's id, its
    string `_id` starts with "<patient id>:" (rollups, idempotency records), or one of its
    owner fields (`OWNER_FIELDS`: whose records, whose grant, whose device, whose inbox)
    holds the patient's id;
  - any other reference to the patient in someone else's records (a log entry they recorded
    for their child, an access-log line of theirs, an agreement they accepted on a child's
    behalf) is replaced by `ERASED`, so the other patient's record stays whole and still says
    that someone acted, without saying who; a name stored beside such a reference goes too;
  - a stored response (a binary field: the idempotency replay cache) that mentions the
    patient is dropped: it is a cache, and its request concerned the erased records.
What the erasure sets in motion elsewhere (tokens, grants, panel counts and clinic aggregates,
which count the patient without naming them) is `flows.erasure`. What stays: the token
revocation keyed by the account id (old tokens must keep failing with 401 until they expire;
it holds no health data and has a TTL) and one access-log line saying the account was erased.
"""

from dataclasses import dataclass
from datetime import datetime

import mongoengine as me
from bson import ObjectId
from mongoengine.base.common import _document_registry

import api.models  # noqa: F401  (registers every document class)
from api.models.care_team import AccessLogEntry
from api.models.user import User

OWNER_FIELDS = ("patient", "caregiver", "owner", "recipient")
# Stands in for an erased account wherever another person's record referred to it.
ERASED = ObjectId("0" * 24)
ERASED_NAME = "Erased account"
ERASED_ACTION = "account erased"
_ID_FIELDS = (me.ObjectIdField, me.ReferenceField)


@dataclass(frozen=True)
class Reference:
    """Where an account id may sit in a document: `path`, or `inner` within array `array`."""

    path: str
    array: str | None = None
    inner: str | None = None
    many: bool = False  # a list of ids
    name: str | None = None  # a sibling name field written with the id (an actor snapshot)


def _references(fields: dict, prefix: str = "", array: str | None = None):
    names = {f.db_field for f in fields.values() if isinstance(f, me.StringField)}
    for field in fields.values():
        db_field = field.db_field
        if db_field == "_id":
            continue
        path = f"{prefix}{db_field}"
        name = f"{prefix}name" if db_field == "id" and "name" in names else None
        if isinstance(field, _ID_FIELDS):
            if array is None:
                yield Reference(path, name=name)
            else:
                yield Reference(f"{array}.{path}", array, path, name=name)
        elif isinstance(field, me.EmbeddedDocumentField):
            yield from _references(field.document_type._fields, f"{path}.", array)
        elif isinstance(field, me.ListField) and array is None:
            inner = field.field
            if isinstance(inner, _ID_FIELDS):
                yield Reference(path, many=True)
            elif isinstance(inner, me.EmbeddedDocumentField):
                yield from _references(inner.document_type._fields, "", path)


def _documents() -> list[type[me.Document]]:
    """Every concrete document class once per collection; users last, so a failure part-way
    leaves the account there to sign in with and erase again."""
    found = {}
    for cls in _document_registry.values():
        if not issubclass(cls, me.Document) or cls._meta.get("abstract"):
            continue
        found.setdefault(cls._get_collection_name(), cls)
    return sorted(found.values(), key=lambda cls: cls is User)


def _delete_owned(cls, patient_id: ObjectId) -> None:
    collection = cls._get_collection()
    pk = cls._fields[cls._meta["id_field"]]
    if isinstance(pk, me.StringField):
        collection.delete_many({"_id": {"$regex": f"^{patient_id}:"}})
    else:
        collection.delete_many({"_id": patient_id})
    for name in OWNER_FIELDS:
        field = cls._fields.get(name)
        if isinstance(field, _ID_FIELDS):
            collection.delete_many({field.db_field: patient_id})


def _pseudonymise(cls, patient_id: ObjectId) -> None:
    collection = cls._get_collection()
    owners = {cls._fields[n].db_field for n in OWNER_FIELDS if n in cls._fields}
    for ref in _references(cls._fields):
        if ref.path in owners:
            continue
        if ref.many:
            collection.update_many({ref.path: patient_id}, {"$pull": {ref.path: patient_id}})
        elif ref.array is None:
            changes = {ref.path: ERASED} | ({ref.name: ERASED_NAME} if ref.name else {})
            collection.update_many({ref.path: patient_id}, {"$set": changes})
        else:
            changes = {f"{ref.array}.$[e].{ref.inner}": ERASED}
            if ref.name:
                changes[f"{ref.array}.$[e].{ref.name}"] = ERASED_NAME
            collection.update_many(
                {ref.path: patient_id},
                {"$set": changes},
                array_filters=[{f"e.{ref.inner}": patient_id}],
            )


def _drop_cached_mentions(cls, patient_id: ObjectId) -> None:
    binaries = [f.db_field for f in cls._fields.values() if isinstance(f, me.BinaryField)]
    if not binaries:
        return
    collection = cls._get_collection()
    needles = (str(patient_id).encode(), patient_id.binary)
    mentioning = [
        doc["_id"]
        for doc in collection.find({}, dict.fromkeys(binaries, 1))
        if any(needle in bytes(doc.get(f) or b"") for f in binaries for needle in needles)
    ]
    if mentioning:
        collection.delete_many({"_id": {"$in": mentioning}})


def erase_records(patient_id: ObjectId) -> None:
    """Apply the rule above to every collection."""
    for cls in _documents():
        _delete_owned(cls, patient_id)
        _drop_cached_mentions(cls, patient_id)
        _pseudonymise(cls, patient_id)


def record_erasure(patient_id: ObjectId, now: datetime) -> None:
    """The one line the access log keeps: the account was erased, by its patient."""
    AccessLogEntry(
        patient=patient_id, actor_role="patient", relation="self", action=ERASED_ACTION, at=now
    ).save()
