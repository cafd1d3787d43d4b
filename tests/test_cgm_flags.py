"""CGM triage flags (TIDE): computed from the day histograms, on the summary, the panel's
`?flag=` filter and the population's counts."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.services.tracking import glucose, glucose_flags
from tests.test_nightscout_uploads import make_uploader, ms, ns
from tests.test_panel import join

TZ = "America/Chicago"
TODAY = date(2026, 4, 28)
NOW = datetime.combine(TODAY, datetime.min.time(), tzinfo=ZoneInfo(TZ)) + timedelta(hours=23)


def day_values(counts: dict[float, int]) -> list[float]:
    """A day of readings, five minutes apart: value → how many of the day's 288."""
    values = []
    for value, n in counts.items():
        values += [value] * n
    return values


def store_days(patient_id, first: date, days: int, values: list[float]) -> None:
    zone = ZoneInfo(TZ)
    readings = []
    for d in range(days):
        start = datetime.combine(first + timedelta(days=d), datetime.min.time(), tzinfo=zone)
        readings += [
            glucose.Reading("sgv", ms(start + timedelta(minutes=5 * i)), value=v)
            for i, v in enumerate(values)
        ]
    glucose.store(patient_id, readings, tz=TZ)


def flags_for(patient_id) -> set[str]:
    return {name for name, on in glucose_flags.compute(patient_id, TZ, NOW).items() if on}


def test_each_flag_at_its_limit(app, factory):
    first = TODAY - timedelta(days=13)
    cases = [
        # 2 of 288 very low (0.7 %) is not more than 1 %; 4 (1.4 %) is.
        (set(), {150: 286, 50: 2}),
        ({"time_very_low"}, {150: 284, 50: 4}),
        # 11 low (3.8 %) is not more than 4 %; 15 (5.2 %) is.
        (set(), {150: 277, 60: 11}),
        ({"time_low"}, {150: 273, 60: 15}),
        # 202 in range (70.1 %) is not below 70 %; 198 (68.75 %) is.
        (set(), {150: 202, 200: 86}),
        ({"tir_below_70"}, {150: 198, 200: 90}),
    ]
    for expected, counts in cases:
        patient = factory.patient(timezone=TZ)
        store_days(patient.pk, first, 14, day_values(counts))
        assert flags_for(patient.pk) == expected, counts


def test_a_drop_in_time_in_range_and_low_wear(app, factory):
    first = TODAY - timedelta(days=13)
    dropped = factory.patient(timezone=TZ)
    store_days(dropped.pk, first - timedelta(days=14), 14, day_values({150: 288}))
    store_days(dropped.pk, first, 14, day_values({150: 242, 200: 46}))
    assert flags_for(dropped.pk) == {"tir_drop"}
    steady = factory.patient(timezone=TZ)
    store_days(steady.pk, first - timedelta(days=14), 14, day_values({150: 288}))
    store_days(steady.pk, first, 14, day_values({150: 248, 200: 40}))
    assert flags_for(steady.pk) == set()
    worn_little = factory.patient(timezone=TZ)
    store_days(worn_little.pk, first, 14, day_values({150: 173}))
    assert flags_for(worn_little.pk) == {"low_wear"}
    never = factory.patient(timezone=TZ)
    assert flags_for(never.pk) == set()


def test_panel_filter_and_summary_after_an_upload(client, factory, mongo):
    patient = factory.patient(timezone=TZ)
    provider = factory.provider()
    join(patient, provider)
    uploader = make_uploader(client, factory.headers(patient))
    zone = ZoneInfo(TZ)
    today = datetime.now(zone).date()
    entries = []
    for d in range(1, 15):
        start = datetime.combine(today - timedelta(days=d), datetime.min.time(), tzinfo=zone)
        for i, value in enumerate(day_values({60: 29, 140: 259})):
            at = start + timedelta(minutes=5 * i)
            entries.append({"type": "sgv", "sgv": value, "date": ms(at.astimezone(UTC))})
    response = client.post("/api/v1/entries", json=entries, headers=ns(uploader))
    assert response.status_code == 200
    summary = mongo.adherence_summaries.find_one({"_id": patient.pk})
    assert summary["flags"]["time_low"] is True and summary["flags"]["time_very_low"] is False
    doctor = factory.headers(provider)
    listed = client.get("/api/v1/panel?flag=time_low", headers=doctor).get_json()
    assert [row["patient"]["id"] for row in listed] == [str(patient.pk)]
    assert "time_low" in listed[0]["flags"]
    assert client.get("/api/v1/panel?flag=time_very_low", headers=doctor).get_json() == []
    assert client.get("/api/v1/panel?flag=nonsense", headers=doctor).status_code == 422


def test_population_counts_cgm_flags_and_a_rebuild_agrees(client, factory, mongo):
    from api.services.clinic import population_rebuild
    from api.services.flows import derived
    from tests.test_population import join as join_clinic
    from tests.test_population import make_clinic, normalised

    provider = factory.provider()
    cid = make_clinic(client, factory, provider)
    wearer, other = factory.patient(timezone=TZ), factory.patient(timezone=TZ)
    for patient in (wearer, other):
        join_clinic(client, factory, provider, patient)
    today = datetime.now(ZoneInfo(TZ)).date()
    store_days(wearer.pk, today - timedelta(days=13), 14, day_values({45: 10, 150: 278}))
    now = datetime.now(UTC)
    derived.summary_moved(wearer.pk, glucose_flags.refresh(wearer.pk, TZ, now=now), now=now)
    shown = client.get(
        f"/api/v1/clinics/{cid}/population", headers=factory.headers(provider)
    ).get_json()["current"]["cgm_flags"]
    assert shown == {
        "time_very_low": 1,
        "time_low": 0,
        "tir_below_70": 0,
        "tir_drop": 0,
        "low_wear": 0,
    }
    kept = normalised(mongo, cid)
    population_rebuild.rebuild(cid, now=datetime.now(UTC))
    assert normalised(mongo, cid) == kept
