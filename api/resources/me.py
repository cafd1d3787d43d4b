"""The signed-in user's own profile and password."""

from flask.views import MethodView

from api.access import authenticated
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
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
@blp.arguments(PasswordChangeSchema)
@blp.response(204)
def change_password(data):
    """Change your password; every token you hold is revoked."""
    sessions.change_password(profiles.load(caller().id), **data)
