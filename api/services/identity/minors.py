"""Who is a minor: younger than MINOR_AGE on today's date in the patient's own time zone."""

from datetime import date, datetime
from zoneinfo import ZoneInfo


def age_on(birth_date: date, day: date) -> int:
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


def is_minor(patient, now: datetime, minor_age: int) -> bool:
    if patient.birth_date is None:
        return False
    today = now.astimezone(ZoneInfo(patient.timezone or "UTC")).date()
    return age_on(patient.birth_date, today) < minor_age
