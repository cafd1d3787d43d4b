"""The agreements a write checks its entries against, remembered by each process.

A logged reading needs its agreement (the goal, its target, the days it is in force); the
agreement changes rarely, and reading it is one of the few round trips a reading costs. Each
process keeps the copy it last read, tagged with the patient's *agreement revision*: a
counter on the summary that the agreements flow moves after every change to any of the
patient's agreements. The write reads the summary anyway (it allocates the entry's number),
so it confirms a remembered copy at no cost; a copy older than the revision fails the check,
the transaction aborts, and the write runs again from a fresh read.

A fresh copy is tagged with the revision the same write saw. An agreement changed in the
milliseconds between that read and that write would be remembered under the new revision,
so copies are also forgotten after `KEEP_FOR`: the worst case is bounded, not left to chance.
"""

import time

from bson import ObjectId
from bson.errors import InvalidId

from api.models.agreement import Agreement
from api.services.common.process_memory import ProcessMemory

KEEP_FOR_S = 60.0
_FIELDS = ("patient", "status", "active_since", "active_from", "ended_at", "content.goals")

# agreement id → (revision, the agreement)
_copies = ProcessMemory(size=10_000)


class StaleCopy(Exception):
    """An agreement changed since this process remembered it: write again from a fresh read."""


def _recall(agreement_id: str) -> tuple[int, Agreement] | None:
    found = _copies.recall(agreement_id)
    if found is None:
        return None
    copy, kept_at = found
    if time.monotonic() - kept_at > KEEP_FOR_S:
        _copies.forget(agreement_id)
        return None
    return copy


def forget_all() -> None:
    _copies.forget_all()


def _read(patient_id, agreement_id: str) -> Agreement | None:
    try:
        pk = ObjectId(agreement_id)
    except (InvalidId, TypeError):
        return None
    return Agreement.objects(pk=pk, patient=patient_id).only(*_FIELDS).first()


class AgreementLookup:
    """The agreements of one write: remembered copies (when `remembered`) or fresh reads."""

    def __init__(self, *, remembered: bool = True):
        self.remembered = remembered
        self.found: dict[str, Agreement | None] = {}
        self.recalled: dict[str, int] = {}  # agreement id → the revision its copy carries

    def get(self, patient_id, agreement_id: str) -> Agreement | None:
        if agreement_id in self.found:
            return self.found[agreement_id]
        copy = _recall(agreement_id) if self.remembered else None
        if copy is not None and copy[1].patient == patient_id:
            self.recalled[agreement_id] = copy[0]
            agreement = copy[1]
        else:
            agreement = _read(patient_id, agreement_id)
        self.found[agreement_id] = agreement
        return agreement

    def confirm(self, revision: int) -> None:
        """Inside the write, with the summary's revision: every copy recalled is current."""
        if any(seen != revision for seen in self.recalled.values()):
            for agreement_id in self.recalled:
                _copies.forget(agreement_id)
            raise StaleCopy()

    def keep(self, revision: int) -> None:
        """After the write: remember what was read fresh, under the revision it saw."""
        if not self.remembered:
            return
        for agreement_id, agreement in self.found.items():
            if agreement is not None and agreement_id not in self.recalled:
                _copies.keep(agreement_id, (revision, agreement))
