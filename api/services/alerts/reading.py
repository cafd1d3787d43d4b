"""Reading alerts: a patient's alerts, a provider's worklist, and an alert as clients see it."""

from bson import ObjectId
from bson.errors import InvalidId

from api.errors import NotFound
from api.models.alert import Alert
from api.models.care_team import CareTeamMember
from api.models.user import User
from api.services.tracking import measures


def object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound() from None


def of_patient(patient_id, *, status: str | None = None):
    query = Alert.objects(patient=patient_id)
    if status is not None:
        query = query.filter(status=status)
    return query.order_by("-opened_at", "-id")


def worklist(provider_id):
    """Open alerts across the provider's active patients: urgent first, then newest."""
    patients = CareTeamMember.objects(provider=provider_id, status="active").distinct("patient")
    return Alert.objects(patient__in=patients, status="open").order_by("-rank", "-opened_at", "-id")


def present(alert: Alert, names: dict | None = None) -> dict:
    """An alert as clients see it: readings in the rule's unit."""
    measure = measures.get(alert.measure)
    unit = alert.unit or measure.canonical_unit
    return {
        "id": str(alert.pk),
        "rule_id": str(alert.rule),
        "patient": {"id": str(alert.patient), "name": (names or {}).get(alert.patient)},
        "measure": alert.measure,
        "kind": alert.kind,
        "severity": alert.severity,
        "level": alert.level,
        "status": alert.status,
        "opened_at": alert.opened_at,
        "readings": [
            {
                "id": r.uid,
                "value": round(measures.from_canonical(measure, r.value, unit), 2),
                "unit": unit,
                "occurred_at": r.occurred_at,
            }
            for r in alert.readings
        ],
        "advice": alert.advice,
        "acknowledged_by": alert.acknowledged_by and str(alert.acknowledged_by),
        "acknowledged_at": alert.acknowledged_at,
        "note": alert.note,
        "resolved_at": alert.resolved_at,
        "resolution": alert.resolution,
    }


def patient_names(alerts_page) -> dict:
    ids = list({a.patient for a in alerts_page})
    return {u.pk: u.name for u in User.objects(pk__in=ids).only("name")}
