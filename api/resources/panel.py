"""The provider panel."""

from api.auth import authenticated, caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.panel import PanelEntrySchema, PanelQuerySchema
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
