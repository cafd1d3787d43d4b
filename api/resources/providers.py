"""Provider accounts: created by an admin, listed for referrals."""

from api.access import authenticated
from api.clock import utcnow
from api.extensions import Blueprint
from api.models.user import User
from api.schemas.accounts import ProviderCreateSchema, ProviderQuerySchema, ProviderSchema
from api.services.identity import recovery

blp = Blueprint("providers", __name__, url_prefix="/api/v1", description="Providers.")


@blp.route("/admin/providers", methods=["POST"])
@authenticated("admin")
@blp.arguments(ProviderCreateSchema)
@blp.response(201, ProviderSchema)
@blp.alt_response(409, description="An account with this email already exists.")
def create_provider(data):
    """Create a provider account (admins only); the provider is mailed a code (72 hours) to
    choose their own password at `POST /auth/password-reset/confirm`."""
    return recovery.create_provider(**data, now=utcnow())


@blp.route("/providers", methods=["GET"])
@authenticated("provider")
@blp.arguments(ProviderQuerySchema, location="query")
@blp.response(200, ProviderSchema(many=True))
@blp.paginate()
def list_providers(query):
    """The provider directory, for referrals; filter by `specialty`."""
    providers = User.objects(role="provider").order_by("name", "id")
    if query.get("specialty"):
        providers = providers.filter(specialty=query["specialty"].strip().lower())
    return providers
