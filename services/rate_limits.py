"""Limits on how often one client address or one account may try sensitive operations."""

import logging
import math
import threading
import time

from limits import parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.errors import RateLimited
from services.metrics import record_refusal

log = logging.getLogger(__name__)
# A Redis that does not answer within these (seconds) is treated as down, so it cannot hold a sign-in.
REDIS_TIMEOUTS = {"socket_connect_timeout": 1, "socket_timeout": 1}
# While the shared storage is down, it is tried again this often (seconds); meanwhile each process counts alone.
RETRY_SHARED_AFTER = 5.0


class RateLimits:
    """Named limits ("10/minute;100/hour") shared by every worker through one storage.

    When that storage (Redis) does not answer, each process counts in its own memory until it answers again,
    so sign-ins keep working with limits that are per process for the length of the outage.
    """

    def __init__(self, storage_url: str, rules: dict[str, str]):
        options = REDIS_TIMEOUTS if storage_url.startswith(("redis", "rediss")) else {}
        self.storage = storage_from_string(storage_url, wrap_exceptions=True, **options)
        self.shared = MovingWindowRateLimiter(self.storage)
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.rules = {name: parse_many(rule) for name, rule in rules.items()}
        self._lock = threading.Lock()
        self._outage: str | None = None  # why the shared storage is not used, while it is not
        self._retry_at = 0.0

    def hit(self, name: str, **keys: str | None) -> None:
        """Count one attempt under each key (e.g. address=..., account=...); refuse past any limit."""
        limiter = self._limiter()
        try:
            self._count(limiter, name, keys)
        except StorageError as error:
            self._degrade(error.storage_error)
            self._count(self.local, name, keys)
            return
        if limiter is self.shared:
            self._recover()

    def _count(self, limiter: MovingWindowRateLimiter, name: str, keys: dict[str, str | None]) -> None:
        for key_name, key in keys.items():
            if not key:
                continue
            for limit in self.rules[name]:
                if not limiter.hit(limit, name, key_name, key.lower()):
                    stats = limiter.get_window_stats(limit, name, key_name, key.lower())
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    record_refusal(name)
                    raise RateLimited(retry_after, f"Too many {name} attempts; try again in {retry_after} s.")

    def _limiter(self) -> MovingWindowRateLimiter:
        """The shared storage's limiter, unless it is down and not yet due for another try."""
        with self._lock:
            return self.local if self._outage and time.monotonic() < self._retry_at else self.shared

    def _degrade(self, cause: BaseException | str) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_SHARED_AFTER
            if self._outage is None:
                log.warning("the rate-limit storage does not answer (%s): each process counts alone meanwhile", cause)
            self._outage = f"the rate-limit storage does not answer ({cause}); each process counts alone"

    def _recover(self) -> None:
        with self._lock:
            if self._outage is not None:
                log.warning("the rate-limit storage answers again: attempts are counted there again")
            self._outage = None

    def status(self) -> str:
        """ "ok", or "degraded: why" while the shared storage does not answer (asked again when due)."""
        if self._limiter() is self.shared:
            if self.storage.check():
                self._recover()
            else:
                self._degrade("no answer to a ping")
        outage = self._outage
        return f"degraded: {outage}" if outage else "ok"

    def reset(self) -> None:
        """Forget every count (used between tests)."""
        self.local.storage.reset()
        try:
            self.storage.reset()
        except StorageError as error:
            self._degrade(error.storage_error)
