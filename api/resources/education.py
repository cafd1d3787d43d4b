"""The education library, and each patient's progress through the items assigned to them."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.auth import caller
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.education import (
    AssignedItemSchema,
    EducationCreateSchema,
    EducationItemSchema,
    EducationQuerySchema,
    ProgressCreateSchema,
)
from api.services.care import education

blp = Blueprint(
    "education", __name__, url_prefix="/api/v1", description="Education library and progress."
)


@blp.route("/education")
class Library(MethodView):
    @authenticated()
    @blp.arguments(EducationQuerySchema, location="query")
    @blp.response(200, EducationItemSchema(many=True))
    @blp.paginate(pager=None)
    def get(self, query, pagination_parameters):
        """The library by title; filter `condition`, `audience`, `q`.

        With `?audience=provider`, a provider sees first the items for conditions on their
        own panel (each marked `matches_panel`).
        """
        who = caller()
        panel = None
        if who.is_provider and query.get("audience") == "provider":
            panel = education.panel_conditions(who.id)
        total, items = education.list_items(
            **query,
            panel_conditions=panel,
            first=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return items

    @authenticated("provider")
    @blp.arguments(EducationCreateSchema)
    @blp.response(201, EducationItemSchema)
    def post(self, data):
        """Publish an item: an https `url` or a Markdown `body` (raw HTML is refused)."""
        return education.create_item(data=data, author_id=caller().id, now=utcnow())


@blp.route("/education/<item_id>", methods=["GET"])
@authenticated()
@blp.etag
@blp.response(200, EducationItemSchema)
def get_item(item_id):
    """One library item, with `body_html` rendered safely when it has a body."""
    return education.get_item(item_id)


@blp.route("/patients/<pid>/education", methods=["GET"])
@authenticated()
@blp.response(200, AssignedItemSchema(many=True))
@blp.paginate()
def patient_education(pid):
    """Items the patient's active agreements assign, each with `status` and when."""
    scope = patient_scope(pid, Need.VIEW)
    return education.patient_education(scope.patient_id, now=utcnow())


@blp.route("/patients/<pid>/education/<item_id>/progress", methods=["POST"])
@authenticated()
@blp.arguments(ProgressCreateSchema)
@blp.response(200, AssignedItemSchema)
@blp.alt_response(403, description="Not the patient or a caregiver with `log`.")
@blp.alt_response(404, description="The item is not assigned to this patient.")
def record_progress(data, pid, item_id):
    """Record `viewed` or `completed` (the patient, or a caregiver with `log`).

    Progress never moves back: `viewed` after `completed` leaves it completed.
    """
    scope = patient_scope(pid, Need.LOG)
    return education.record_progress(
        scope=scope, item_id=item_id, status=data["status"], now=utcnow()
    )
