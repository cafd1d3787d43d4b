"""The database stops and comes back on the same data path (the chaos run's restart): every
route of the load mix answers 503 problem+json with Retry-After while it is away, never a
500, and answers normally again within seconds of its return, with nothing lost."""

import time

from api import create_app, db, migrations
from api.clock import utcnow
from api.extensions import limiter
from devserver.embedded import EmbeddedMongo, free_port
from tests.factories import Factory
from tests.log_helpers import entry, plan, post
from tests.test_faults import assert_unavailable

BACK_WITHIN_S = 10


def _requests(client, p):
    """The load mix (bench/load.py): a log, a batch, a sync, a panel, an adherence."""
    provider = Factory(client.application).headers(p.provider)
    pid = str(p.patient.pk)
    return {
        "log": lambda: post(client, p, entry(p)),
        "batch": lambda: client.post(
            "/api/v1/patients/me/logs/batch",
            json={"entries": [entry(p), entry(p, goal="g_glucose", value=120)]},
            headers=p.headers,
        ),
        "sync": lambda: client.get("/api/v1/patients/me/logs?since=0", headers=p.headers),
        "panel": lambda: client.get("/api/v1/panel?page_size=25", headers=provider),
        "adherence": lambda: client.get(f"/api/v1/patients/{pid}/adherence", headers=provider),
        "me": lambda: client.get("/api/v1/me", headers=p.headers),
    }


def test_a_database_restarted_on_its_data_path_is_a_503_then_back_to_normal(tmp_path):
    port = free_port()
    server = EmbeddedMongo(port=port, storage_path=str(tmp_path / "db")).start()
    uri = f"mongodb://127.0.0.1:{port}/restart?directConnection=true"
    app = create_app({"CAREPACT_ENV": "test", "MONGODB_URI": uri, "MONGODB_TIMEOUT_MS": 1000})
    client = app.test_client()
    try:
        with app.app_context():
            migrations.migrate(now=utcnow())
            p = plan(Factory(app))
            first = entry(p)
            assert post(client, p, first).status_code == 201
            calls = _requests(client, p)
            for name, call in calls.items():
                assert call().status_code < 300, name

            server.stop()
            for name, call in calls.items():
                response = call()
                assert response.status_code == 503, (name, response.get_data(as_text=True))
                assert_unavailable(response)

            server.start()
            deadline = time.monotonic() + BACK_WITHIN_S
            for name, call in calls.items():
                while (response := call()).status_code >= 500:
                    assert time.monotonic() < deadline, (name, response.get_json())
                    time.sleep(0.1)
                assert response.status_code < 300, (name, response.get_json())
            stored = db.database().log_entries.count_documents({"uid": first["id"]})
            assert stored == 1
    finally:
        limiter.storage.close()
        db.disconnect()
        server.stop()
