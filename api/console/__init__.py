"""The clinician web console (`/console/`): server-rendered pages, as thin as the JSON
resources, over the same services and the same access rule."""

from flask import g

from api.console import format as formatting
from api.console.blueprint import bp
from api.console.session import csrf_token


@bp.context_processor
def _console_context():
    return {"csrf_token": csrf_token, "viewer": _viewer, **formatting.HELPERS}


def _viewer():
    """The signed-in user's name and role for the page header (one read, once a request)."""
    if "console_viewer" not in g:
        from api.auth import caller
        from api.models.user import User

        try:
            who = caller()
        except RuntimeError:
            g.console_viewer = None
        else:
            g.console_viewer = User.objects(pk=who.id).only("name", "role", "specialty").first()
    return g.console_viewer


def register_console(app) -> None:
    from api.console import admin, authoring, clinic, patient, signin, triage, worklist  # noqa: F401  (routes register on import)

    app.register_blueprint(bp)
