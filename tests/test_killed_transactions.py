"""A process killed inside a transaction does not block its documents' other writers.

The database keeps a killed process's transaction open until it idles past its lifetime
(60 s): every other write to the patient's summary failed with WriteConflict meanwhile, so
after a gunicorn worker was killed in the chaos run that patient's logs were answered 503
for as long. The gunicorn master now aborts a dead worker's transactions when it reaps it,
and a jobs worker those of its dead predecessors as it starts (api/session_ledger.py).
"""

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

from bench import common
from devserver.embedded import free_port
from tests.log_helpers import entry, plan, post

APP_NAME = "worker-to-kill"


def _block_inserts(mongo, app_name: str):
    """Hold every insert that `app_name`'s connections send (the entry's own, inside the
    transaction, after the summary write)."""
    mongo.client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode="alwaysOn",
        data={
            "failCommands": ["insert"],
            "appName": app_name,
            "blockConnection": True,
            "blockTimeMS": 60_000,
        },
    )


def _blocked_on_insert(mongo, app_name: str) -> bool:
    ops = mongo.client.admin.command("currentOp")["inprog"]
    return any(
        op.get("op") == "insert"
        and (op.get("clientMetadata") or {}).get("application", {}).get("name") == app_name
        for op in ops
    )


def _post_log(port: int, headers: dict, body: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST",
        "/api/v1/patients/me/logs",
        json.dumps(body),
        {**headers, "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def _worker_pid(master: int) -> int:
    with open(f"/proc/{master}/task/{master}/children") as children:
        return int(children.read().split()[0])


def test_a_worker_killed_inside_a_transaction_leaves_its_patient_writable(
    client, factory, mongo, mongo_uri, tmp_path
):
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201  # the summary exists
    port = free_port()
    env = {
        **os.environ,
        "MONGODB_URI": f"{mongo_uri}&appName={APP_NAME}",
        "CAREPACT_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "SESSION_LEDGER_DIR": str(tmp_path / "ledger"),
    }
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed below
    api = common.start_gunicorn("wsgi:app", port, env, 1, log)
    try:
        _block_inserts(mongo, APP_NAME)
        killed = entry(p)
        cut = threading.Thread(
            target=lambda: _swallow(lambda: _post_log(port, p.headers, killed)), daemon=True
        )
        cut.start()
        deadline = time.monotonic() + 30
        while not _blocked_on_insert(mongo, APP_NAME):
            assert time.monotonic() < deadline, "the request never reached its insert"
            time.sleep(0.05)
        worker = _worker_pid(api.pid)
        ledgers = list((tmp_path / "ledger").iterdir())
        assert [path.name for path in ledgers] == [f"{worker}.lsids"]
        os.kill(worker, signal.SIGKILL)
        mongo.client.admin.command("configureFailPoint", "failCommand", mode="off")
        cut.join(timeout=30)

        # The master's replacement worker: the patient's next log is stored at once, not
        # after a minute of 503s (the transaction's retries last 3 s, then 503).
        after = entry(p)
        started = time.monotonic()
        status, body = _post_log(port, p.headers, after)
        assert status == 201, body
        assert time.monotonic() - started < 3
        assert mongo.log_entries.count_documents({"uid": after["id"]}) == 1
        # The killed request's transaction was aborted, not committed.
        assert mongo.log_entries.count_documents({"uid": killed["id"]}) == 0
        assert not (tmp_path / "ledger" / f"{worker}.lsids").exists()
    finally:
        mongo.client.admin.command("configureFailPoint", "failCommand", mode="off")
        api.terminate()
        api.wait(timeout=20)
        log.close()


def test_a_jobs_worker_aborts_the_transactions_its_killed_predecessor_left(
    client, factory, mongo, mongo_uri, tmp_path
):
    """A transaction held open by a killed process (here a child that opened one on the
    patient's summary and was SIGKILLed) is aborted when `python -m jobs` starts."""
    p = plan(factory)
    assert post(client, p, entry(p)).status_code == 201
    ledger = tmp_path / "ledger"
    env = {**os.environ, "MONGODB_URI": mongo_uri, "SESSION_LEDGER_DIR": str(ledger)}
    holder = subprocess.Popen(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", HOLD_A_TRANSACTION, mongo_uri, str(p.patient.pk)],
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"holding"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        blocked = post(client, p, entry(p))
        assert blocked.status_code == 503, blocked.get_json()  # WriteConflict for 3 s
        jobs = subprocess.run(
            [sys.executable, "-m", "jobs", "--once"],
            cwd=common.ROOT,
            env={**env, "CAREPACT_ENV": "test"},
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert jobs.returncode == 0, jobs.stderr.decode()[-2000:]
        assert list(ledger.iterdir()) == []
        again = entry(p)
        assert post(client, p, again).status_code == 201
        assert mongo.log_entries.count_documents({"uid": again["id"]}) == 1
    finally:
        if holder.poll() is None:
            holder.kill()


HOLD_A_TRANSACTION = """
import sys, time
from bson import ObjectId
from api import db, transactions
db.connect(sys.argv[1], 3000)
def hold():
    summaries = db.database().adherence_summaries
    summaries.update_one({"_id": ObjectId(sys.argv[2])}, {"$set": {"held": 1}})
    print("holding", flush=True)
    time.sleep(600)
transactions.run(hold)
"""


def _swallow(call) -> None:
    with contextlib.suppress(OSError, http.client.HTTPException):
        call()  # the worker serving it is killed
