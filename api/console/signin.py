"""Sign-in and sign-out pages: the identity services' login and logout, in cookies."""

from flask import current_app, redirect, render_template, request, url_for
from flask_jwt_extended import decode_token, get_jwt

from api.console.blueprint import bp
from api.console.session import end_session, safe_next, signed_in, start_session
from api.errors import ApiError
from api.extensions import limiter
from api.services.identity import sessions
from api.services.identity.accounts import normalise_email


def _account_address_key() -> str:
    """The API's budgets (resources/auth.py), for the form: one account from one address,
    and one address; the identity service adds its growing per-account delay."""
    account = normalise_email(request.form.get("email") or "-")
    return f"console-login-account:{account}:{request.remote_addr or '-'}"


def _address_key() -> str:
    return "console-login-address:" + (request.remote_addr or "-")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _address_limit() -> str:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def _failed(response) -> bool:
    return response.status_code == 401


def _form(status: int = 200, **context):
    context.setdefault("email", "")
    context.setdefault("next", safe_next(request.values.get("next")))
    return render_template("console/login.html", **context), status


@bp.route("/login", methods=["GET"])
def login():
    return _form()


@bp.route("/login", methods=["POST"])
@limiter.limit(_login_limit, key_func=_account_address_key, deduct_when=_failed)
@limiter.limit(_address_limit, key_func=_address_key, deduct_when=_failed)
def login_submit():
    email = (request.form.get("email") or "").strip()
    password = request.form.get("password") or ""
    errors = {}
    if not email:
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."  # noqa: S105  # nosec B105
    if errors:
        return _form(422, email=email, errors=errors)
    try:
        pair = sessions.login(email=email, password=password)
    except ApiError as error:
        return _form(int(error.status), email=email, message=error.detail)
    claims = decode_token(pair["access_token"])
    if claims["role"] == "patient":
        # Signed in correctly, but the console is not for patients: keep no session.
        sessions.logout(claims)
        return render_template("console/patients_welcome.html"), 403
    return start_session(redirect(safe_next(request.form.get("next")), code=303), pair)


@bp.route("/logout", methods=["POST"])
@signed_in()
def logout():
    sessions.logout(get_jwt())
    response = redirect(url_for("console.login") + "?signed_out=1", code=303)
    return end_session(response)
