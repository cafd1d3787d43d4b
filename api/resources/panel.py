"""The provider panel."""

from api.access import Need, authenticated, patient_scope
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.models.user import User
from api.schemas.panel import PanelEntrySchema, PanelQuerySchema, ReviewedSchema
from api.services.clinic import panel

blp = Blueprint("panel", __name__, url_prefix="/api/v1", description="The provider panel.")


@blp.route("/panel", methods=["GET"])
@authenticated("provider")
@blp.arguments(PanelQuerySchema, location="query")
@blp.response(200, PanelEntrySchema(many=True))
@blp.paginate(pager=None)
def get_panel(query, pagination_parameters):
    """Your active patients, each with 7- and 30-day adherence, last log, next and overdue
    check-ups, flags and unread messages; `?flag=` filters, `sort` and `order` order."""
    provider_id = caller().id
    total, rows = panel.page(
        provider_id,
        view=query.get("flag", "all"),
        sort=query["sort"],
        descending=query["order"] == "desc",
        first=pagination_parameters.first_item,
        size=pagination_parameters.page_size,
    )
    pagination_parameters.item_count = total
    return panel.present(provider_id, rows, utcnow())


@blp.route("/patients/<pid>/reviewed", methods=["POST"])
@authenticated()
@blp.response(200, ReviewedSchema)
@blp.alt_response(403, description="Only a provider on the care team marks a review.")
def mark_reviewed(pid):
    """Mark the patient reviewed now, by you; the panel shows the last review and who."""
    scope = patient_scope(pid, Need.CARE)
    provider = User.objects(pk=scope.caller.id).only("name").first()
    return panel.mark_reviewed(scope.patient_id, provider=provider, now=utcnow())
