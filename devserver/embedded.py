"""Start and stop the embedded SecantusDB server as a subprocess.

The server speaks the MongoDB wire protocol over TCP, so the app talks to it exactly as it
would talk to a real MongoDB; it is never imported into the app process.
"""

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PR_SET_PDEATHSIG = 1


def _die_with_owner() -> None:
    """Linux: SIGTERM the server when the process that started it dies without stopping it
    (a test run killed by a timeout), so no orphaned server keeps burning CPU."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _server_executable() -> str:
    beside_python = Path(sys.executable).with_name("secantusd-py")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: install requirements-dev.txt (SecantusDB)")
    return found


class EmbeddedMongo:
    """One secantusd-py process on 127.0.0.1.

    `storage_path=":memory:"` gives a throw-away server (tests); a directory keeps data
    across restarts (`make run`).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        storage_path: str = ":memory:",
        test_commands: bool = False,
        log_path: str | None = None,
    ):
        self.port = port or free_port()
        self.storage_path = storage_path
        self.test_commands = test_commands
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 30.0) -> "EmbeddedMongo":
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
        args = [
            _server_executable(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            self.storage_path,
            "--log-level",
            "WARNING",
        ]
        if self.test_commands:
            args.append("--enable-test-commands")
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # A new session keeps Ctrl-C in the terminal from reaching the server directly:
        # its owner stops it last, after the API and the worker have let go of it.
        self.process = subprocess.Popen(
            args,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_owner,
        )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = MongoClient(self.uri, serverSelectionTimeoutMS=250)
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"secantusd-py exited with code {self.process.returncode}")
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"secantusd-py did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def discard(self) -> None:
        """Kill a throw-away (in-memory) server at once: it has nothing to write out."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> "EmbeddedMongo":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def default_data_dir() -> str:
    return os.environ.get("CAREPACT_DATA_DIR", str(Path.cwd() / "var" / "db"))
