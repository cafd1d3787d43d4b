"""CGM metrics against values computed by hand (statistics module, not the histograms)."""

import statistics
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.services.tracking import cgm_traces, glucose, glucose_metrics
from tests.test_nightscout_uploads import make_uploader, ms, ns

# Each range limit from both sides: 53.9/54, 69/69.9/70, 180/180.1/181, 250/250.1/251.
BOUNDARY_VALUES = [53.9, 54, 69, 69.9, 70, 120, 180, 180.1, 181, 250, 250.1, 251, 40, 300]


def expected(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values)
    ranges = {
        "very_low": sum(v < 54 for v in values),
        "low": sum(54 <= v < 70 for v in values),
        "in_range": sum(70 <= v <= 180 for v in values),
        "high": sum(180 < v <= 250 for v in values),
        "very_high": sum(v > 250 for v in values),
    }
    return {
        "readings": len(values),
        "mean": round(mean, 1),
        "sd": round(sd, 1),
        "cv_percent": round(100 * sd / mean, 1),
        "gmi_percent": round(3.31 + 0.02392 * mean, 1),
        "time_in_ranges": {k: round(100 * n / len(values), 1) for k, n in ranges.items()},
    }


def agp_point(values: list[float]) -> dict:
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else []
    pick = {p: (cuts[p - 1] if cuts else values[0]) for p in (5, 25, 50, 75, 95)}
    return {f"p{p}": round(v, 1) for p, v in pick.items()}


@pytest.fixture
def patient(factory):
    return factory.patient(timezone="America/New_York")


@pytest.fixture
def headers(factory, patient):
    return factory.headers(patient)


def test_boundaries_by_hand_through_the_api(client, headers, patient):
    uploader = make_uploader(client, headers)
    zone = ZoneInfo("America/New_York")
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    values = BOUNDARY_VALUES * 3
    posted, by_hour = [], {}
    for i, value in enumerate(values):
        local = datetime.combine(yesterday, datetime.min.time(), tzinfo=zone) + timedelta(
            hours=(i % 3) * 7, minutes=5 * i
        )
        posted.append({"type": "sgv", "sgv": value, "date": ms(local.astimezone(UTC))})
        by_hour.setdefault(local.hour, []).append(value)
    assert client.post("/api/v1/entries", json=posted, headers=ns(uploader)).status_code == 200

    response = client.get("/api/v1/patients/me/glucose?days=2", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    want = expected(values)
    for name, value in want.items():
        assert body[name] == value, name
    assert body["unit"] == "mg/dL" and body["timezone"] == "America/New_York"
    assert body["from"] == (yesterday).isoformat()
    assert body["sufficient"] is False  # 42 readings in more than a day: said, not hidden
    assert 0 < body["wear_percent"] < 15
    assert [p["hour"] for p in body["agp"]] == sorted(by_hour)
    for point in body["agp"]:
        assert {k: point[k] for k in ("p5", "p25", "p50", "p75", "p95")} == agp_point(
            by_hour[point["hour"]]
        ), point["hour"]


def test_unit_and_days_validation(client, headers, patient):
    patient.update(glucose_unit="mmol/L")
    client.patch("/api/v1/me", json={"glucose_unit": "mmol/L"}, headers=headers)
    uploader = make_uploader(client, headers)
    now = datetime.now(UTC)
    posted = [
        {"type": "sgv", "sgv": v, "date": ms(now - timedelta(minutes=5 * i))}
        for i, v in enumerate([90, 180, 270])
    ]
    client.post("/api/v1/entries", json=posted, headers=ns(uploader))
    body = client.get("/api/v1/patients/me/glucose?days=1", headers=headers).get_json()
    assert body["unit"] == "mmol/L"
    assert body["mean"] == round(180 / 18.0182, 2)
    assert body["sd"] == round(90 / 18.0182, 2)
    for bad in ("0", "91", "x", "1.5"):
        response = client.get(f"/api/v1/patients/me/glucose?days={bad}", headers=headers)
        assert response.status_code == 422 and "days" in response.get_json()["errors"]
    empty = client.get("/api/v1/patients/me/glucose?days=90", headers=headers).get_json()
    assert empty["readings"] == 3


def test_no_readings(client, headers):
    body = client.get("/api/v1/patients/me/glucose", headers=headers).get_json()
    assert body["readings"] == 0 and body["mean"] is None and body["sufficient"] is False
    assert body["time_in_ranges"]["in_range"] is None and body["agp"] == []
    assert (date.fromisoformat(body["to"]) - date.fromisoformat(body["from"])).days == 13


@pytest.mark.parametrize(
    ("day", "slots", "doubled_hour", "missing_hour"),
    [(date(2026, 3, 8), 276, None, 2), (date(2026, 11, 1), 300, 1, None)],
)
def test_dst_days(app, patient, day, slots, doubled_hour, missing_hour):
    tz = "America/New_York"
    assert glucose.slots_in_day(day, tz) == slots
    zone = ZoneInfo(tz)
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    readings = [
        glucose.Reading("sgv", ms(start + timedelta(minutes=5 * i)), value=100.0 + i % 50)
        for i in range(slots)
    ]
    stored = glucose.store(patient.pk, readings, tz=tz)
    assert len(stored.fresh) == slots and stored.newly_monitored == [day]
    next_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    end_of_day = next_day - timedelta(microseconds=1)
    body = glucose_metrics.report(patient.pk, days=1, tz=tz, unit=None, now=end_of_day)
    assert body["readings"] == slots and body["wear_percent"] == 100.0
    hours = {p["hour"]: p["readings"] for p in body["agp"]}
    if doubled_hour is not None:
        assert hours[doubled_hour] == 24 and len(hours) == 24
    if missing_hour is not None:
        assert missing_hour not in hours and len(hours) == 23
    # The same readings again count once.
    assert glucose.store(patient.pk, readings, tz=tz).fresh == []
    again = glucose_metrics.report(patient.pk, days=1, tz=tz, unit=None, now=end_of_day)
    assert again["readings"] == slots


def test_readings_count_in_the_patients_zone(app, factory):
    tokyo = factory.patient(timezone="Asia/Tokyo")
    at = datetime(2026, 6, 10, 15, 30, tzinfo=UTC)  # 00:30 on 11 June in Tokyo
    glucose.store(tokyo.pk, [glucose.Reading("sgv", ms(at), value=111.0)], tz="Asia/Tokyo")
    now = datetime(2026, 6, 11, 12, 0, tzinfo=UTC)
    body = glucose_metrics.report(tokyo.pk, days=1, tz="Asia/Tokyo", unit=None, now=now)
    assert body["from"] == date(2026, 6, 11) and body["readings"] == 1
    assert body["agp"][0]["hour"] == 0
    evening = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)
    utc_view = glucose_metrics.report(tokyo.pk, days=1, tz="UTC", unit=None, now=evening)
    assert utc_view["readings"] == 0  # 10 June in UTC: the day was filed in Tokyo's zone


def test_fourteen_days_of_a_trace(app, patient):
    tz = "America/New_York"
    first = date(2026, 4, 1)
    trace = cgm_traces.trace(first, 14, tz=tz, seed=11)
    readings = [glucose.Reading("sgv", e["date"], value=float(e["sgv"])) for e in trace]
    glucose.store(patient.pk, readings, tz=tz)
    end = datetime.combine(first + timedelta(days=14), datetime.min.time(), tzinfo=ZoneInfo(tz))
    end -= timedelta(microseconds=1)
    body = glucose_metrics.report(patient.pk, days=14, tz=tz, unit=None, now=end)
    values = [float(e["sgv"]) for e in trace]
    for name, value in expected(values).items():
        assert body[name] == value, name
    assert body["wear_percent"] == round(100 * len(values) / (14 * 288), 1)
    assert body["sufficient"] is True and len(body["agp"]) == 24


def test_one_minute_sensor_wear_counts_slots(app, patient, mongo):
    start = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)
    readings = [
        glucose.Reading("sgv", ms(start + timedelta(minutes=i)), value=120.0) for i in range(60)
    ]
    glucose.store(patient.pk, readings, tz="UTC")
    now = start.replace(hour=11)
    body = glucose_metrics.report(patient.pk, days=1, tz="UTC", unit=None, now=now)
    assert body["readings"] == 60
    day = mongo.glucose_days.find_one({"patient": patient.pk})
    assert (day["n"], day["w"]) == (60, 12)
    assert body["wear_percent"] == round(100 * 12 / 132, 1)  # 12 of the 132 slots since 00:00
