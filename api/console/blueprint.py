"""The console's one Blueprint, its response headers and its error pages.

Pages are server-rendered; the one script is a small ES module served from here. The
Content-Security-Policy allows nothing inline and nothing from another origin.
"""

import logging

from flask import Blueprint, render_template, request
from werkzeug.exceptions import HTTPException

from api.errors import ApiError

log = logging.getLogger("carepact.console")

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


@bp.after_request
def _console_headers(response):
    # A page with a policy of its own (the visit report allows its style block by hash) keeps it.
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if not request.path.startswith("/console/static/"):
        # Health data must never sit in a shared or on-disk cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, title: str, detail: str):
    return render_template("console/error.html", title=title, detail=detail), status


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    status = int(error.status)
    if status == 404:
        return error_page(404, "Not found", "There is no such page, or it is not yours to see.")
    return error_page(status, error.status.phrase, error.detail)


@bp.errorhandler(Exception)
def _unexpected(error: Exception):
    if isinstance(error, HTTPException) and error.code and error.code < 500:
        return error_page(error.code, error.name, error.description)
    log.exception("console page failed")
    return error_page(500, "Something went wrong", "The page could not be shown. Try again.")


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def _unknown(_rest):
    return error_page(404, "Not found", "There is no such page.")
