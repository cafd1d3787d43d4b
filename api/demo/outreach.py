"""Conversations in care-team threads and an HbA1c recall campaign with its outcomes."""

from datetime import datetime, timedelta

from api.demo.care import hba1c_result, record
from api.demo.cast import demo_random
from api.demo.team import A1C_READING, acting
from api.models.campaign import Campaign
from api.models.message import Message
from api.models.notification import Notification
from api.models.user import User
from api.services.care import education
from api.services.clinic import campaigns, messages
from api.services.notify import notifications

CAMPAIGN_NAME = "HbA1c recall"
CAMPAIGN_DAYS_AGO = 21

# (patient key, [(days ago, author: staff key or "patient", text)]), oldest first.
THREADS = [
    (
        "pat",
        [
            (
                9,
                "pcp",
                "Pat, your glucose has been in range almost every day this month. Well done!",
            ),
            (
                8,
                "patient",
                "Thank you! The evening walks are helping. See you at the next check-up.",
            ),
        ],
    ),
    (
        "rosa",
        [
            (3, "pcp", "Rosa, your log shows lows around 3 am. Keep glucose tablets by your bed."),
            (2, "patient", "I did feel shaky last night. Should I change my evening dose?"),
            (
                1,
                "endo",
                "Please don't change anything yet: let's review your evening dose Thursday.",
            ),
        ],
    ),
    (
        "helen",
        [(2, "patient", "My home readings have been higher lately, around 150 to 160.")],
    ),
    (
        "lena",
        [
            (2, "np", "Your peak flow dropped this week: follow the yellow zone of your plan."),
            (1, "patient", "Will do, the pollen has been bad. Using the reliever as planned."),
        ],
    ),
    (
        "victor",
        [(4, "pcp", "Victor, we've seen fewer logs these two weeks. Is everything all right?")],
    ),
]
# Threads the GP has read since; the others stay unread on the panel.
READ_BY_PCP = ("pat", "rosa")


def post_threads(people: dict[str, User], staff: dict[str, User], *, now: datetime) -> None:
    for key, lines in THREADS:
        patient = people.get(key)
        if patient is None or Message.objects(patient=patient.pk).first() is not None:
            continue
        for days_ago, author, text in lines:
            writer = patient if author == "patient" else staff[author]
            relation = "self" if author == "patient" else "team"
            when = now - timedelta(days=days_ago, hours=2)
            messages.post(acting(writer, patient, relation), body=text, now=when)
        if key in READ_BY_PCP:
            messages.mark_read(patient.pk, staff["pcp"].pk)


def run_campaign(clinic, people, cast_by_key, staff, *, today, now: datetime) -> None:
    """Three weeks ago the GP wrote to every diabetic without an HbA1c this quarter; since
    then some read it, some read the recommended page, and some had the test."""
    if Campaign.objects(clinic=clinic.pk, name=CAMPAIGN_NAME).first() is not None:
        return
    sent = now - timedelta(days=CAMPAIGN_DAYS_AGO)
    campaign = campaigns.create(
        clinic=clinic,
        data={
            "name": CAMPAIGN_NAME,
            "cohort": {"condition": "type 2 diabetes", "care_gap": "hba1c"},
            "message": {
                "title": "Time for your HbA1c test",
                "body": "Your HbA1c test is due. Please book it at the front desk or online.",
            },
            "education_item_id": A1C_READING["item_id"],
        },
        created_by=staff["pcp"].pk,
        now=sent,
    )
    campaigns.deliver_due(now=sent, worker="demo-seed")
    by_id = {patient.pk: key for key, patient in people.items()}
    for target in campaign.targets:
        person = cast_by_key[by_id[target]]
        if person.hba1c != "overdue":
            continue  # never answered (the overdue HbA1c the demo shows)
        _respond(person, people[person.key], campaign, staff, sent, today, now)


def _respond(person, patient: User, campaign, staff, sent: datetime, today, now) -> None:
    rng = demo_random(f"{person.seed}:campaign")
    notification = Notification.objects(patient=patient.pk, key=f"campaign:{campaign.pk}").first()
    if rng.random() < 0.8:
        opened = sent + timedelta(hours=rng.randint(2, 60))
        notifications.mark_read(
            patient_id=patient.pk, notification_id=str(notification.pk), now=opened
        )
        if rng.random() < 0.6:
            education.record_progress(
                scope=acting(patient, patient, "self"),
                item_id=A1C_READING["item_id"],
                status="completed",
                now=opened + timedelta(minutes=10),
            )
    if rng.random() < 0.6:
        done = today - timedelta(days=rng.randint(2, CAMPAIGN_DAYS_AGO - 4))
        record(patient, "HbA1c", staff["pcp"], done, hba1c_result(rng), now=now)
