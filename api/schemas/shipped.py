"""The data shipped with the code, read from its files and checked by the API's own schemas.

Built-in agreement templates (`api/templates/*.json`, with their default alert rules) and the
starter education library (`api/data/education/*.json`) pass the same schemas as a provider's
POST, so a broken file fails loudly at start, not at a patient's bedside. The services receive
the loaded, plain values.
"""

import functools
import json
from pathlib import Path

from marshmallow import ValidationError

from api.errors import flatten_errors
from api.schemas.agreement_templates import AgreementTemplateSchema
from api.schemas.alerts import AlertRuleCreateSchema
from api.schemas.education import StarterItemSchema

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
STARTER_DIR = Path(__file__).resolve().parents[1] / "data" / "education"


def _files(folder: Path) -> list[tuple[Path, object]]:
    return [
        (path, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(folder.glob("*.json"))
    ]


@functools.cache
def templates() -> tuple[dict, ...]:
    """The shipped templates' loaded data (ValidationError names the broken file's field)."""
    schema = AgreementTemplateSchema()
    loaded = []
    for _, raw in _files(TEMPLATE_DIR):
        raw = {k: v for k, v in raw.items() if k != "alert_rules"}
        loaded.append(schema.load(raw))
    return tuple(loaded)


@functools.cache
def template_alert_rules() -> dict[str, list[dict]]:
    """template id → its default alert rules, loaded, each with its `key`."""
    schema = AlertRuleCreateSchema()
    found = {}
    for path, data in _files(TEMPLATE_DIR):
        rules = []
        for index, raw in enumerate(data.get("alert_rules", [])):
            raw = dict(raw)
            key = raw.pop("key")
            try:
                rules.append({"key": key, **schema.load(raw)})
            except ValidationError as error:
                flat = flatten_errors(error.messages, f"alert_rules.{index}")
                raise ValueError(f"{path.name}: {flat}") from None
        if rules:
            found[data["id"]] = rules
    return found


def starter_items() -> list[dict]:
    """The starter library (https links, safe Markdown: the rules of a provider's POST)."""
    schema = StarterItemSchema(many=True)
    items = []
    for _, raw in _files(STARTER_DIR):
        items += schema.load(raw)
    return items
