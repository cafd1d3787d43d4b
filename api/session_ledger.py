"""The transactions a killed process leaves open are aborted as soon as its death is seen.

A process killed inside a transaction (SIGKILL, the OOM killer, a gunicorn timeout) leaves it
open on the server, which aborts it only when it has idled past its lifetime (MongoDB's
`transactionLifetimeLimitSeconds`, 60 s; the embedded server's too). Until then every other
writer of a document it wrote fails with WriteConflict: that patient's every log answered
503 for a minute. Each process therefore notes the server sessions it runs transactions on,
one line per session the first time it uses it (the driver pools a handful), in a file named
by its pid; whoever sees a process die (the gunicorn master in `child_exit`, a jobs worker as
it starts) sends `killSessions` for the dead process's sessions, which aborts their
transactions at once, and removes its file. A session already ended is ignored by the server.
"""

import atexit
import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from bson.binary import UUID_SUBTYPE, Binary
from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger("carepact.sessions")

SUFFIX = ".lsids"
KILL_TIMEOUT_MS = 2000
_noted: tuple[int, set[bytes]] = (0, set())  # (pid, session ids noted by that process)
_ledgers: set[Path] = set()  # this process's files, removed when it exits cleanly


def ledger_dir(uri: str) -> Path:
    """SESSION_LEDGER_DIR, or one directory per database under the system's temp directory
    (every process of one deployment on this host shares it)."""
    if os.environ.get("SESSION_LEDGER_DIR"):
        return Path(os.environ["SESSION_LEDGER_DIR"])
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "carepact-sessions" / digest


def note(uri: str, session_id: dict) -> None:
    """Remember that this process runs transactions on `session_id` (a driver lsid)."""
    global _noted
    pid = os.getpid()
    if _noted[0] != pid:  # forked: the parent's sessions are not this process's
        _noted = (pid, set())
    raw = bytes(session_id["id"])
    if raw in _noted[1]:
        return
    folder = ledger_dir(uri)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}{SUFFIX}"
    with open(path, "a") as ledger:
        ledger.write(raw.hex() + "\n")
    _noted[1].add(raw)
    if path not in _ledgers:
        _ledgers.add(path)
        atexit.register(_remove, path)


def _remove(ledger: Path) -> None:
    """At a clean exit: this process's ledger, and its directory once no process has one."""
    ledger.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # another process's ledger is still there
        ledger.parent.rmdir()


def abort_dead(uri: str, pids=None) -> int:
    """Kill the sessions of dead processes (`pids`, or every dead process with a ledger) and
    forget them. Returns how many sessions were killed; a ledger stays when the database
    cannot be reached, for the next sweep."""
    folder = ledger_dir(uri)
    candidates = [folder / f"{pid}{SUFFIX}" for pid in pids] if pids else folder.glob(f"*{SUFFIX}")
    dead = [path for path in candidates if path.exists() and not _alive(int(path.stem))]
    if not dead:
        return 0
    killed = 0
    client = MongoClient(uri, serverSelectionTimeoutMS=KILL_TIMEOUT_MS, connect=False)
    try:
        for path in dead:
            ids = [bytes.fromhex(line) for line in path.read_text().split()]
            lsids = [{"id": Binary(raw, UUID_SUBTYPE)} for raw in ids]
            if lsids:
                client.admin.command("killSessions", lsids)
            path.unlink(missing_ok=True)
            killed += len(lsids)
    except PyMongoError as error:
        log.warning(
            "could not abort a dead process's transactions", extra={"fields": {"error": str(error)}}
        )
    finally:
        client.close()
    if killed:
        log.info("aborted a dead process's transactions", extra={"fields": {"sessions": killed}})
    return killed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child its parent has not reaped yet is dead for our purpose."""
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "Z"
    return False
