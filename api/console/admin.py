"""Administration: clinics, their providers, and provider accounts (admins only), through
the same services and schemas as `POST /admin/clinics`, `/admin/clinics/{cid}/providers`
and `/admin/providers`."""

from flask import redirect, render_template, request, url_for

from api.auth import caller
from api.clock import utcnow
from api.console import forms
from api.console.blueprint import bp
from api.console.session import signed_in
from api.errors import ApiError, ValidationFailed
from api.models.clinic import Clinic
from api.models.user import User
from api.schemas.accounts import ProviderCreateSchema
from api.schemas.clinics import ClinicCreateSchema
from api.services.clinic import clinics
from api.services.flows import clinics as clinic_flow
from api.services.identity import recovery

provider_schema = ProviderCreateSchema()
clinic_schema = ClinicCreateSchema()
PROVIDER_FIELDS = tuple(provider_schema.fields)
PROVIDERS_SHOWN = 200


def _page(status=200, form=None, errors=None, kept=None, message=None):
    return render_template(
        "console/admin.html",
        nav="admin",
        clinics=[clinics.describe(c) for c in Clinic.objects.order_by("name")],
        providers=list(
            User.objects(role="provider")
            .only("name", "email", "specialty")
            .order_by("name")
            .limit(PROVIDERS_SHOWN)
        ),
        provider_fields=PROVIDER_FIELDS,
        form=form,
        errors=errors or {},
        kept=kept or {},
        message=message,
    ), status


@bp.route("/admin", methods=["GET"])
@signed_in("admin")
def admin():
    return _page()


def _done(notice: str):
    return redirect(url_for("console.admin", notice=notice), code=303)


@bp.route("/admin/clinics", methods=["POST"])
@signed_in("admin")
def admin_clinic_create():
    kept = forms.values(("name",))
    data, errors = forms.load(clinic_schema, ("name",))
    if errors:
        return _page(422, form="clinic", errors=errors, kept=kept)
    try:
        clinics.create_clinic(name=data["name"], created_by=caller().id, now=utcnow())
    except ApiError as error:
        return _page(int(error.status), form="clinic", errors={"name": error.detail}, kept=kept)
    return _done("Clinic created.")


@bp.route("/admin/clinics/<cid>/providers", methods=["POST"])
@signed_in("admin")
def admin_clinic_provider(cid):
    provider_id = request.form.get("provider_id", "")
    try:
        clinic_flow.add_provider(clinic_id=cid, provider_id=provider_id, now=utcnow())
    except ValidationFailed as error:
        return _page(422, message=" ".join(forms.service_errors(error).values()))
    return _done("Provider placed in the clinic.")


@bp.route("/admin/providers", methods=["POST"])
@signed_in("admin")
def admin_provider_create():
    kept = forms.values(PROVIDER_FIELDS)
    data, errors = forms.load(provider_schema, PROVIDER_FIELDS)
    if errors:
        return _page(422, form="provider", errors=errors, kept=kept)
    try:
        recovery.create_provider(**data, now=utcnow())
    except ValidationFailed as error:
        return _page(422, form="provider", errors=forms.service_errors(error), kept=kept)
    except ApiError as error:
        return _page(int(error.status), form="provider", errors={"email": error.detail}, kept=kept)
    return _done("Provider account created; a set-up code was mailed to them.")
