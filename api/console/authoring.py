"""Authoring agreements: start one from a template or blank, edit its goals and check-ups,
propose it, see where it stands, revise an active one (the patient accepts in the app).

Each form is loaded by the API's own schemas and saved by the same service calls as
`PATCH .../agreements/{aid}` (with the version the page was rendered from, so an edit made
meanwhile is refused rather than lost) and `POST .../{action}`.
"""

from flask import current_app, redirect, render_template, request, url_for
from marshmallow import ValidationError

from api.access import Need, patient_scope
from api.clock import utcnow
from api.console import forms
from api.console.blueprint import bp
from api.console.session import signed_in
from api.errors import ApiError, ValidationFailed, flatten_errors
from api.models.agreement import GOAL_KINDS, PERIODS, TARGET_OPS
from api.schemas.agreements import CheckupSchema, GoalSchema
from api.services.care import agreement_templates, agreements
from api.services.care.agreement_content import content_data
from api.services.flows import agreements as agreement_flow
from api.services.tracking.measures import MEASURES

GOAL_FIELDS = ("kind", "title", "measure", "unit", "op", "value", "low", "high", "period")
GOAL_FIELDS += ("reminder_times",)
CHECKUP_FIELDS = ("name", "code", "interval", "remind_days_before")
PLAN_FIELDS = ("title", "conditions")
# Which page action a provider may take in each state.
PROVIDER_ACTIONS = ("propose", "complete", "revoke")
goal_schema = GoalSchema()
checkup_schema = CheckupSchema()


def _scope(pid):
    return patient_scope(pid, Need.CARE)


def _listed(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _editor(scope, agreement, *, status=200, form=None, errors=None, kept=None, message=None):
    base = agreement.revision or agreement.content
    return render_template(
        "console/agreement.html",
        nav="triage",
        pid=str(scope.patient_id),
        patient=scope.patient,
        agreement=agreement,
        state=agreements.state_of(agreement),
        plan=content_data(base),
        actions=[a for a in agreements.allowed_actions(agreement) if a in PROVIDER_ACTIONS],
        kinds=GOAL_KINDS,
        ops=TARGET_OPS,
        periods=PERIODS,
        measures=sorted(MEASURES),
        form=form,
        errors=errors or {},
        kept=kept or {},
        message=message,
    ), status


@bp.route("/patients/<pid>/agreements/new", methods=["GET", "POST"])
@signed_in("provider")
def agreement_new(pid):
    scope = _scope(pid)
    templates = agreement_templates.listing()
    errors, chosen, title = {}, request.form.get("template", ""), request.form.get("title", "")
    if request.method == "POST":
        data = {"title": title.strip()} if title.strip() else {}
        if chosen:
            data["template_id"] = chosen
        elif not data:
            errors["title"] = "Give a blank plan a title, or choose a template."
        if not errors:
            try:
                agreement = agreements.create_draft(scope=scope, data=data, now=utcnow())
            except ValidationFailed as error:
                errors = forms.service_errors(error)
            else:
                return redirect(url_for("console.agreement", pid=pid, aid=agreement.pk), code=303)
    return render_template(
        "console/agreement_new.html",
        nav="triage",
        pid=pid,
        patient=scope.patient,
        templates=templates,
        chosen=chosen,
        title=title,
        errors=errors,
    ), (422 if errors else 200)


@bp.route("/patients/<pid>/agreements/<aid>", methods=["GET"])
@signed_in("provider")
def agreement(pid, aid):
    scope = _scope(pid)
    return _editor(scope, agreements.get(scope.patient_id, aid))


def _version() -> int | None:
    try:
        return int(request.form.get("version", ""))
    except ValueError:
        return None


def _save(scope, agreement, changes, *, form, kept):
    try:
        agreements.update(
            scope=scope,
            agreement_id=str(agreement.pk),
            changes=changes,
            expected_version=_version(),
            now=utcnow(),
        )
    except ValidationFailed as error:
        return _editor(
            scope, agreement, status=422, form=form, errors=_field_names(error.errors), kept=kept
        )
    except ApiError as error:
        return _editor(scope, agreement, status=int(error.status), message=error.detail)
    return redirect(url_for("console.agreement", pid=str(scope.patient_id), aid=agreement.pk))


def _field_names(errors: dict) -> dict:
    """ "goals.2.target.value" → "value": the form shows one goal or check-up at a time."""
    flat = forms.first_messages(errors or {})
    return {name.rsplit(".", 1)[-1]: message for name, message in flat.items()}


@bp.route("/patients/<pid>/agreements/<aid>/plan", methods=["POST"])
@signed_in("provider")
def agreement_plan(pid, aid):
    scope = _scope(pid)
    agreement = agreements.get(scope.patient_id, aid)
    kept = forms.values(PLAN_FIELDS)
    if not kept["title"].strip():
        return _editor(
            scope, agreement, status=422, form="plan", errors={"title": "Required."}, kept=kept
        )
    changes = {"title": kept["title"].strip(), "conditions": _listed(kept["conditions"])}
    return _save(scope, agreement, changes, form="plan", kept=kept)


def _goal_wire(kept: dict) -> dict:
    target = {"op": kept["op"]}
    target.update({k: kept[k] for k in ("value", "low", "high") if kept[k].strip()})
    wire = {k: kept[k] for k in ("kind", "title", "measure", "unit", "period") if kept[k].strip()}
    return {**wire, "target": target, "reminder_times": _listed(kept["reminder_times"])}


def _items(agreement, key: str) -> list[dict]:
    return content_data(agreement.revision or agreement.content)[key]


def _replace(items: list[dict], item_id: str, new: dict | None) -> list[dict]:
    if not item_id:
        return [*items, new]
    return [
        ({**new, "id": item_id} if i["id"] == item_id else i)
        for i in items
        if new or i["id"] != item_id
    ]


@bp.route("/patients/<pid>/agreements/<aid>/goals", methods=["POST"])
@signed_in("provider")
def agreement_goal(pid, aid):
    scope = _scope(pid)
    agreement = agreements.get(scope.patient_id, aid)
    goal_id = request.form.get("goal_id", "")
    form = f"goal:{goal_id or 'new'}"
    if request.form.get("remove") and goal_id:
        goals = _replace(_items(agreement, "goals"), goal_id, None)
        return _save(scope, agreement, {"goals": goals}, form=form, kept={})
    kept = forms.values(GOAL_FIELDS)
    try:
        goal = goal_schema.load(_goal_wire(kept))
    except ValidationError as error:
        errors = _field_names(flatten_errors(error.messages))
        return _editor(scope, agreement, status=422, form=form, errors=errors, kept=kept)
    goals = _replace(_items(agreement, "goals"), goal_id, goal)
    return _save(scope, agreement, {"goals": goals}, form=form, kept=kept)


@bp.route("/patients/<pid>/agreements/<aid>/checkups", methods=["POST"])
@signed_in("provider")
def agreement_checkup(pid, aid):
    scope = _scope(pid)
    agreement = agreements.get(scope.patient_id, aid)
    checkup_id = request.form.get("checkup_id", "")
    form = f"checkup:{checkup_id or 'new'}"
    if request.form.get("remove") and checkup_id:
        checkups = _replace(_items(agreement, "checkups"), checkup_id, None)
        return _save(scope, agreement, {"checkups": checkups}, form=form, kept={})
    kept = forms.values(CHECKUP_FIELDS)
    wire = {k: kept[k] for k in ("name", "code", "interval") if kept[k].strip()}
    days = _listed(kept["remind_days_before"])
    if not all(d.isdigit() for d in days):
        errors = {"remind_days_before": "Whole numbers of days, separated by commas."}
        return _editor(scope, agreement, status=422, form=form, errors=errors, kept=kept)
    wire["remind_days_before"] = [int(d) for d in days]
    try:
        checkup = checkup_schema.load(wire)
    except ValidationError as error:
        errors = _field_names(flatten_errors(error.messages))
        return _editor(scope, agreement, status=422, form=form, errors=errors, kept=kept)
    checkups = _replace(_items(agreement, "checkups"), checkup_id, checkup)
    return _save(scope, agreement, {"checkups": checkups}, form=form, kept=kept)


@bp.route("/patients/<pid>/agreements/<aid>/<action>", methods=["POST"])
@signed_in("provider")
def agreement_action(pid, aid, action):
    if action not in PROVIDER_ACTIONS:
        return redirect(url_for("console.agreement", pid=pid, aid=aid), code=303)
    scope = patient_scope(pid, agreements.need_for(action))
    agreement = agreements.get(scope.patient_id, aid)
    try:
        agreement_flow.transition(
            scope=scope,
            agreement_id=aid,
            action=action,
            expected_version=_version(),
            minor_age=current_app.config["MINOR_AGE"],
            now=utcnow(),
        )
    except ValidationFailed as error:
        message = " ".join(m for ms in (error.errors or {}).values() for m in ms) or error.detail
        return _editor(scope, agreement, status=422, message=message)
    except ApiError as error:
        return _editor(scope, agreement, status=int(error.status), message=error.detail)
    return redirect(url_for("console.agreement", pid=pid, aid=aid), code=303)
