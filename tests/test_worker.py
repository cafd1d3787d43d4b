"""The worker process and the nightly close-out."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from api.models.agreement import Checkup
from api.services.notify.push import LogChannel
from api.services.reminders import dispatch
from api.services.reminders import planning as reminders
from jobs import nightly, tasks  # noqa: F401 - registers every job
from jobs.registry import JOBS
from tests.log_helpers import periods
from tests.test_reminders import walk

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
            agreement.update(set__active_since=utc(2024, 1, 1))
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

    def test_an_overdue_checkup_notice_sets_the_flag(self, factory, mongo):
        patient = factory.patient(timezone="UTC", reminder_time="09:00")
        checkup = Checkup(id="c_a1c", name="HbA1c", interval="P3M", remind_days_before=[7])
        factory.agreement(
            patient, factory.provider(), goals=[], checkups=[checkup], start_on=utc(2024, 10, 14)
        )
        reminders.plan_all(utc(2025, 1, 14, 12))
        dispatch.tick(utc(2025, 1, 15, 9), worker="w", channel=LogChannel())
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
