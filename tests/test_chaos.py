"""The short form of `python -m bench.load --chaos`: a few seconds of load on the deployed
processes (gunicorn, `python -m jobs`, the embedded database on a data directory) while one
API worker and the jobs worker are killed with SIGKILL and the database is restarted."""

from types import SimpleNamespace

from bench import chaos, load


def test_a_short_chaos_run_loses_nothing_and_recovers():
    figures = chaos.run(SimpleNamespace(seconds=8, users=8, workers=2, patients=8), load)
    assert set(figures["faults"]) == {
        "api_worker_killed",
        "jobs_worker_killed",
        "database_stopped",
        "database_back",
    }
    assert figures["acknowledged"] > 0
    assert (figures["lost"], figures["duplicated"]) == (0, 0)
    # Never a 500 nor a 503 without Retry-After. (A 503 with Retry-After while the database
    # was there, `busy_503`, came from the killed worker's open transaction blocking its
    # patient's summary, now aborted by the master (tests/test_killed_transactions.py); the
    # bench's summary counts it against PASS, this short run on a busy machine does not.)
    assert figures["other_5xx"] == 0
    # Back to normal: the first fully successful second after the database's return.
    assert figures["recovery_s"] <= chaos.RECOVERY_S
    assert figures["notified"] > 0 and figures["missing"] == 0
    assert figures["drain_exit"] == 0
    metrics = figures["metrics"]
    # The jobs worker writes to the shared multiprocess directory: its runs are in the
    # API's scrape; the outage is counted there too.
    assert metrics["carepact_job_runs_total"] >= 8
    assert metrics["carepact_db_unavailable_total{source=request}"] >= figures["unavailable_503"]
    assert metrics["carepact_http_requests_total"] >= figures["requests"] * 0.9
