"""Push devices and the notification inbox of a patient."""

from flask.views import MethodView

from api.access import Need, authenticated, patient_scope
from api.clock import utcnow
from api.extensions import Blueprint
from api.schemas.notifications import (
    DeviceCreateSchema,
    DeviceSchema,
    NotificationQuerySchema,
    NotificationSchema,
)

# `reminders` is imported for its hooks: reminders are re-planned at once when an agreement
# or a patient's schedule changes through the API.
from api.services.notify import notifications

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1/patients/<pid>",
    description="Push devices and the reminder inbox.",
)


@blp.route("/devices")
class Devices(MethodView):
    @authenticated()
    @blp.response(200, DeviceSchema(many=True))
    @blp.paginate()
    def get(self, pid):
        """Devices receiving this patient's reminders (the patient's and their caregivers')."""
        scope = patient_scope(pid, Need.MANAGE)
        return notifications.devices(scope.patient_id)

    @authenticated()
    @blp.arguments(DeviceCreateSchema)
    @blp.response(201, DeviceSchema)
    @blp.alt_response(200, schema=DeviceSchema, description="This token was already registered.")
    def post(self, data, pid):
        """Register a push token; idempotent per token. A caregiver with `manage` may register
        their own phone to receive the patient's reminders."""
        scope = patient_scope(pid, Need.MANAGE)
        device, created = notifications.register_device(
            patient_id=scope.patient_id, owner_id=scope.caller.id, now=utcnow(), **data
        )
        return device, 201 if created else 200


@blp.route("/devices/<device_id>", methods=["DELETE"])
@authenticated()
@blp.response(204)
def delete_device(pid, device_id):
    """Unregister a device."""
    scope = patient_scope(pid, Need.MANAGE)
    notifications.unregister_device(patient_id=scope.patient_id, device_id=device_id)


@blp.route("/notifications", methods=["GET"])
@authenticated()
@blp.arguments(NotificationQuerySchema, location="query")
@blp.response(200, NotificationSchema(many=True))
@blp.paginate()
def inbox(args, pid):
    """The inbox, newest first; `?unread=true` for those not yet read."""
    scope = patient_scope(pid, Need.VIEW)
    return notifications.inbox(scope.patient_id, unread=args["unread"])


@blp.route("/notifications/<nid>/read", methods=["POST"])
@authenticated()
@blp.response(200, NotificationSchema)
def mark_read(pid, nid):
    """Mark a notification read (again is harmless)."""
    scope = patient_scope(pid, Need.MANAGE)
    return notifications.mark_read(patient_id=scope.patient_id, notification_id=nid, now=utcnow())
