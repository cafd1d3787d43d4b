"""Who is in Riverside Family Practice: the staff, and the patients with their stories.

Everything here is plain data, drawn from one seeded generator, so the same clinic comes out
on every machine (dates are relative to the day it is seeded).
"""

import random
from dataclasses import dataclass, field

DEMO_PASSWORD = "carepact-demo-1"  # noqa: S105  # nosec B105
DOMAIN = "demo.carepact.test"
CLINIC_NAME = "Riverside Family Practice"
CLINIC_TZ = "America/Chicago"
SEED = "riverside-family-practice"
FULL_PATIENTS = 60
HISTORY_DAYS = 90

T2D, ASTHMA, HYPERTENSION, HEART = "t2-diabetes", "asthma", "hypertension", "paediatric-heart"

# The stories a patient's 90 days tell (see api/demo/history.py).
STEADY = "steady"  # meets most goals most days
FAIR = "fair"  # meets about two days in three
SLIPPING = "slipping"  # steady until two weeks ago, then mostly not
SILENT = "silent"  # steady, then nothing logged for the last ten days
NOCTURNAL_LOWS = "nocturnal_lows"  # night-time glucose lows, the last one last night
RISING_BP = "rising_bp"  # systolic pressure climbing over the last three weeks
PEAK_FLOW_DIP = "peak_flow_dip"  # peak flow down in the yellow zone for the last days

STAFF = [
    {"key": "admin", "role": "admin", "name": "Ada Admin"},
    {"key": "pcp", "role": "provider", "name": "Dr. Priya Patel", "specialty": "primary care"},
    {
        "key": "np",
        "role": "provider",
        "name": "Noah Reyes, NP",
        "specialty": "nurse practitioner (respiratory)",
    },
    {"key": "endo", "role": "provider", "name": "Dr. Erik Lund", "specialty": "endocrinology"},
    {
        "key": "cardio",
        "role": "provider",
        "name": "Dr. Amara Okafor",
        "specialty": "paediatric cardiology",
    },
]
TITLES = {
    "admin": "clinic admin",
    "pcp": "GP",
    "np": "nurse practitioner, respiratory",
    "endo": "endocrinologist",
    "cardio": "paediatric cardiologist",
}


@dataclass
class Patient:
    key: str
    name: str
    email: str
    birth_year: int
    plans: list[str]
    story: str = STEADY
    adherence: float = 0.9  # the chance a day goes to plan
    specialists: list[str] = field(default_factory=list)
    # Days before today the first agreement was accepted (more than the history).
    enrolled_days_ago: int = 100
    hba1c: str = "recent"  # recent | overdue (campaign target) | none (stays overdue) | duplicate
    highs: bool = False  # glucose above 300 twice within three days, lately
    note: str = ""  # what the login list says about them

    @property
    def seed(self) -> str:
        return f"{SEED}:{self.key}"


@dataclass
class Child:
    key: str = "sam"
    name: str = "Sam Jensen"
    age: int = 8
    plan: str = HEART
    parent: str = "pat"
    specialists: list[str] = field(default_factory=lambda: ["cardio"])
    adherence: float = 0.9
    story: str = STEADY
    highs: bool = False

    @property
    def seed(self) -> str:
        return f"{SEED}:{self.key}"


# Names for the other patients, drawn in order by the seeded generator.
FIRST_NAMES = (
    "Maria James Linda Robert Susan Michael Karen David Nancy Daniel Lisa Paul Betty Mark "
    "Sandra Steven Donna Kevin Carol Brian Ruth George Sharon Edward Laura Ronald Emily "
    "Jason Angela Jeffrey Helen Ryan Anna Gary Brenda Jacob Pamela Eric Nicole Frank "
    "Samantha Stephen Katherine Larry Christine Justin Debra Scott Rachel Brandon Carolyn "
    "Raymond Janet Gregory Maria Samuel Heather Patrick Diane Jack"
)
LAST_NAMES = (
    "Alvarez Brooks Carter Dawson Ellis Fischer Garcia Hughes Ibarra Jordan Kowalski Lopez "
    "Morgan Nguyen Olsen Price Quinn Rivera Schmidt Turner Underwood Vasquez Walsh Young "
    "Zimmerman Bennett Coleman Delgado Foster Grant Harper Jensen Keller Lindqvist Mendoza "
    "Novak Ortiz Patel Reed Sullivan Tanaka Wagner Yilmaz Abbott Baker Chavez Dunn Evans"
)


def demo_random(seed: str) -> random.Random:
    """The demo's one source of chance: seeded, so every machine seeds the same clinic."""
    # Demo data, nothing secret: a plain seeded generator is what makes it repeatable.
    return random.Random(seed)  # noqa: S311  # nosec B311


def _featured() -> list[Patient]:
    """The patients whose stories the demo is about (kept at every scale)."""
    return [
        Patient(
            "pat",
            "Pat Jensen",
            f"patient@{DOMAIN}",
            1978,
            [T2D],
            adherence=0.92,
            enrolled_days_ago=118,
            note="the app's demo patient; parent of Sam",
        ),
        Patient(
            "rosa",
            "Rosa Alvarez",
            f"rosa.alvarez@{DOMAIN}",
            1961,
            [T2D],
            NOCTURNAL_LOWS,
            specialists=["endo"],
            enrolled_days_ago=125,
            note="nocturnal glucose lows, urgent alert open",
        ),
        Patient(
            "walter",
            "Walter Brooks",
            f"walter.brooks@{DOMAIN}",
            1953,
            [T2D, HYPERTENSION],
            SILENT,
            enrolled_days_ago=104,
            note="no data for ten days",
        ),
        Patient(
            "helen",
            "Helen Carter",
            f"helen.carter@{DOMAIN}",
            1958,
            [HYPERTENSION],
            RISING_BP,
            enrolled_days_ago=110,
            note="blood pressure rising for three weeks",
        ),
        Patient(
            "omar",
            "Omar Dawson",
            f"omar.dawson@{DOMAIN}",
            1970,
            [T2D],
            adherence=0.85,
            enrolled_days_ago=128,
            hba1c="none",
            note="HbA1c overdue",
        ),
        Patient(
            "grace",
            "Grace Ellis",
            f"grace.ellis@{DOMAIN}",
            1966,
            [T2D],
            specialists=["endo"],
            enrolled_days_ago=122,
            hba1c="duplicate",
            note="HbA1c repeated by endocrinology: refused, then confirmed with a reason",
        ),
        Patient(
            "victor",
            "Victor Fischer",
            f"victor.fischer@{DOMAIN}",
            1975,
            [T2D],
            SLIPPING,
            highs=True,
            enrolled_days_ago=112,
            note="slipping for two weeks, glucose highs (alert acknowledged)",
        ),
        Patient(
            "lena",
            "Lena Hughes",
            f"lena.hughes@{DOMAIN}",
            1988,
            [ASTHMA],
            PEAK_FLOW_DIP,
            specialists=["np"],
            enrolled_days_ago=109,
            note="peak flow in the yellow zone",
        ),
    ]


def roster(count: int = FULL_PATIENTS) -> list[Patient]:
    """The featured patients, then others up to `count` adult patients."""
    rng = demo_random(SEED)
    patients = _featured()
    taken = {p.name for p in patients}
    # About half with diabetes (a third of them also hypertensive), a quarter asthma, the
    # rest hypertension: the mix of a family practice's chronic-care register.
    mixes = [[T2D], [T2D], [T2D, HYPERTENSION], [ASTHMA], [HYPERTENSION], [T2D], [ASTHMA]]
    stories = [STEADY] * 6 + [FAIR] * 3 + [SLIPPING] * 2
    index = 0
    while len(patients) < count:
        first, last = rng.choice(FIRST_NAMES.split()), rng.choice(LAST_NAMES.split())
        name = f"{first} {last}"
        if name in taken:
            continue
        taken.add(name)
        plans = mixes[index % len(mixes)]
        story = stories[index % len(stories)]
        level = {STEADY: (0.82, 0.97), FAIR: (0.55, 0.75), SLIPPING: (0.85, 0.95)}[story]
        specialists = []
        if ASTHMA in plans:
            specialists.append("np")
        if T2D in plans and index % 3 == 0:
            specialists.append("endo")
        patients.append(
            Patient(
                f"p{index:02d}",
                name,
                f"{first.lower()}.{last.lower()}@{DOMAIN}",
                rng.randint(1944, 1996),
                plans,
                story,
                adherence=round(rng.uniform(*level), 2),
                specialists=specialists,
                enrolled_days_ago=rng.randint(95, 140),
                # Every fourth diabetic had no HbA1c when the recall campaign went out.
                hba1c="overdue" if T2D in plans and index % 4 == 1 else "recent",
            )
        )
        index += 1
    return patients[:count]
