"""Reading and changing a user's profile; later features hook re-planning in here."""

from collections.abc import Callable

from bson import ObjectId

from api.errors import NotFound
from api.models.user import QuietHours, User

# Settings that change when reminders are due; listeners re-plan them at once.
SCHEDULE_FIELDS = frozenset({"timezone", "reminder_time", "quiet_hours"})
_schedule_listeners: list[Callable[[User], None]] = []
_profile_listeners: list[Callable[[User], None]] = []


def on_schedule_change(listener: Callable[[User], None]) -> Callable[[User], None]:
    _schedule_listeners.append(listener)
    return listener


def on_profile_change(listener: Callable[[User], None]) -> Callable[[User], None]:
    """Register `listener(user)`, called after every profile change (copies of it follow)."""
    _profile_listeners.append(listener)
    return listener


def load(user_id: ObjectId) -> User:
    user = User.objects(pk=user_id).first()
    if user is None:
        raise NotFound()
    return user


def update(user: User, changes: dict) -> User:
    replans = bool(SCHEDULE_FIELDS & set(changes))
    if "quiet_hours" in changes:
        hours = changes.pop("quiet_hours")
        user.quiet_hours = QuietHours(**hours) if hours else None
    for name, value in changes.items():
        setattr(user, name, value.strip() if name == "name" else value)
    user.save()
    if replans:
        for listener in _schedule_listeners:
            listener(user)
    for listener in _profile_listeners:
        listener(user)
    return user
