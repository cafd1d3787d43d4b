"""The console's session: the same access and refresh tokens as the API, held in
`HttpOnly; Secure; SameSite=Strict` cookies scoped to /console/, and flask-jwt-extended's
CSRF check (the form's `csrf_token` must equal the claim inside the cookie's token) on
every POST.

The JSON API keeps reading bearer headers only: these views ask for cookies explicitly.
An expired access token is renewed from the refresh cookie on a page load (the refresh
token is spent, as in the API); when that fails the caller signs in again and comes back
to the page asked for.
"""

import functools
from urllib.parse import urlencode

from flask import g, redirect, render_template, request, url_for
from flask_jwt_extended import (
    get_jwt,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import CSRFError, JWTExtendedException
from jwt import ExpiredSignatureError, PyJWTError

from api.auth import caller
from api.errors import ApiError
from api.services.identity import sessions

COOKIES = ["cookies"]
CONSOLE_ROLES = ("provider", "admin")
CSRF_FAILED = "This form has expired or did not come from the console. Reload the page and retry."


def safe_next(target: str | None) -> str:
    """Only a console path of this site: never another host (an open redirect)."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return url_for("console.home")


def _login_redirect():
    target = request.full_path.rstrip("?") if request.method == "GET" else _page_of_action()
    return redirect(url_for("console.login") + "?" + urlencode({"next": target}), code=303)


def _page_of_action() -> str:
    """A form's POST cannot be replayed after sign-in: come back to the page it was on."""
    pid = (request.view_args or {}).get("pid")
    return url_for("console.patient", pid=pid) if pid else url_for("console.home")


def start_session(response, pair: dict):
    set_access_cookies(response, pair["access_token"])
    set_refresh_cookies(response, pair["refresh_token"])
    return response


def end_session(response):
    unset_jwt_cookies(response)
    return response


def _renewed():
    """A page load with an expired access token: spend the refresh cookie for a new pair."""
    try:
        verify_jwt_in_request(refresh=True, locations=COOKIES)
        pair = sessions.refresh(get_jwt())
    except (JWTExtendedException, PyJWTError, ApiError):
        return end_session(_login_redirect())
    return start_session(redirect(request.full_path.rstrip("?"), code=303), pair)


def signed_in(*roles: str):
    """The page needs a console session (provider or admin; `roles` narrows it).

    A patient is told the console is for their care team; a POST without the form's CSRF
    token, or with a forged one, is refused with 403 and changes nothing.
    """
    roles = roles or CONSOLE_ROLES

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                verify_jwt_in_request(locations=COOKIES)
            except ExpiredSignatureError:
                return _renewed() if request.method == "GET" else _login_redirect()
            except CSRFError:
                return render_template(
                    "console/error.html", title="Refused", detail=CSRF_FAILED
                ), 403
            except (JWTExtendedException, PyJWTError) as error:
                if request.method == "POST" and "CSRF" in str(error):
                    return render_template(
                        "console/error.html", title="Refused", detail=CSRF_FAILED
                    ), 403
                return end_session(_login_redirect())
            who = caller()
            g.caller_id = str(who.id)
            if who.role == "patient":
                return render_template("console/patients_welcome.html"), 403
            if who.role not in roles:
                return render_template(
                    "console/error.html",
                    title="Not for this account",
                    detail=f"This page is for {' or '.join(roles)} accounts.",
                ), 403
            return view(*args, **kwargs)

        return wrapper

    return decorate


def csrf_token() -> str | None:
    """The value every console form sends back (double submit against the cookie's token)."""
    try:
        return get_jwt().get("csrf")
    except RuntimeError:
        return None
