"""What one process keeps between requests: a bounded, thread-safe map, least recently used
dropped first. Whether a kept value may still be trusted is its owner's rule
(`tracking.agreement_memory`, `identity.session_memory`)."""

import threading
import time
from collections import OrderedDict
from typing import Any


class ProcessMemory:
    def __init__(self, size: int):
        self.size = size
        self._kept: OrderedDict[Any, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key) -> tuple[Any, float] | None:
        """(value, when it was kept, on the monotonic clock), or None."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def keep(self, key, value) -> None:
        with self._lock:
            self._kept[key] = (value, time.monotonic())
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def forget(self, key) -> None:
        with self._lock:
            self._kept.pop(key, None)

    def forget_all(self) -> None:
        with self._lock:
            self._kept.clear()
