"""Live hook sessions of recently used cases, so a post re-judges only what its event touches.

The database is the truth: a slot remembers how many events its session has seen and is
rebuilt from the stored events whenever that differs from the case's version (after a
restart, or when another process wrote to the case).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from compliance.hook import Hook

Key = tuple[Any, ...]


class Slot:
    """One case's session; hold `lock` while using `hook`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hook: Hook | None = None
        self.version = -1

    def current(self, version: int, build: Callable[[], Hook]) -> Hook:
        if self.hook is None or self.version != version:
            self.invalidate()
            self.hook = build()
            self.version = version
        return self.hook

    def invalidate(self) -> None:
        if self.hook is not None:
            self.hook.close()
        self.hook, self.version = None, -1


class HookCache:
    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._slots: OrderedDict[Key, Slot] = OrderedDict()
        self._lock = threading.Lock()

    def slot(self, key: Key) -> Slot:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = Slot()
            self._slots.move_to_end(key)
            self._evict()
            return slot

    def forget(self, key: Key) -> None:
        with self._lock:
            slot = self._slots.pop(key, None)
        if slot is not None:
            with slot.lock:
                slot.invalidate()

    def _evict(self) -> None:
        # Only idle slots go; one in use is skipped and stays until it is idle.
        for key in list(self._slots)[: max(0, len(self._slots) - self.capacity)]:
            slot = self._slots[key]
            if slot.lock.acquire(blocking=False):
                try:
                    slot.invalidate()
                    del self._slots[key]
                finally:
                    slot.lock.release()
