"""`python -m jobs` as deployed, in a subprocess against the test database."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """Starts the worker with `env` added to the test environment; collects its log lines."""

    def __init__(self, mongo_uri: str, **env):
        self.env = {
            **os.environ,
            "MONGODB_URI": mongo_uri,
            "CAREPACT_ENV": "test",
            "LOG_LEVEL": "INFO",
            **{k: str(v) for k, v in env.items()},
        }
        self.lines: list[dict] = []
        self.stderr: list[str] = []  # every line, JSON or not (a traceback is not)
        self.process: subprocess.Popen | None = None

    def _read(self) -> None:
        for raw in self.process.stderr:
            self.stderr.append(raw)
            if raw.startswith("{"):
                self.lines.append(json.loads(raw))

    def start(self, timeout: float = 30) -> "WorkerProcess":
        """Start, and wait until it has started its scheduler."""
        self.spawn()
        self.wait_for(lambda: self.logged("worker started"), timeout, "the worker to start")
        return self

    def spawn(self, *args: str) -> "WorkerProcess":
        """Start (with `args`, e.g. `--once`), and return at once."""
        self.process = subprocess.Popen(  # noqa: S603 - our own worker, our own arguments
            [sys.executable, "-m", "jobs", *args],
            cwd=ROOT,
            env=self.env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def logged(self, message: str) -> list[dict]:
        return [line for line in list(self.lines) if line.get("msg") == message]

    def failures(self) -> list[dict]:
        return self.logged("job failed")

    def wait_for(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if result := condition():
                return result
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited ({self.process.returncode}): {self.lines}")
            time.sleep(0.1)
        raise AssertionError(f"waited {timeout}s for {what}; worker log: {self.lines[-20:]}")

    def kill(self) -> None:
        """SIGKILL: no chance to finish or hand anything back."""
        self.process.kill()
        self.process.wait(timeout=10)

    def handles_sigterm(self) -> bool:
        """Whether the process has a SIGTERM handler of its own yet (Linux's SigCgt mask)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(caught.split()[1], 16) >> (signal.SIGTERM - 1) & 1)

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then its exit code once it has exited and its stderr is read."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return code

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
