"""Who last looked at whom: the reviews the triage table shows (by whom, when)."""

from datetime import datetime, timedelta

from api.demo.cast import STEADY, demo_random
from api.models.user import User
from api.services.clinic import panel
from api.services.tracking import summary as patient_summary

# (patient key, reviewer, days ago): the featured patients' latest reviews.
FEATURED = [
    ("pat", "pcp", 9),
    ("rosa", "endo", 1),
    ("grace", "endo", 6),
    ("lena", "np", 2),
    ("helen", "pcp", 12),
]


def mark_reviews(cast, people: dict[str, User], staff: dict[str, User], *, now: datetime):
    """The featured reviews, and the GP's of about half the steady patients this quarter."""
    reviews = [(people[key], staff[by], days) for key, by, days in FEATURED if key in people]
    for person in cast:
        rng = demo_random(f"{person.seed}:review")
        if person.story == STEADY and person.note == "" and rng.random() < 0.5:
            reviews.append((people[person.key], staff["pcp"], rng.randint(3, 80)))
    for patient, provider, days_ago in reviews:
        if patient_summary.summaries().find_one({"_id": patient.pk, "reviewed_at": {"$ne": None}}):
            continue
        panel.mark_reviewed(patient.pk, provider=provider, now=now - timedelta(days=days_ago))
