"""Agreement templates: built-in ones shipped as data files, and ones providers write.

Built-in templates are read from `api/templates/*.json` and checked with the same schema as a
provider's POST when the app is built (`api.schemas.shipped`), which hands them to
`install_builtins`. They are never stored: a deploy that improves a template improves it
everywhere at once.
Providers' templates live in the `agreement_templates` collection; their ids never clash
with a built-in id.
"""

import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from bson import ObjectId
from mongoengine.errors import NotUniqueError

from api.errors import Conflict
from api.models.agreement import AgreementTemplate
from api.services.care.agreement_content import CONTENT_FIELDS, build_content

_builtins: dict[str, AgreementTemplate] | None = None


def _document(data: dict, *, author: ObjectId | None, now: datetime | None = None):
    content = {name: data[name] for name in CONTENT_FIELDS if name in data}
    return AgreementTemplate(
        template_id=data["id"],
        name=data["name"],
        description=data.get("description"),
        review_after=data.get("review_after"),
        content=build_content(content),
        author=author,
        created_at=now,
        updated_at=now,
    )


def install_builtins(templates: Iterable[dict]) -> None:
    """The shipped templates' loaded data, once per process, when the app is built."""
    global _builtins
    _builtins = {data["id"]: _document(data, author=None) for data in templates}


def builtins() -> dict[str, AgreementTemplate]:
    """The shipped templates by id."""
    if _builtins is None:
        raise RuntimeError("Built-in templates are installed by create_app; build the app first.")
    return _builtins


def find(template_id: str) -> AgreementTemplate | None:
    return builtins().get(template_id) or AgreementTemplate.objects(template_id=template_id).first()


def listing(*, condition: str | None = None) -> list[AgreementTemplate]:
    """Built-in templates first, then providers' ones, each by id; `condition` filters."""
    stored = AgreementTemplate.objects.order_by("template_id")
    shipped = list(builtins().values())
    if condition is not None:
        condition = condition.strip().lower()
        stored = stored.filter(content__conditions=condition)
        shipped = [t for t in shipped if condition in t.content.conditions]
    return shipped + list(stored)


def _new_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "template"
    return f"{slug}-{secrets.token_hex(3)}"


def create(*, data: dict, author: ObjectId, now: datetime) -> AgreementTemplate:
    data = {**data, "id": data.get("id") or _new_id(data["name"])}
    if data["id"] in builtins():
        raise Conflict("A built-in template already has this id.", template_id=data["id"])
    template = _document(data, author=author, now=now)
    try:
        template.save(force_insert=True)
    except NotUniqueError:
        raise Conflict("A template with this id already exists.", template_id=data["id"]) from None
    return template
