"""SIGTERM and SIGINT: the worker stops where it stands, with one log line and exit code 0.

A signal becomes `Stop` in the main thread only inside `interruptible()` blocks (waiting for
the database, waiting between jobs, a `--once` run). Elsewhere (importing the app, starting
the scheduler) it is held and raised at the next such block, a moment later, so no stop ever
lands half-way through the scheduler's own start or shutdown. A second signal while the first
is being handled is ignored: the stop is already under way.
"""

import signal
from contextlib import contextmanager

HANDLED = (signal.SIGTERM, signal.SIGINT)


class Stop(BaseException):
    """Not an Exception: no `except Exception` on the way (a job's, the driver's) swallows it."""


class Signals:
    def __init__(self):
        self.received: str | None = None
        self.interruptible_now = False

    def install(self) -> None:
        for signum in HANDLED:
            signal.signal(signum, self._handle)

    def _handle(self, signum, _frame) -> None:
        if self.received:
            return
        self.received = signal.Signals(signum).name
        if self.interruptible_now:
            raise Stop(self.received)

    @contextmanager
    def interruptible(self):
        """Inside, a signal (or one held since before) raises `Stop` at once."""
        if self.received:
            raise Stop(self.received)
        self.interruptible_now = True
        try:
            yield
        finally:
            self.interruptible_now = False


SIGNALS = Signals()
