"""What a service reads of the access rule's decision: who acts on whose records, and as what.

`api.access` decides whether a caller gets in (its `Scope` has these attributes); services
receive that outcome as plain values and apply their own rules by relation (a minor cannot
accept alone, a caregiver without `manage` hands out no codes). They never import the rule.
"""

from typing import Protocol

from bson import ObjectId

from api.models.caregiver import Grant
from api.models.user import User


class Acting(Protocol):
    patient_id: ObjectId
    relation: str  # self | team | caregiver | clinic
    grant: Grant | None  # the caregiver's grant in force (relation "caregiver")

    @property
    def caller_id(self) -> ObjectId: ...

    @property
    def patient(self) -> User: ...

    @property
    def permissions(self) -> tuple[str, ...]: ...
