"""The patient page and what a provider does from it; each action is the API's service call
behind the same access rule, and a refusal re-renders the page with the form as it was."""

from flask import Response, redirect, render_template, request, url_for

from api.access import Need, patient_scope
from api.clock import utcnow
from api.console import forms, patient_page
from api.console.blueprint import bp
from api.console.session import signed_in
from api.errors import Conflict, ValidationFailed
from api.models.medication import ROUTES
from api.models.user import User
from api.schemas.alerts import AcknowledgeSchema
from api.schemas.checkups import CompletionCreateSchema
from api.schemas.medications import MedicationCreateSchema
from api.schemas.messages import MessageCreateSchema
from api.services.care import medications
from api.services.clinic import messages, panel
from api.services.flows import alerts as alert_flow
from api.services.flows import checkups as checkup_flow
from api.services.records import report

COMPLETION_FIELDS = ("done_on", "result", "note", "confirm_duplicate", "reason")
MEDICATION_FIELDS = ("name", "atc_code", "dose", "route", "frequency", "start_on", "reason")
MEDICATION_FIELDS += ("confirm_duplicate",)
completion_schema = CompletionCreateSchema()
medication_schema = MedicationCreateSchema()
message_schema = MessageCreateSchema()
acknowledge_schema = AcknowledgeSchema()


def _scope(pid):
    return patient_scope(pid, Need.CARE)


def _page(scope, *, form: str | None = None, status: int = 200, **form_state):
    context = patient_page.build(scope, now=utcnow())
    return render_template(
        "console/patient.html",
        nav="triage",
        pid=str(scope.patient_id),
        routes=ROUTES,
        form=form,
        state=form_state,
        **context,
    ), status


def _back(pid, anchor: str, notice: str):
    return redirect(url_for("console.patient", pid=pid, notice=notice) + f"#{anchor}", code=303)


@bp.route("/patients/<pid>", methods=["GET"])
@signed_in("provider")
def patient(pid):
    return _page(_scope(pid))


@bp.route("/patients/<pid>/report", methods=["GET"])
@signed_in("provider")
def patient_report(pid):
    scope = patient_scope(pid, Need.VIEW)
    response = Response(report.render(scope.patient, now=utcnow()), mimetype="text/html")
    response.headers["Content-Security-Policy"] = report.content_security_policy()
    return response


@bp.route("/patients/<pid>/alerts/<alid>/acknowledge", methods=["POST"])
@signed_in("provider")
def acknowledge_alert(pid, alid):
    scope = _scope(pid)
    data, errors = forms.load(acknowledge_schema, ("note",))
    if errors:
        return _page(
            scope, form=f"ack:{alid}", status=422, errors=errors, kept=forms.values(("note",))
        )
    alert_flow.acknowledge(
        patient_id=scope.patient_id,
        alert_id=alid,
        by=scope.caller.id,
        note=data.get("note"),
        now=utcnow(),
    )
    if request.form.get("back") == "alerts":
        return redirect(url_for("console.alerts_page", notice="Alert acknowledged."), code=303)
    return _back(pid, "alerts", "Alert acknowledged.")


@bp.route("/patients/<pid>/checkups/<cid>/completions", methods=["POST"])
@signed_in("provider")
def complete_checkup(pid, cid):
    scope = _scope(pid)
    kept = forms.values(COMPLETION_FIELDS)
    data, errors = forms.load(
        completion_schema, COMPLETION_FIELDS, checkboxes=("confirm_duplicate",)
    )
    if (
        data is not None
        and data.get("confirm_duplicate")
        and not (data.get("reason") or "").strip()
    ):
        data, errors = None, {"reason": "Give the reason for repeating the test."}
    if errors:
        return _page(scope, form=f"checkup:{cid}", status=422, errors=errors, kept=kept)
    try:
        checkup_flow.record_completion(
            patient_id=scope.patient_id,
            checkup_id=cid,
            data=data,
            recorded_by=scope.caller.id,
            recorded_by_role=scope.caller.role,
            self_reported=False,
            now=utcnow(),
        )
    except ValidationFailed as error:
        return _page(
            scope,
            form=f"checkup:{cid}",
            status=422,
            errors=forms.service_errors(error),
            kept=kept,
        )
    except Conflict as error:
        return _page(
            scope,
            form=f"checkup:{cid}",
            status=409,
            duplicate=error.extra.get("earlier"),
            kept=kept,
        )
    return _back(pid, "checkups", "Check-up recorded.")


@bp.route("/patients/<pid>/medications", methods=["POST"])
@signed_in("provider")
def add_medication(pid):
    scope = _scope(pid)
    kept = forms.values(MEDICATION_FIELDS)
    data, errors = forms.load(
        medication_schema, MEDICATION_FIELDS, checkboxes=("confirm_duplicate",)
    )
    if errors:
        return _page(scope, form="medication", status=422, errors=errors, kept=kept)
    try:
        medications.add(scope, data, now=utcnow())
    except ValidationFailed as error:
        return _page(
            scope, form="medication", status=422, errors=forms.service_errors(error), kept=kept
        )
    except Conflict as error:
        return _page(
            scope,
            form="medication",
            status=409,
            duplicates=error.extra.get("duplicates"),
            kept=kept,
        )
    return _back(pid, "medications", "Medication added.")


@bp.route("/patients/<pid>/messages", methods=["POST"])
@signed_in("provider")
def send_message(pid):
    scope = _scope(pid)
    data, errors = forms.load(message_schema, ("body",))
    if errors:
        return _page(scope, form="message", status=422, errors=errors, kept=forms.values(("body",)))
    messages.post(scope, body=data["body"], now=utcnow())
    return _back(pid, "thread", "Message sent.")


@bp.route("/patients/<pid>/reviewed", methods=["POST"])
@signed_in("provider")
def mark_reviewed(pid):
    scope = _scope(pid)
    provider = User.objects(pk=scope.caller.id).only("name").first()
    panel.mark_reviewed(scope.patient_id, provider=provider, now=utcnow())
    return _back(pid, "review", "Marked reviewed.")
