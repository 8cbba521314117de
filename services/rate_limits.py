"""Limits on how often one client address or one account may try sensitive operations."""

import math
import time

from limits import parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.errors import RateLimited


class RateLimits:
    """Named limits ("10/minute;100/hour") shared by every worker through one storage."""

    def __init__(self, storage_url: str, rules: dict[str, str]):
        self.storage = storage_from_string(storage_url)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.rules = {name: parse_many(rule) for name, rule in rules.items()}

    def hit(self, name: str, **keys: str | None) -> None:
        """Count one attempt under each key (e.g. address=..., account=...); refuse past any limit."""
        for key_name, key in keys.items():
            if not key:
                continue
            for limit in self.rules[name]:
                if not self.limiter.hit(limit, name, key_name, key.lower()):
                    stats = self.limiter.get_window_stats(limit, name, key_name, key.lower())
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    raise RateLimited(retry_after, f"Too many {name} attempts; try again in {retry_after} s.")

    def reset(self) -> None:
        """Forget every count (used between tests)."""
        self.storage.reset()
