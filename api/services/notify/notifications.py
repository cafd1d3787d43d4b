"""The inbox and push devices of a patient (devices may belong to their caregivers)."""

from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from mongoengine.errors import NotUniqueError

from api.errors import NotFound
from api.models.notification import Device, Notification
from api.services.reminders import planning as reminders


def _object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound() from None


def register_device(*, patient_id, owner_id, platform: str, token: str, now: datetime):
    """Idempotent per token: registering it again returns the stored device (created=False).

    If someone else had registered the same token for this patient, the phone changed hands:
    it now belongs to the caller, with the platform they report.
    """
    existing = Device.objects(token=token, patient=patient_id).first()
    if existing is not None:
        if (existing.owner, existing.platform) != (owner_id, platform):
            existing.update(set__owner=owner_id, set__platform=platform, set__updated_at=now)
            existing.reload()
        return existing, False
    device = Device(
        patient=patient_id, owner=owner_id, platform=platform, token=token, created_at=now
    )
    try:
        device.save(force_insert=True)
    except NotUniqueError:  # mongoengine's duplicate key on save
        # The same phone registered twice at once: both calls answer with the one stored.
        return Device.objects(token=token, patient=patient_id).first(), False
    reminders.devices_registered(patient_id, now)
    return device, True


def unregister_device(*, patient_id, device_id: str) -> None:
    if not Device.objects(pk=_object_id(device_id), patient=patient_id).delete():
        raise NotFound()


def devices(patient_id):
    return Device.objects(patient=patient_id).order_by("created_at", "id")


def _patients_own(patient_id):
    """The patient's inbox: notifications about the patient addressed to their providers
    (an alert's copy for the PCP) are not in it, and cannot be read or marked through it."""
    return Notification.objects(patient=patient_id, recipient__in=[None, patient_id])


def inbox(patient_id, *, unread: bool = False):
    """Newest first; `unread` keeps those not yet read."""
    query = _patients_own(patient_id)
    if unread:
        query = query.filter(read_at=None)
    return query.order_by("-created_at", "-id")


def mark_read(*, patient_id, notification_id: str, now: datetime) -> Notification:
    """Idempotent: reading it again keeps the first `read_at`."""
    oid = _object_id(notification_id)
    _patients_own(patient_id).filter(pk=oid, read_at=None).update_one(set__read_at=now)
    notification = _patients_own(patient_id).filter(pk=oid).first()
    if notification is None:
        raise NotFound()
    return notification
