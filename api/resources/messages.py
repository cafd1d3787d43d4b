"""The care-team thread of a patient."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.messages import MessageCreateSchema, MessageSchema
from api.services.clinic import messages

blp = Blueprint("messages", __name__, url_prefix="/api/v1", description="Care-team messages.")


@blp.route("/patients/<pid>/messages")
class Messages(MethodView):
    @authenticated()
    @blp.response(200, MessageSchema(many=True))
    @blp.paginate(pager=None)
    def get(self, pid, pagination_parameters):
        """The thread, newest first. A provider reading it has nothing unread in it after."""
        scope = patient_scope(pid, Need.VIEW)
        thread = messages.thread_for(scope.patient_id)
        pagination_parameters.item_count = thread.count()
        first, size = pagination_parameters.first_item, pagination_parameters.page_size
        page = messages.present(list(thread.skip(first).limit(size)))
        if scope.relation == "team":
            messages.mark_read(scope.patient_id, scope.caller.id)
        return page

    @authenticated()
    @blp.arguments(MessageCreateSchema)
    @blp.response(201, MessageSchema)
    @blp.alt_response(403, description="A caregiver whose grant lacks `manage`.")
    def post(self, data, pid):
        """Write to the thread. A provider's message notifies the patient (inbox and push);
        every message is unread for the other providers until they read the thread."""
        scope = patient_scope(pid, Need.VIEW)
        message = messages.post(scope, body=data["body"], now=utcnow())
        return messages.present([message])[0]
