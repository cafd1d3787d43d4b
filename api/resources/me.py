"""The signed-in user's own profile and password."""

from flask.views import MethodView

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint, limiter
from api.rate_limits import per_caller, setting, when_status
from api.schemas.accounts import PasswordChangeSchema, ProfileSchema
from api.services.flows import profiles as profile_flow
from api.services.identity import profiles, sessions

blp = Blueprint("me", __name__, url_prefix="/api/v1/me", description="Your own profile.")


@blp.route("")
class Me(MethodView):
    @authenticated()
    @blp.response(200, ProfileSchema)
    def get(self):
        """Your profile."""
        return profiles.load(caller().id)

    @authenticated()
    @blp.arguments(ProfileSchema(partial=True))
    @blp.response(200, ProfileSchema)
    def patch(self, changes):
        """Change your name, time zone, reminder time, quiet hours or glucose unit."""
        return profile_flow.update_profile(profiles.load(caller().id), changes, now=utcnow())


@blp.route("/password", methods=["POST"])
@authenticated()
@limiter.limit(
    setting("PASSWORD_CHECK_RATE_LIMIT"),
    key_func=per_caller("current-password"),
    deduct_when=when_status(422),
)
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
@blp.alt_response(429, description="Too many wrong current passwords; see Retry-After.")
def change_password(data):
    """Change your password; every token you hold is revoked."""
    sessions.change_password(profiles.load(caller().id), **data)
