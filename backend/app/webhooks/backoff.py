"""When a failed delivery is tried again: Standard Webhooks' suggested schedule, with jitter.

The n-th retry of an event comes RETRY_SCHEDULE_SECONDS[n - 1] after the n-th failure,
give or take JITTER of it; past the schedule every retry waits its last step. The caller
caps each retry at the moment the endpoint has been failing for WEBHOOK_DISABLE_AFTER_HOURS,
so the last attempt comes then, and its failure disables the endpoint.
"""

import random

# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h (then 10 h, capped at the disabling time).
RETRY_SCHEDULE_SECONDS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
# Each delay is drawn from [delay * (1 - JITTER), delay * (1 + JITTER)], so that endpoints
# that failed together (a receiver's outage) are not all retried in the same second.
JITTER = 0.2


def retry_delay(failures: int, draw: float | None = None) -> float:
    """Seconds until the next attempt after `failures` consecutive failures (1 or more);
    `draw` in [0, 1] replaces the random draw (for tests)."""
    if failures < 1:
        raise ValueError("failures must be at least 1")
    step = RETRY_SCHEDULE_SECONDS[min(failures, len(RETRY_SCHEDULE_SECONDS)) - 1]
    share = random.random() if draw is None else draw
    return step * (1 - JITTER + 2 * JITTER * share)
