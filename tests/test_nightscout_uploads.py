"""Uploaders and the Nightscout routes, driven as xDrip+ and Loop drive them (raw HTTP)."""

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.services.tracking import cgm_traces

XDRIP_UA = {"User-Agent": "xDrip+ 2024.05.01"}
GLUCOSE_MONITORING = {
    "id": "g_glucose",
    "kind": "monitoring",
    "title": "Glucose",
    "measure": "blood_glucose",
    "unit": "mg/dL",
    "target": {"op": "between", "low": 70, "high": 180},
}


def ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def make_uploader(client, headers, pid="me", name="xDrip+"):
    response = client.post(
        f"/api/v1/patients/{pid}/uploaders", json={"name": name}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def ns(uploader) -> dict:
    return {"api-secret": uploader["api_secret_sha1"]}


def xdrip_entry(at: datetime, sgv, **extra) -> dict:
    """What xDrip+ posts for one reading (its REST uploader's fields)."""
    return {
        "device": "xDrip-DexcomG6",
        "date": ms(at),
        "dateString": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sgv": sgv,
        "delta": 1.5,
        "direction": "Flat",
        "type": "sgv",
        "filtered": 123000,
        "unfiltered": 124000,
        "rssi": 100,
        "noise": 1,
        "sysTime": at.isoformat(),
        **extra,
    }


def on_plan(factory, patient, *goals):
    """The patient in a team, with an active agreement holding `goals`."""
    provider = factory.provider()
    factory.membership(patient, provider)
    factory.agreement(patient, provider, goals=list(goals))


@pytest.fixture
def patient(factory):
    return factory.patient(timezone="Europe/Paris")


@pytest.fixture
def headers(factory, patient):
    return factory.headers(patient)


@pytest.fixture
def uploader(client, headers):
    return make_uploader(client, headers)


# --- uploader credentials -------------------------------------------------------------------


def test_create_list_revoke_uploader_keeps_only_a_hash(client, headers, patient, mongo):
    created = make_uploader(client, headers, name="Loop")
    secret = created["secret"]
    assert len(secret) >= 20
    assert created["api_secret_sha1"] == hashlib.sha1(secret.encode()).hexdigest()  # noqa: S324
    assert created["base_url"].startswith("http")
    stored = mongo.glucose_uploaders.find_one({"patient": patient.pk})
    text = json.dumps(stored, default=str)
    assert secret not in text and created["api_secret_sha1"] not in text

    listed = client.get("/api/v1/patients/me/uploaders", headers=headers).get_json()
    assert [u["name"] for u in listed] == ["Loop"]
    assert "secret" not in listed[0] and "api_secret_sha1" not in listed[0]
    assert listed[0]["last_seen_at"] is None

    assert client.get("/api/v1/verifyauth", headers=ns(created)).status_code == 200
    gone = client.delete(f"/api/v1/patients/me/uploaders/{created['id']}", headers=headers)
    assert gone.status_code == 204
    refused = client.get("/api/v1/verifyauth", headers=ns(created))
    assert refused.status_code == 401
    assert refused.get_json() == {
        "status": 401,
        "message": "Unauthorized",
        "description": "Invalid/Missing",
    }
    assert client.get("/api/v1/patients/me/uploaders", headers=headers).get_json() == []
    again = client.delete(f"/api/v1/patients/me/uploaders/{created['id']}", headers=headers)
    assert again.status_code == 404


def test_uploader_input_is_checked(client, headers):
    for body in ({}, {"name": ""}, {"name": 5}, {"name": "x" * 101}, {"name": "a", "extra": 1}):
        response = client.post("/api/v1/patients/me/uploaders", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.mimetype == "application/problem+json"


def test_caregiver_with_log_creates_one_with_view_only_lists(client, factory, patient):
    logger, viewer = factory.user("patient"), factory.user("patient")
    factory.grant(patient, logger, permissions=("view", "log"))
    factory.grant(patient, viewer, permissions=("view",))
    path = f"/api/v1/patients/{patient.pk}/uploaders"
    made = client.post(path, json={"name": "Spike"}, headers=factory.headers(logger))
    assert made.status_code == 201
    assert client.post(path, json={"name": "x"}, headers=factory.headers(viewer)).status_code == 403
    listed = client.get(path, headers=factory.headers(viewer))
    assert [u["name"] for u in listed.get_json()] == ["Spike"]
    revoke = client.delete(f"{path}/{made.get_json()['id']}", headers=factory.headers(viewer))
    assert revoke.status_code == 403


def test_uploaders_of_another_patient_are_not_found(client, factory, headers, uploader, mongo):
    other = factory.patient()
    other_headers = factory.headers(other)
    theirs = make_uploader(client, other_headers)
    mine_path = f"/api/v1/patients/me/uploaders/{theirs['id']}"
    assert client.delete(mine_path, headers=headers).status_code == 404
    their_path = f"/api/v1/patients/{other.pk}/uploaders"
    assert client.get(their_path, headers=headers).status_code == 404
    assert client.post(their_path, json={"name": "x"}, headers=headers).status_code == 404
    assert client.delete(f"{their_path}/{theirs['id']}", headers=headers).status_code == 404
    assert mongo.glucose_uploaders.count_documents({"revoked_at": None}) == 2
    assert client.get("/api/v1/verifyauth", headers=ns(theirs)).status_code == 200


# --- who opens what -------------------------------------------------------------------------


def test_keys_open_only_their_own_side(client, headers, uploader):
    # A CarePact token never opens the Nightscout routes.
    for path in ("/api/v1/status.json", "/api/v1/entries.json", "/api/v1/verifyauth"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.get_json()["message"] == "Unauthorized"
    # An uploader key never opens CarePact's routes, as a header, a token or a bearer.
    secret = uploader["secret"]
    for attempt in (
        {"headers": ns(uploader)},
        {"query_string": {"token": secret}},
        {"headers": {"Authorization": f"Bearer {secret}"}},
        {"headers": {"Authorization": f"Bearer {uploader['api_secret_sha1']}"}},
    ):
        response = client.get("/api/v1/patients/me/logs", **attempt)
        assert response.status_code == 401, attempt
        assert response.mimetype == "application/problem+json"
    # Wrong keys.
    for attempt in ({"api-secret": "0" * 40}, {"api-secret": "nonsense"}, {}):
        assert client.get("/api/v1/entries.json", headers=attempt).status_code == 401
    assert client.get("/api/v1/entries.json?token=wrong").status_code == 401
    assert client.get(f"/api/v1/entries.json?token={secret}").status_code == 200
    # A plain secret in the header is hashed as Nightscout does.
    assert client.get("/api/v1/verifyauth", headers={"api-secret": secret}).status_code == 200


def test_status_and_checks(client, uploader, patient):
    status = client.get("/api/v1/status.json", headers=ns(uploader)).get_json()
    assert status["status"] == "ok" and status["apiEnabled"] is True
    assert status["careportalEnabled"] is True and status["settings"]["units"] == "mg/dl"
    assert abs(status["serverTimeEpoch"] - ms(datetime.now(UTC))) < 60_000
    verify = client.get("/api/v1/verifyauth", headers=ns(uploader)).get_json()
    assert verify == {
        "status": 200,
        "message": {"canRead": True, "canWrite": True, "isAdmin": False, "message": "OK"},
    }
    assert client.get("/api/v1/experiments/test", headers=ns(uploader)).get_json() == {
        "status": "ok"
    }


# --- entries --------------------------------------------------------------------------------


def test_xdrip_upload_is_stored_once_and_read_back(client, uploader, mongo, patient, headers):
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [xdrip_entry(now - timedelta(minutes=5 * i), 100 + i) for i in range(6)]
    first = client.post("/api/v1/entries", json=readings, headers={**ns(uploader), **XDRIP_UA})
    assert first.status_code == 200
    ids = [item["_id"] for item in first.get_json()]
    assert len(ids) == 6 and all(isinstance(i, str) and len(i) == 24 for i in ids)
    assert len(set(ids)) == 6
    again = client.post("/api/v1/entries.json", json=readings, headers=ns(uploader))
    assert [item["_id"] for item in again.get_json()] == ids
    one = client.post("/api/v1/entries", json=readings[0], headers=ns(uploader))
    assert [item["_id"] for item in one.get_json()] == ids[:1]

    stored = sum(len(b.get("s", {})) for b in mongo.glucose_buckets.find({"patient": patient.pk}))
    assert stored == 6
    assert sum(d["n"] for d in mongo.glucose_days.find({"patient": patient.pk})) == 6
    assert mongo.log_entries.count_documents({}) == 0  # the log sync is not flooded

    listed = client.get("/api/v1/entries.json?count=3", headers=ns(uploader)).get_json()
    assert [e["sgv"] for e in listed] == [100, 101, 102]
    assert [e["_id"] for e in listed] == ids[:3]
    assert listed[0]["direction"] == "Flat" and listed[0]["delta"] == -1
    assert listed[0]["dateString"] == readings[0]["dateString"]
    current = client.get("/api/v1/entries/current.json", headers=ns(uploader)).get_json()
    assert [e["sgv"] for e in current] == [100]
    uploaders = client.get("/api/v1/patients/me/uploaders", headers=headers).get_json()
    assert uploaders[0]["last_reading_at"].startswith(readings[0]["dateString"][:19])
    assert uploaders[0]["last_seen_at"] is not None


def test_date_filters(client, uploader):
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [xdrip_entry(now - timedelta(minutes=5 * i), 100 + i) for i in range(24)]
    client.post("/api/v1/entries", json=readings, headers=ns(uploader))
    dates = [r["date"] for r in readings]

    def get(query):
        response = client.get(f"/api/v1/entries/sgv.json?{query}", headers=ns(uploader))
        assert response.status_code == 200, response.get_json()
        return [e["date"] for e in response.get_json()]

    assert get(f"count=100&find[date][$gte]={dates[5]}") == dates[:6]
    assert get(f"count=100&find[date][$gt]={dates[5]}") == dates[:5]
    assert get(f"count=100&find[date][$lte]={dates[20]}") == dates[20:]
    assert (
        get(f"count=100&find[date][$lt]={dates[20]}&find[date][$gte]={dates[22]}") == dates[21:23]
    )
    iso = readings[3]["dateString"]
    assert get(f"count=100&find[dateString][$gte]={iso}") == dates[:4]
    assert get("count=0") == dates  # count=0: all
    bad = client.get("/api/v1/entries.json?count=many", headers=ns(uploader))
    assert bad.status_code == 422 and "count" in bad.get_json()["description"]
    bad = client.get("/api/v1/entries.json?find[date][$gte]=soon", headers=ns(uploader))
    assert bad.status_code == 422


def test_bad_items_are_refused_and_the_rest_stored(client, uploader, mongo, patient):
    now = datetime.now(UTC).replace(microsecond=0)
    good = xdrip_entry(now, 120)
    posted = [
        good,
        xdrip_entry(now - timedelta(minutes=5), 19),
        xdrip_entry(now - timedelta(minutes=10), 601),
        xdrip_entry(now + timedelta(minutes=6), 120),
        xdrip_entry(now - timedelta(days=31), 120),
        {**xdrip_entry(now - timedelta(minutes=15), 120), "type": "xyz"},
        {**xdrip_entry(now - timedelta(minutes=20), 120), "sgv": "120"},
        {"type": "sgv", "sgv": 100},
        "not an object",
        {**xdrip_entry(now - timedelta(minutes=25), 120), "device": "x" * 5000},
        xdrip_entry(now - timedelta(minutes=30), 20),
        xdrip_entry(now - timedelta(minutes=35), 600),
    ]
    response = client.post("/api/v1/entries", json=posted, headers=ns(uploader))
    assert response.status_code == 200
    answer = response.get_json()
    assert len(answer) == len(posted)
    assert all(isinstance(item["_id"], str) for item in answer)
    refused = [i for i, item in enumerate(answer) if item.get("refused")]
    assert refused == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert "sgv" in answer[1]["errors"] and "date" in answer[3]["errors"]
    assert "date" in answer[4]["errors"] and "type" in answer[5]["errors"]
    assert "_item" in answer[8]["errors"] and "_item" in answer[9]["errors"]
    values = sorted(
        v % 10_000
        for b in mongo.glucose_buckets.find({"patient": patient.pk})
        for v in b["s"].values()
    )
    assert values == [200, 1200, 6000]


def test_bodies_malformed_compressed_and_oversized(client, uploader, mongo, patient):
    now = datetime.now(UTC).replace(microsecond=0)
    readings = [xdrip_entry(now - timedelta(minutes=5 * i), 150) for i in range(288)]
    body = gzip.compress(json.dumps(readings).encode())
    response = client.post(
        "/api/v1/entries",
        data=body,
        headers={**ns(uploader), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200 and len(response.get_json()) == 288
    before = mongo.glucose_buckets.count_documents({})

    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]")
    assert len(bomb) < 1024 * 1024
    response = client.post(
        "/api/v1/entries",
        data=bomb,
        headers={**ns(uploader), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.get_json()["status"] == 413
    not_gzip = client.post(
        "/api/v1/entries",
        data=b"plain",
        headers={**ns(uploader), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert not_gzip.status_code == 400
    broken = client.post(
        "/api/v1/entries",
        data=b"[{",
        headers={**ns(uploader), "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.get_json()["message"] == "Bad Request"
    huge = client.post(
        "/api/v1/entries",
        data=b"[" + b"1," * 800_000 + b"1]",
        headers={**ns(uploader), "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    # Without a key, a bad body still hears 401.
    assert client.post("/api/v1/entries", data=b"[{").status_code == 401
    assert mongo.glucose_buckets.count_documents({}) == before


def test_loop_treatments_and_device_status(client, factory, patient, uploader, headers, mongo):
    carbs = {
        "id": "g_carbs",
        "kind": "diet",
        "title": "Carbs",
        "measure": "carbohydrates",
        "unit": "g",
        "target": {"op": "at_most", "value": 180},
    }
    on_plan(factory, patient, carbs)
    now = datetime.now(UTC).replace(microsecond=0)
    meal = {
        "eventType": "Carb Correction",
        "carbs": 45,
        "absorptionTime": 180,
        "created_at": (now - timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
        "enteredBy": "loop://iPhone",
        "syncIdentifier": "5E3C5D3A-1111-4B36-9A6A-0F4C1A4C6B7B",
    }
    bolus = {
        "eventType": "Correction Bolus",
        "insulin": 2.5,
        "created_at": (now - timedelta(minutes=25)).isoformat().replace("+00:00", "Z"),
        "enteredBy": "loop://iPhone",
    }
    bad = {"eventType": "Meal Bolus", "carbs": -5, "created_at": now.isoformat()}
    response = client.post("/api/v1/treatments", json=[meal, bolus, bad], headers=ns(uploader))
    answer = response.get_json()
    assert response.status_code == 200 and len(answer) == 3
    assert answer[2]["refused"] and "carbs" in answer[2]["errors"]
    again = client.post("/api/v1/treatments", json=[meal], headers=ns(uploader)).get_json()
    assert again[0]["_id"] == answer[0]["_id"]
    assert mongo.glucose_treatments.count_documents({"patient": patient.pk}) == 2
    logged = list(mongo.log_entries.find({"patient": patient.pk}))
    assert [(e["goal_id"], e["value"], e["source"]) for e in logged] == [
        ("g_carbs", 45.0, "device")
    ]
    listed = client.get("/api/v1/treatments.json", headers=ns(uploader)).get_json()
    assert [t["eventType"] for t in listed] == ["Correction Bolus", "Carb Correction"]

    status = {
        "device": "loop://iPhone",
        "created_at": now.isoformat(),
        "uploader": {"battery": 64, "name": "iPhone"},
        "loop": {"iob": {"iob": 1.2}},
    }
    response = client.post("/api/v1/devicestatus", json=status, headers=ns(uploader))
    assert response.status_code == 200 and isinstance(response.get_json()[0]["_id"], str)
    shown = client.get("/api/v1/patients/me/uploaders", headers=headers).get_json()[0]
    assert shown["battery"] == 64 and shown["device"] == "loop://iPhone"


def test_meter_readings_count_toward_the_glucose_goal(client, factory, patient, uploader, mongo):
    on_plan(factory, patient, GLUCOSE_MONITORING)
    now = datetime.now(UTC).replace(microsecond=0)
    meter = {"type": "mbg", "mbg": 132, "date": ms(now), "device": "xDrip-Contour"}
    for _ in range(2):
        response = client.post("/api/v1/entries", json=[meter], headers=ns(uploader))
        assert response.status_code == 200
    logged = list(mongo.log_entries.find({"patient": patient.pk}))
    assert [(e["goal_id"], e["value"]) for e in logged] == [("g_glucose", 132.0)]
    listed = client.get("/api/v1/entries.json", headers=ns(uploader)).get_json()
    assert listed[0]["type"] == "mbg" and listed[0]["mbg"] == 132


def test_cgm_day_worn_enough_counts_as_monitored(
    app, client, factory, patient, uploader, headers, mongo
):
    on_plan(factory, patient, GLUCOSE_MONITORING)
    yesterday = datetime.now(ZoneInfo("Europe/Paris")).date() - timedelta(days=1)
    trace = cgm_traces.trace(yesterday, 1, tz="Europe/Paris", seed=4)
    below = trace[: int(0.7 * 288) - 1]
    client.post("/api/v1/entries", json=below, headers=ns(uploader))

    def met():
        report = client.get(
            f"/api/v1/patients/me/adherence?from={yesterday}&to={yesterday}", headers=headers
        ).get_json()
        return report["goals"][0]["series"][0]["met"]

    assert met() is False
    client.post("/api/v1/entries", json=trace[len(below) : len(below) + 2], headers=ns(uploader))
    assert met() is True
    # The rebuild from the log computes the same rollups (the CGM marker is kept).
    stored = list(mongo.adherence_rollups.find({}, {"rev": 0}))
    assert app.test_cli_runner().invoke(args=["rebuild-adherence"]).exit_code == 0
    assert list(mongo.adherence_rollups.find({}, {"rev": 0})) == stored
    assert met() is True


def test_erasure_takes_every_cgm_record(client, uploader, headers, patient, mongo):
    from tests.test_erasure import erase, mentions

    now = datetime.now(UTC).replace(microsecond=0)
    readings = [xdrip_entry(now - timedelta(minutes=5 * i), 100) for i in range(3)]
    client.post("/api/v1/entries", json=readings, headers=ns(uploader))
    meal = {"eventType": "Meal", "carbs": 30, "created_at": now.isoformat()}
    client.post("/api/v1/treatments", json=meal, headers=ns(uploader))
    collections = {"glucose_uploaders", "glucose_buckets", "glucose_days", "glucose_treatments"}
    assert collections <= {name for name, _ in mentions(mongo, patient.pk)}
    assert erase(client, headers).status_code == 204
    assert not collections & {name for name, _ in mentions(mongo, patient.pk)}
    assert client.get("/api/v1/verifyauth", headers=ns(uploader)).status_code == 401


def test_a_new_zone_files_later_readings_in_its_days(client, uploader, headers, mongo, patient):
    response = client.patch("/api/v1/me", json={"timezone": "Asia/Tokyo"}, headers=headers)
    assert response.status_code == 200
    assert mongo.glucose_uploaders.find_one({"patient": patient.pk})["tz"] == "Asia/Tokyo"
    at = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0)
    if at > datetime.now(UTC):
        at -= timedelta(days=1)
    client.post("/api/v1/entries", json=xdrip_entry(at, 99), headers=ns(uploader))
    tokyo_day = at.astimezone(ZoneInfo("Asia/Tokyo")).date().isoformat()
    assert mongo.glucose_days.find_one({"patient": patient.pk})["day"] == tokyo_day


def test_the_list_follows_a_live_sensor_within_one_reading(client, uploader, headers, mongo):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

    def last_reading():
        shown = client.get("/api/v1/patients/me/uploaders", headers=headers).get_json()[0]
        return datetime.fromisoformat(shown["last_reading_at"].replace("Z", "+00:00"))

    for minutes in (0, 5, 10):
        at = start + timedelta(minutes=minutes)
        client.post("/api/v1/entries", json=xdrip_entry(at, 110), headers=ns(uploader))
        assert timedelta(0) <= at - last_reading() <= timedelta(minutes=5)
    assert last_reading() == start + timedelta(minutes=10)
