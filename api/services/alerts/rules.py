"""Alert rules: a care team's rules for one patient, and the templates' defaults.

Every rule, from a provider or a template file, passes `check`: units convert through the
measures registry, so a rule in mmol/L meets readings in mg/dL. A built-in template's
`alert_rules` become the patient's rules when an agreement made from it becomes active, once
(the unique (patient, origin) index makes a second activation create nothing).
"""

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from api.errors import ValidationFailed
from api.models.alert import AlertRule
from api.services.alerts import cgm
from api.services.alerts import engine as alerts
from api.services.common import lookup
from api.services.common.intervals import check_interval
from api.services.tracking import measures
from api.services.tracking import summary as patient_summary

KIND_FIELDS = {
    "threshold": {"op", "value"},
    "zone": {"personal_best", "yellow_below", "red_below"},
    "no_data": set(),
}
ZONE_DEFAULTS = {"yellow_below": 80.0, "red_below": 50.0}
OPTIONAL = ("op", "value", "within", "advice", "personal_best", "yellow_below", "red_below")


def check(data: dict, *, template: bool = False) -> dict:
    """A complete, consistent rule, or ValidationFailed naming every bad field.

    A template's zone rule may lack the personal best: it is stored disabled until set."""
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    rule = {name: data.get(name) for name in OPTIONAL}
    rule.update(
        measure=data["measure"],
        kind=data["kind"],
        count=data.get("count", 1),
        severity=data.get("severity", "warning"),
        notify=list(dict.fromkeys(data.get("notify") or ["primary"])),
        enabled=True,
    )
    kind = rule["kind"]
    measure = measures.get(rule["measure"])
    rule["unit"] = data.get("unit") or measure.canonical_unit
    if not measure.accepts(rule["unit"]):
        bad("unit", f"Unknown unit for {measure.name}; use one of: {', '.join(measure.units)}.")
    for name in sorted(set(KIND_FIELDS) - {kind}):
        for field in sorted(KIND_FIELDS[name] - KIND_FIELDS[kind]):
            if rule.get(field) is not None:
                bad(field, f"Not used by {kind} rules.")
    if kind == "threshold":
        for field in ("op", "value"):
            if rule[field] is None:
                bad(field, "Required for threshold rules.")
    if kind == "zone":
        for field, default in ZONE_DEFAULTS.items():
            if rule[field] is None:
                rule[field] = default
        if rule["red_below"] >= rule["yellow_below"]:
            bad("red_below", "Must be below yellow_below.")
        if rule["personal_best"] is None:
            if not template:
                bad("personal_best", "Zone rules need the patient's personal best.")
            rule["enabled"] = False
    if kind != "threshold" and rule["count"] != 1:
        bad("count", f"{kind} rules take no count.")
    sensor = measure.name == cgm.MEASURE
    if sensor and rule["count"] != 1:
        bad("count", "Sensor glucose rules take a duration (`within`, such as PT15M), not a count.")
    needs_window = kind == "no_data" or rule["count"] > 1
    if rule["within"] is None:
        if needs_window:
            example = "PT30M" if sensor else "P3D"
            bad("within", f"Required: the period, as an ISO 8601 duration such as {example}.")
    else:
        try:
            # CGM rules count minutes (a low lasting 15 minutes); the others calendar days.
            cgm.duration(rule["within"]) if sensor else check_interval(rule["within"])
        except ValueError as error:
            bad("within", str(error))
    if not errors and measure.accepts(rule["unit"]):
        _check_range(rule, measure, bad)
    if errors:
        raise ValidationFailed(errors)
    return rule


def _check_range(rule: dict, measure, bad) -> None:
    """Values a reading could take: a threshold beyond them would never fire."""
    low, high = measure.entry_range
    shown = " to ".join(
        f"{measures.from_canonical(measure, v, rule['unit']):g}" for v in (low, high)
    )
    for field in ("value", "personal_best"):
        if rule.get(field) is None:
            continue
        value = measures.to_canonical(measure, rule[field], rule["unit"])
        if not low <= value <= high or (field == "personal_best" and value <= 0):
            bad(field, f"Must be within {shown} {rule['unit']} for {measure.name}.")


# --- the care team's rules ------------------------------------------------------------------


def listing(patient_id):
    return AlertRule.objects(patient=patient_id).order_by("created_at", "id")


def get(patient_id, rule_id: str) -> AlertRule:
    return lookup.patients(AlertRule, patient_id, rule_id)


def create(*, patient_id, data: dict, by, now: datetime) -> AlertRule:
    rule = AlertRule(
        patient=patient_id, created_by=by, created_at=now, updated_at=now, **check(data)
    )
    if rule.kind == "no_data":
        rule.check_at = alerts.CHECK_NOW
    rule.save(force_insert=True)
    patient_summary.mirror_rules(patient_id)
    return rule


def change(*, patient_id, rule_id: str, data: dict, now: datetime):
    """Change a rule; its open alert is re-judged at once (resolved if no longer breached).
    Returns (the rule, the summary after if the open alerts moved, else None)."""
    rule = get(patient_id, rule_id)
    stored = rule.to_mongo().to_dict()
    merged = {name: stored.get(name) for name in (*OPTIONAL, "measure", "kind", "unit")}
    merged.update(count=rule.count, severity=rule.severity, notify=rule.notify, **data)
    checked = check(merged, template=rule.origin is not None and rule.kind == "zone")
    updated = AlertRule._get_collection().find_one_and_update(
        {"_id": rule.pk},
        {"$set": {**checked, "updated_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    summary = _rejudge(updated, now)
    patient_summary.mirror_rules(patient_id)
    return get(patient_id, rule_id), summary


def _rejudge(rule: dict, now: datetime) -> dict | None:
    if rule["kind"] == "no_data":
        if rule.get("open_alert"):
            return alerts.resolve(rule, now=now, resolution="rule_changed")
        AlertRule._get_collection().update_one(
            {"_id": rule["_id"]}, {"$set": {"check_at": alerts.CHECK_NOW}}
        )
        return None
    if not rule["enabled"]:
        return None
    latest = alerts.latest_reading(rule["patient"], rule["measure"])
    tz = latest.get("tz") if latest else None
    resolved = None
    if rule.get("open_alert"):
        resolved = alerts.resolve(rule, now=now, resolution="rule_changed")
        rule = {**rule, "open_alert": None, "open_level": None}
    settled = alerts.settle(rule["patient"], rule["measure"], [rule], tz=tz, now=now)
    return settled or resolved


def delete(*, patient_id, rule_id: str, now: datetime) -> dict | None:
    """Remove a rule; its open alert is resolved (the history of alerts stays). The summary
    after if the open alerts moved."""
    rule = get(patient_id, rule_id)
    raw = rule.to_mongo().to_dict()
    summary = None
    if rule.open_alert is not None:
        summary = alerts.resolve(raw, now=now, resolution="rule_removed")
    AlertRule.objects(pk=rule.pk).delete()
    patient_summary.mirror_rules(patient_id)
    return summary


# --- the templates' defaults ----------------------------------------------------------------


_template_defaults: dict[str, list[dict]] | None = None


def install_template_defaults(rules_by_template: dict[str, list[dict]]) -> None:
    """template id → its default rules, loaded (each with a `key`), once per process when the
    app is built; each passes `check` here, so a broken file fails at start."""
    global _template_defaults
    _template_defaults = {
        template_id: [{"key": rule["key"], **check(rule, template=True)} for rule in rules]
        for template_id, rules in rules_by_template.items()
    }


def template_defaults() -> dict[str, list[dict]]:
    """template id → its default rules (each with a `key`)."""
    if _template_defaults is None:
        raise RuntimeError("Template alert rules are installed by create_app; build the app first.")
    return _template_defaults


def create_defaults(patient_id, template_id: str, *, now: datetime) -> int:
    """The template's default rules for the patient; those created before are kept as they
    are (a provider may have tuned them). Returns how many were created."""
    created = 0
    for default in template_defaults().get(template_id, []):
        rule = {
            **{name: value for name, value in default.items() if name != "key"},
            "patient": patient_id,
            "origin": f"template:{template_id}:{default['key']}",
            "created_at": now,
            "updated_at": now,
        }
        if rule["kind"] == "no_data":
            rule["check_at"] = alerts.CHECK_NOW
        try:
            AlertRule._get_collection().insert_one(rule)
        except DuplicateKeyError:
            continue
        created += 1
    if created:
        patient_summary.mirror_rules(patient_id)
    return created
