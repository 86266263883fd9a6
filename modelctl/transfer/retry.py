"""When to try again and how long to wait (as huggingface_hub's `_http_backoff_base` in
src/huggingface_hub/utils/_http.py @ v2.4.0: 408/429/5xx and network errors are retried).

Exponential backoff with full jitter (so many containers that failed together do not retry
together), `Retry-After` honoured (seconds or an HTTP date) and capped, a bounded number of
consecutive failures, and the budget reset whenever an attempt made progress (as huggingface_hub
resets its retry count per chunk): a long download over a flaky link finishes, a dead server fails
in bounded time. 401/403/404 and other client errors are never retried.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass


@dataclass
class RetryPolicy:
    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    retry_after_cap: float = 120.0

    def delay(self, failures: int, retry_after: str | None = None) -> float:
        """Seconds to sleep before attempt number `failures + 1`."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.retry_after_cap) + random.uniform(0, self.base)
        return random.uniform(0, min(self.cap, self.base * (2 ** max(0, failures - 1))))


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds from now (None when absent or unreadable)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # an HTTP date is rare; the module costs ~10 ms at start-up

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
