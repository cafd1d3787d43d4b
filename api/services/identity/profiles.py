"""Reading and changing a user's profile (`api.services.flows.profiles` carries the change to
the copies of it and to reminder planning)."""

from bson import ObjectId

from api.errors import NotFound
from api.models.user import QuietHours, User

# Settings that change when reminders are due: reminders are re-planned at once.
SCHEDULE_FIELDS = frozenset({"timezone", "reminder_time", "quiet_hours"})


def load(user_id: ObjectId) -> User:
    user = User.objects(pk=user_id).first()
    if user is None:
        raise NotFound()
    return user


def update(user: User, changes: dict) -> bool:
    """Apply `changes`; whether they move when reminders are due."""
    replans = bool(SCHEDULE_FIELDS & set(changes))
    if "quiet_hours" in changes:
        hours = changes.pop("quiet_hours")
        user.quiet_hours = QuietHours(**hours) if hours else None
    for name, value in changes.items():
        setattr(user, name, value.strip() if name == "name" else value)
    user.save()
    return replans
