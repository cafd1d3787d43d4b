"""Clinic pages for its providers: the population view and outreach campaigns (cohort with a
dry-run count, message, send, outcomes), through the same services as the JSON API."""

from flask import redirect, render_template, request, url_for

from api.auth import caller
from api.clock import utcnow
from api.console import forms
from api.console.blueprint import bp
from api.console.session import signed_in
from api.errors import ValidationFailed
from api.models.clinic import Clinic
from api.schemas.campaigns import CampaignCohortSchema, CampaignCreateSchema
from api.services.clinic import campaigns, clinics, population_view

COHORT_FIELDS = ("condition", "care_gap", "adherence_below", "age_min", "age_max")
CAMPAIGN_FIELDS = ("name", *COHORT_FIELDS, "title", "body")
campaign_schema = CampaignCreateSchema()
cohort_schema = CampaignCohortSchema()


@bp.route("/clinics", methods=["GET"])
@signed_in("provider")
def clinics_list():
    mine = list(Clinic.objects(providers=caller().id).only("name").order_by("name"))
    if len(mine) == 1:
        return redirect(url_for("console.clinic", cid=mine[0].pk))
    return render_template("console/clinics.html", nav="clinic", clinics=mine)


def _clinic_page(clinic, *, status=200, kept=None, errors=None, dry_run=None):
    condition = (request.args.get("condition") or "").strip() or None
    public = request.args.get("format") == "public"
    try:
        view = population_view.view(clinic, condition=condition, now=utcnow())
    except ValidationFailed:
        condition, view = None, population_view.view(clinic, condition=None, now=utcnow())
    if public:
        view = population_view.public(view)
    return render_template(
        "console/clinic.html",
        nav="clinic",
        clinic=clinic,
        view=view,
        condition=condition,
        public=public,
        campaigns=list(campaigns.of_clinic(clinic).limit(20)),
        kept=kept or {},
        errors=errors or {},
        dry_run=dry_run,
    ), status


@bp.route("/clinics/<cid>", methods=["GET"])
@signed_in("provider")
def clinic(cid):
    return _clinic_page(clinics.clinic_for(cid, caller()))


def _campaign_wire(kept: dict) -> dict:
    cohort = {k: kept[k].strip() for k in COHORT_FIELDS if kept[k].strip()}
    message = {k: kept[k] for k in ("title", "body") if kept[k].strip()}
    wire = {"cohort": cohort, "message": message}
    if kept["name"].strip():
        wire["name"] = kept["name"]
    return wire


def _named(errors: dict) -> dict:
    """ "cohort.age_min" → "age_min", "message.title" → "title": the form's field names."""
    return {name.split(".")[-1] if "." in name else name: m for name, m in errors.items()}


@bp.route("/clinics/<cid>/campaigns", methods=["POST"])
@signed_in("provider")
def campaign_create(cid):
    who = caller()
    clinic_doc = clinics.clinic_for(cid, who)
    kept = forms.values(CAMPAIGN_FIELDS)
    dry_run = request.form.get("action") == "dry_run"
    wire = _campaign_wire(kept)
    try:
        # A count needs the cohort only: the message may be written after it.
        data = {"cohort": cohort_schema.load(wire["cohort"])} if dry_run else None
        data = data or campaign_schema.load(wire)
        result = campaigns.create(
            clinic=clinic_doc, data=data, created_by=who.id, now=utcnow(), dry_run=dry_run
        )
    except forms.ValidationError as error:
        errors = _named(forms.first_messages(forms.flatten_errors(error.messages)))
        return _clinic_page(clinic_doc, status=422, kept=kept, errors=errors)
    except ValidationFailed as error:
        return _clinic_page(
            clinic_doc, status=422, kept=kept, errors=_named(forms.service_errors(error))
        )
    if dry_run:
        return _clinic_page(clinic_doc, kept=kept, dry_run=result["cohort_size"])
    return redirect(url_for("console.campaign", cid=cid, cmp=result.pk), code=303)


@bp.route("/clinics/<cid>/campaigns/<cmp>", methods=["GET"])
@signed_in("provider")
def campaign(cid, cmp):
    clinic_doc = clinics.clinic_for(cid, caller())
    found = campaigns.get(clinic_doc, cmp)
    return render_template(
        "console/campaign.html",
        nav="clinic",
        clinic=clinic_doc,
        campaign=found,
        outcomes=campaigns.outcomes(found),
        now=utcnow(),
    )
