"""The worker process and the nightly close-out."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.models.agreement import Checkup
from api.schemas import shipped
from api.services.care import education
from api.services.notify import outbox
from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from jobs import nightly, tasks  # noqa: F401 - registers every job
from jobs.registry import JOBS
from tests.log_helpers import periods
from tests.test_campaigns import body, post
from tests.test_outbox import low_reading, urgent_plan
from tests.test_population import enrol, make_clinic
from tests.test_push import SECRET, Loopback
from tests.test_reminders import walk
from tests.worker_process import WorkerProcess

ROOT = Path(__file__).resolve().parent.parent


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


class TestNightly:
    def test_close_out_is_idempotent_per_patient_and_local_day(self, factory, mongo):
        tokyo = factory.patient(timezone="Asia/Tokyo")
        paris = factory.patient(timezone="Europe/Paris")
        provider = factory.provider()
        for patient in (tokyo, paris):
            agreement = factory.agreement(patient, provider, goals=[walk(["08:00"])])
            agreement.update(set__active_since=utc(2024, 1, 1), set__active_from=utc(2024, 1, 1))
        # 00:30 UTC: Paris's 15 January has just ended (01:30 on the 16th); Tokyo's long ago.
        now = utc(2025, 1, 16, 0, 30)
        assert nightly.close_days(now) == {"closed": 2, "already_closed": 0}
        assert nightly.close_days(now) == {"closed": 0, "already_closed": 2}
        closes = {
            (c["patient"], c["local_date"].date().isoformat()) for c in mongo.day_closes.find()
        }
        assert closes == {(tokyo.pk, "2025-01-15"), (paris.pk, "2025-01-15")}
        [(ref, missed)] = periods(mongo, paris.pk).items()
        assert ref == ("g_walk", "2025-01-15")
        assert (missed.get("met"), missed["closed"], missed.get("count")) == (None, True, None)
        summary = mongo.adherence_summaries.find_one({"_id": paris.pk})
        assert summary["flags"]["overdue_checkup"] is False

    def test_two_workers_closing_the_same_day_leave_one_marker_and_no_failure(self, factory, mongo):
        patient = factory.patient(timezone="Europe/Paris")
        agreement = factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        agreement.update(set__active_since=utc(2024, 1, 1), set__active_from=utc(2024, 1, 1))
        now = utc(2025, 1, 16, 0, 30)
        # Both saw the day open; the second one's marker finds the first one's.
        for _ in range(2):
            nightly.close_patient_day(patient, datetime(2025, 1, 15).date(), now)
        assert mongo.day_closes.count_documents({"patient": patient.pk}) == 1
        assert nightly.close_days(now) == {"closed": 0, "already_closed": 1}

    def test_an_overdue_checkup_notice_sets_the_flag(self, factory, mongo):
        patient = factory.patient(timezone="UTC", reminder_time="09:00")
        checkup = Checkup(id="c_a1c", name="HbA1c", interval="P3M", remind_days_before=[7])
        factory.agreement(
            patient, factory.provider(), goals=[], checkups=[checkup], start_on=utc(2024, 10, 14)
        )
        reminders.plan_all(utc(2025, 1, 14, 12))
        dispatch.tick(utc(2025, 1, 15, 9), worker="w")
        assert mongo.notifications.find_one()["kind"] == "checkup_overdue"
        nightly.close_days(utc(2025, 1, 16, 0, 30))
        assert mongo.adherence_summaries.find_one({"_id": patient.pk})["flags"]["overdue_checkup"]


class TestWorkerProcess:
    def test_every_job_is_registered(self):
        assert {job.name for job in JOBS} >= {
            "plan_reminders",
            "dispatch_reminders",
            "nightly_close",
        }

    def test_once_runs_every_job_and_exits_zero(self, mongo_uri, factory):
        patient = factory.patient(timezone="UTC")
        factory.agreement(patient, factory.provider(), goals=[walk(["08:00"])])
        env = {**os.environ, "MONGODB_URI": mongo_uri, "CAREPACT_ENV": "test"}
        result = subprocess.run(
            [sys.executable, "-m", "jobs", "--once"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
        runs = {line["job"]: line for line in lines if line["msg"] == "job run"}
        assert set(runs) >= {"plan_reminders", "dispatch_reminders", "nightly_close"}
        assert runs["plan_reminders"]["planned"] == 2
        assert all("duration_ms" in line for line in runs.values())

    def test_the_running_worker_delivers_reminders_campaigns_pushes_and_mail_unaided(
        self, client, factory, mongo, mongo_uri, smtp_server
    ):
        """`python -m jobs` as deployed (APScheduler's pool threads, no app context): a due
        reminder reaches the inbox, a campaign is sent, an urgent alert's push leaves within
        10 s of the reading and a mail arrives; no job fails. JOBS_TEST_INTERVAL_S=2 makes
        the minute jobs run every 2 s; send_outbox keeps its deployed 2 s."""
        now = datetime.now(UTC)
        due = (now - timedelta(minutes=1)).replace(second=0, microsecond=0)
        walker = factory.patient(timezone="UTC")
        factory.agreement(walker, factory.provider(), goals=[walk([f"{due:%H:%M}"])])
        reminders.plan_all(due - timedelta(minutes=1))
        education.load_starter_library(shipped.starter_items())
        provider = factory.provider()
        cid = make_clinic(client, factory, provider)
        enrol(client, factory, provider)
        campaign = post(client, factory, provider, cid, body()).get_json()
        p = urgent_plan(client, factory)
        outbox.enqueue_mail(
            key="welcome:1", to="ana@example.org", subject="Hello", text="Hi Ana", now=now
        )
        loopback = Loopback()
        worker = WorkerProcess(
            mongo_uri,
            JOBS_TEST_INTERVAL_S=2,
            PUSH_CHANNEL="webhook",
            PUSH_WEBHOOK_URL=loopback.url,
            PUSH_WEBHOOK_SECRET=SECRET,
            **smtp_server.settings,
        )
        try:
            worker.start()
            read_at = time.time()
            assert low_reading(client, p).status_code == 201
            worker.wait_for(lambda: loopback.requests, 20, "the urgent push")
            latency = loopback.requests[0]["at"] - read_at
            assert latency < 10, f"the urgent push left {latency:.1f}s after the reading"
            assert json.loads(loopback.requests[0]["body"])["title"].startswith("Urgent")
            worker.wait_for(
                lambda: mongo.notifications.find_one({"patient": walker.pk}), 30, "the reminder"
            )
            worker.wait_for(
                lambda: mongo.notifications.find_one({"key": f"campaign:{campaign['id']}"}),
                30,
                "the campaign",
            )
            [mail] = smtp_server.wait_for(1)
            assert (mail.to, mail.subject) == ("ana@example.org", "Hello")
        finally:
            worker.stop()
            loopback.close()
        reminder = mongo.notifications.find_one({"patient": walker.pk})
        assert reminder["key"] == f"goal:g_walk:{due:%Y-%m-%dT%H:%M}"
        assert mongo.campaigns.find_one()["status"] == "sent"
        assert worker.failures() == []
        ran = {line["job"] for line in worker.logged("job run")}
        assert {"dispatch_reminders", "deliver_campaigns", "send_outbox"} <= ran


class SilentDatabase:
    """A TCP port that accepts connections and never answers: a database host that hangs."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.uri = f"mongodb://127.0.0.1:{self.listener.getsockname()[1]}/x?directConnection=true"
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        with contextlib.suppress(OSError):
            while True:
                self.connections.append(self.listener.accept()[0])

    def close(self):
        for connection in [*self.connections, self.listener]:
            connection.close()


def webhook_worker(mongo_uri: str, loopback: Loopback) -> WorkerProcess:
    return WorkerProcess(
        mongo_uri, PUSH_CHANNEL="webhook", PUSH_WEBHOOK_URL=loopback.url, PUSH_WEBHOOK_SECRET=SECRET
    )


class TestStopping:
    """SIGTERM at any moment: exit code 0, one "worker stopping" line, no traceback."""

    def assert_stopped_cleanly(self, worker: WorkerProcess, code: int, before: list[str]):
        assert code == 0, worker.stderr
        assert not [line for line in worker.stderr if "Traceback" in line], worker.stderr
        assert [line["msg"] for line in worker.lines] == [*before, "worker stopping"]
        assert worker.lines[-1]["signal"] == "SIGTERM"
        assert len(worker.stderr) == len(worker.lines)  # every line is one JSON object

    def test_a_sigterm_as_soon_as_it_can_be_handled_stops_it_cleanly(self, app, mongo_uri):
        """The handler is in before the app's imports (a second or more): a SIGTERM then is
        held until they are done and stops the worker before it starts anything."""
        worker = WorkerProcess(mongo_uri).spawn()
        try:
            worker.wait_for(worker.handles_sigterm, 20, "a SIGTERM handler")
            code = worker.terminate()
        finally:
            worker.stop()
        self.assert_stopped_cleanly(worker, code, before=[])

    def test_a_sigterm_while_it_waits_for_the_database_stops_it_at_once(self):
        database = SilentDatabase()
        worker = WorkerProcess(database.uri, MONGODB_TIMEOUT_MS=60_000).spawn()
        try:
            worker.wait_for(lambda: database.connections, 30, "the worker to connect")
            time.sleep(0.3)  # well inside its wait for the database's answer
            started = time.monotonic()
            code = worker.terminate(timeout=20)
            stopped_in = time.monotonic() - started
        finally:
            worker.stop()
            database.close()
        self.assert_stopped_cleanly(worker, code, before=[])
        assert stopped_in < 10, f"stopped {stopped_in:.1f}s after the SIGTERM"

    def test_a_sigterm_while_running_lets_the_job_under_way_finish(
        self, client, factory, mongo, mongo_uri
    ):
        """A push is being sent (the push service takes 3 s to answer) when SIGTERM comes:
        the send completes and is recorded, then the worker exits 0."""
        p = urgent_plan(client, factory)
        loopback = Loopback()
        loopback.replies, loopback.hang_s = ["hang"], 3
        worker = webhook_worker(mongo_uri, loopback)
        try:
            worker.start()
            assert low_reading(client, p).status_code == 201
            worker.wait_for(lambda: loopback.requests, 20, "the push to reach the service")
            code = worker.terminate()
        finally:
            worker.stop()
            loopback.close()
        messages = [line["msg"] for line in worker.lines]
        assert messages.index("worker stopping") < messages.index("push sent")
        assert code == 0, worker.stderr
        assert not [line for line in worker.stderr if "Traceback" in line], worker.stderr
        [push] = mongo.outbox.find({"kind": "push"})
        assert push["state"] == "sent"

    def test_a_sigterm_during_a_once_run_stops_it_and_the_push_is_sent_later(
        self, client, factory, mongo, mongo_uri
    ):
        """`--once` (cron-style) stops where it is, mid-send: the push stays in the outbox,
        leased, and is due again when the lease runs out."""
        p = urgent_plan(client, factory)
        assert low_reading(client, p).status_code == 201
        loopback = Loopback()
        loopback.replies, loopback.hang_s = ["hang"], 4
        worker = webhook_worker(mongo_uri, loopback)
        worker.spawn("--once")
        try:
            worker.wait_for(lambda: loopback.requests, 60, "the push to reach the service")
            code = worker.terminate()
        finally:
            worker.stop()
            loopback.close()
        ran = [line["job"] for line in worker.lines if line["msg"] == "job run"]
        assert "send_outbox" not in ran and len(ran) == len(JOBS) - 1  # the outbox runs last
        self.assert_stopped_cleanly(worker, code, before=["job run"] * len(ran))
        [push] = mongo.outbox.find({"kind": "push"})
        assert push["state"] == "pending" and push["attempts"] == 1
        assert push["due_at"] > datetime.now(UTC)  # leased: due again when the lease ends

    def test_a_sigterm_the_moment_it_is_spawned_leaves_no_traceback(self, mongo_uri):
        """Before the interpreter runs a line the kernel's default applies (killed by
        SIGTERM, which supervisors count as a clean stop); from then on, exit code 0."""
        worker = WorkerProcess(mongo_uri).spawn()
        try:
            code = worker.terminate()
        finally:
            worker.stop()
        assert code in (0, -signal.SIGTERM), worker.stderr
        assert not [line for line in worker.stderr if "Traceback" in line], worker.stderr
        assert [line["msg"] for line in worker.lines] in ([], ["worker stopping"])
