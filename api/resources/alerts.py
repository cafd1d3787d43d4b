"""Alert rules per patient, their alerts, acknowledgement, and a provider's worklist."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.alerts import (
    RULE_EXAMPLE,
    AcknowledgeSchema,
    AlertQuerySchema,
    AlertRuleCreateSchema,
    AlertRulePatchSchema,
    AlertRuleSchema,
    AlertSchema,
)
from api.services.alerts import reading as alert_reading

# `alerts` registers the log listener and `alert_rules` the agreement listener on import.
from api.services.alerts import rules as alert_rules
from api.services.flows import alerts as alert_flow

blp = Blueprint(
    "alerts", __name__, url_prefix="/api/v1", description="Alert rules and alerts (early signs)."
)


@blp.route("/patients/<pid>/alert-rules")
class AlertRules(MethodView):
    @authenticated()
    @blp.response(200, AlertRuleSchema(many=True))
    @blp.paginate()
    def get(self, pid):
        """The patient's alert rules, oldest first."""
        scope = patient_scope(pid, Need.VIEW)
        return alert_rules.listing(scope.patient_id)

    @authenticated()
    @blp.arguments(AlertRuleCreateSchema, example=RULE_EXAMPLE)
    @blp.response(201, AlertRuleSchema)
    @blp.alt_response(403, description="Only a provider on the care team sets alert rules.")
    def post(self, data, pid):
        """A rule: `threshold` (op, value, count within), `zone` (personal best) or `no_data`."""
        scope = patient_scope(pid, Need.CARE)
        return alert_rules.create(
            patient_id=scope.patient_id, data=data, by=scope.caller.id, now=utcnow()
        )


@blp.route("/patients/<pid>/alert-rules/<rid>")
class AlertRuleById(MethodView):
    @authenticated()
    @blp.arguments(AlertRulePatchSchema)
    @blp.response(200, AlertRuleSchema)
    @blp.alt_response(403, description="Only a provider on the care team changes alert rules.")
    def patch(self, data, pid, rid):
        """Change a rule (not its measure or kind); its open alert is judged again at once."""
        scope = patient_scope(pid, Need.CARE)
        return alert_flow.change_rule(
            patient_id=scope.patient_id, rule_id=rid, data=data, now=utcnow()
        )

    @authenticated()
    @blp.response(204)
    @blp.alt_response(403, description="Only a provider on the care team removes alert rules.")
    def delete(self, pid, rid):
        """Remove a rule; its open alert is resolved, past alerts stay."""
        scope = patient_scope(pid, Need.CARE)
        alert_flow.delete_rule(patient_id=scope.patient_id, rule_id=rid, now=utcnow())


@blp.route("/patients/<pid>/alerts", methods=["GET"])
@authenticated()
@blp.arguments(AlertQuerySchema, location="query")
@blp.response(200, AlertSchema(many=True))
@blp.paginate(pager=None)
def patient_alerts(query, pid, pagination_parameters):
    """The patient's alerts, newest first; `?status=open|acknowledged|resolved`."""
    scope = patient_scope(pid, Need.VIEW)
    found = alert_reading.of_patient(scope.patient_id, status=query.get("status"))
    pagination_parameters.item_count = found.count()
    page = list(found.skip(pagination_parameters.first_item).limit(pagination_parameters.page_size))
    names = {scope.patient_id: scope.patient.name}
    return [alert_reading.present(alert, names) for alert in page]


@blp.route("/patients/<pid>/alerts/<alid>/acknowledge", methods=["POST"])
@authenticated()
@blp.arguments(AcknowledgeSchema)
@blp.response(200, AlertSchema)
@blp.alt_response(403, description="Only a provider on the care team acknowledges alerts.")
@blp.alt_response(409, description="The alert is not open (acknowledged or resolved).")
def acknowledge(data, pid, alid):
    """Record who saw it, when, and a note; it stays until the measure is back in range."""
    scope = patient_scope(pid, Need.CARE)
    alert = alert_flow.acknowledge(
        patient_id=scope.patient_id,
        alert_id=alid,
        by=scope.caller.id,
        note=data.get("note"),
        now=utcnow(),
    )
    return alert_reading.present(alert, {scope.patient_id: scope.patient.name})


@blp.route("/alerts", methods=["GET"])
@authenticated("provider")
@blp.response(200, AlertSchema(many=True))
@blp.paginate(pager=None)
def worklist(pagination_parameters):
    """Open alerts across your active patients: urgent first, then the newest."""
    found = alert_reading.worklist(caller().id)
    pagination_parameters.item_count = found.count()
    page = list(found.skip(pagination_parameters.first_item).limit(pagination_parameters.page_size))
    names = alert_reading.patient_names(page)
    return [alert_reading.present(alert, names) for alert in page]
