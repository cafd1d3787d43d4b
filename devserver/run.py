"""`make run`: the embedded database, demo data, the API under gunicorn and the jobs worker.

Ctrl-C or SIGTERM stops them all: the API and the worker first, the database last.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from api.config import DEFAULT_MONGODB_URI
from devserver.embedded import EmbeddedMongo, default_data_dir

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEVELOPMENT_METRICS_TOKEN = "carepact-development-metrics"  # noqa: S105  # nosec B105


def _say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def _embedded_port() -> int:
    return int(DEFAULT_MONGODB_URI.split(":")[2].split("/")[0])


class Supervisor:
    def __init__(self):
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.database: EmbeddedMongo | None = None
        self.stopping = False

    def start_database(self, env: dict) -> None:
        if "MONGODB_URI" in os.environ:
            _say("using the database in MONGODB_URI")
            return
        data_dir = default_data_dir()
        Path(data_dir).parent.mkdir(parents=True, exist_ok=True)
        self.database = EmbeddedMongo(
            port=_embedded_port(), storage_path=data_dir, log_path=f"{data_dir}.log"
        ).start()
        env["MONGODB_URI"] = DEFAULT_MONGODB_URI
        _say(f"embedded database on 127.0.0.1:{self.database.port}, data in {data_dir}")

    def spawn(self, name: str, args: list[str], env: dict) -> None:
        self.children.append((name, subprocess.Popen(args, cwd=ROOT, env=env)))

    def stop(self, *_signal) -> None:
        if self.stopping:
            return
        self.stopping = True
        _say("stopping")
        for _name, child in self.children:
            if child.poll() is None:
                child.terminate()
        for _name, child in self.children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.database:
            self.database.stop()
        _say("stopped")

    def watch(self) -> int:
        while not self.stopping:
            for name, child in self.children:
                if child.poll() is not None:
                    _say(f"{name} exited with code {child.returncode}")
                    self.stop()
                    return 1
            time.sleep(0.5)
        return 0


def metrics_dir(env: dict) -> str:
    """A fresh PROMETHEUS_MULTIPROC_DIR shared by the API's workers and the jobs worker:
    the counters start at zero with each `make run`, as they would after a deploy."""
    path = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or ROOT / "var" / "metrics")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return str(path)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("CAREPACT_ENV", "development")
    port = env.setdefault("PORT", "8000")
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir(env)
    if env["CAREPACT_ENV"] == "development":
        env.setdefault("METRICS_TOKEN", DEVELOPMENT_METRICS_TOKEN)
    supervisor = Supervisor()
    signal.signal(signal.SIGINT, supervisor.stop)
    signal.signal(signal.SIGTERM, supervisor.stop)
    try:
        supervisor.start_database(env)
        for command in ("init", "seed-demo"):
            done = subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", command], cwd=ROOT, env=env, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"`flask --app wsgi {command}` failed")
        supervisor.spawn(
            "api",
            # gunicorn.conf.py: threaded workers, timeouts, no gunicorn `Server` header;
            # it binds 127.0.0.1:$PORT and runs $WEB_CONCURRENCY workers.
            [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
            env,
        )
        supervisor.spawn("jobs", [sys.executable, "-m", "jobs"], env)
        _say(f"API on http://127.0.0.1:{port}  docs: http://127.0.0.1:{port}/api/v1/docs")
        if env.get("METRICS_TOKEN") == DEVELOPMENT_METRICS_TOKEN:
            _say(
                f"metrics: curl -H 'Authorization: Bearer {DEVELOPMENT_METRICS_TOKEN}' "
                f"http://127.0.0.1:{port}/metrics"
            )
        # localhost, not 127.0.0.1: browsers keep the console's Secure cookies there over HTTP.
        _say(f"clinician console: http://localhost:{port}/console/login (demo logins above)")
        _say("Ctrl-C stops everything")
        return supervisor.watch()
    except Exception as error:
        _say(f"error: {error}")
        supervisor.stop()
        return 1


if __name__ == "__main__":
    sys.exit(main())
