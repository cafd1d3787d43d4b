"""Incremental sync: every change after a cursor exactly once, in order, tombstones included."""

import threading
from datetime import UTC, datetime, timedelta

from tests.log_helpers import entry, plan, post


def sync(client, p, cursor="0", limit=None):
    url = f"/api/v1/patients/me/logs?since={cursor}"
    if limit:
        url += f"&limit={limit}"
    response = client.get(url, headers=p.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_changes_come_once_in_order_with_tombstones(client, factory):
    p = plan(factory)
    ids = [post(client, p, entry(p, value=v)).get_json()["id"] for v in (10, 20, 30)]
    first = sync(client, p)
    assert [c["id"] for c in first["changes"]] == ids
    assert first["next_cursor"] == "3" and first["has_more"] is False
    client.patch(f"/api/v1/patients/me/logs/{ids[0]}", json={"value": 11}, headers=p.headers)
    client.delete(f"/api/v1/patients/me/logs/{ids[1]}", headers=p.headers)
    later = sync(client, p, first["next_cursor"])
    assert [(c["id"], c["deleted"]) for c in later["changes"]] == [(ids[0], False), (ids[1], True)]
    assert later["changes"][0]["value"] == 11
    assert sync(client, p, later["next_cursor"])["changes"] == []
    everything = sync(client, p)
    assert [c["id"] for c in everything["changes"]] == [ids[2], ids[0], ids[1]]


def test_pages_of_changes_follow_the_cursor(client, factory):
    p = plan(factory)
    ids = [post(client, p, entry(p, value=v)).get_json()["id"] for v in range(1, 8)]
    seen, cursor, more = [], "0", True
    while more:
        page = sync(client, p, cursor, limit=3)
        seen += [c["id"] for c in page["changes"]]
        cursor, more = page["next_cursor"], page["has_more"]
    assert seen == ids


def test_a_replay_does_not_stall_the_cursor(client, factory):
    p = plan(factory)
    body = entry(p)
    post(client, p, body)
    post(client, p, body)
    post(client, p, entry(p))
    result = sync(client, p)
    assert len(result["changes"]) == 2 and result["has_more"] is False


def test_a_number_still_being_written_holds_the_cursor_back(client, factory, mongo):
    p = plan(factory)
    post(client, p, entry(p))
    # A writer has taken number 2 and not stored its entry yet; number 3 is already stored.
    mongo.adherence_summaries.update_one({"_id": p.patient.pk}, {"$inc": {"seq": 1}})
    third = post(client, p, entry(p)).get_json()
    held = sync(client, p)
    assert [c["id"] for c in held["changes"]] != [] and held["next_cursor"] == "1"
    assert held["has_more"] is True
    # Long after, the writer has evidently given up: the hole is skipped.
    old = datetime.now(UTC) - timedelta(minutes=10)
    mongo.log_entries.update_one({"uid": third["id"]}, {"$set": {"changed_at": old}})
    passed = sync(client, p, held["next_cursor"])
    assert [c["id"] for c in passed["changes"]] == [third["id"]]
    assert passed["next_cursor"] == "3"


def test_bad_cursors_are_refused(client, factory):
    p = plan(factory)
    for cursor in ("abc", "-1", "1" * 30):
        response = client.get(f"/api/v1/patients/me/logs?since={cursor}", headers=p.headers)
        assert response.status_code == 422
        assert "since" in response.get_json()["errors"]


def test_sync_under_concurrent_writes_misses_nothing_and_repeats_nothing(app, factory):
    p = plan(factory)
    writers, per_writer = 4, 15
    written: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    delivered: list[str] = []
    errors: list = []

    def write():
        client = app.test_client()
        for _ in range(per_writer):
            response = post(client, p, entry(p, value=5))
            if response.status_code != 201:
                errors.append(response.get_json())
            with lock:
                written.append(response.get_json()["id"])

    def read():
        client = app.test_client()
        cursor = "0"
        while True:
            finished = done.is_set()
            page = sync(client, p, cursor, limit=7)
            delivered.extend(c["id"] for c in page["changes"])
            cursor = page["next_cursor"]
            if finished and not page["has_more"]:
                return

    threads = [threading.Thread(target=write) for _ in range(writers)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join(timeout=60)
    assert errors == []
    assert len(delivered) == len(set(delivered)) == writers * per_writer
    assert set(delivered) == set(written)
