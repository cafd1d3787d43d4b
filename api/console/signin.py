"""Sign-in and sign-out pages: the identity services' login and logout, in cookies."""

from flask import redirect, render_template, request, url_for
from flask_jwt_extended import decode_token, get_jwt

from api.console.blueprint import bp
from api.console.session import end_session, safe_next, signed_in, start_session
from api.errors import ApiError
from api.rate_limits import login_limits
from api.services.identity import sessions


def _form(status: int = 200, **context):
    context.setdefault("email", "")
    context.setdefault("next", safe_next(request.values.get("next")))
    return render_template("console/login.html", **context), status


@bp.route("/login", methods=["GET"])
def login():
    return _form()


@bp.route("/login", methods=["POST"])
# The API's login budgets, shared (resources/auth.py).
@login_limits(lambda: request.form.get("email"))
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
