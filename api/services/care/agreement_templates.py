"""Agreement templates: built-in ones shipped as data files, and ones providers write.

Built-in templates are read from `api/templates/*.json` once per process and checked with the
same schema as a provider's POST, so a broken file fails loudly, not at a patient's bedside.
They are never stored: a deploy that improves a template improves it everywhere at once.
Providers' templates live in the `agreement_templates` collection; their ids never clash
with a built-in id.
"""

import functools
import json
import re
import secrets
from datetime import datetime
from pathlib import Path

from bson import ObjectId
from mongoengine.errors import NotUniqueError

from api.errors import Conflict
from api.models.agreement import AgreementTemplate
from api.schemas.agreement_templates import AgreementTemplateSchema
from api.services.care.agreement_content import CONTENT_FIELDS, build_content

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"


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


@functools.cache
def builtins() -> dict[str, AgreementTemplate]:
    """The shipped templates by id (ValidationError names the broken file's field)."""
    schema = AgreementTemplateSchema()
    loaded = {}
    for path in sorted(TEMPLATE_DIR.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        raw.pop("alert_rules", None)  # default alert rules: read by services.alert_rules
        data = schema.load(raw)
        loaded[data["id"]] = _document(data, author=None)
    return loaded


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
