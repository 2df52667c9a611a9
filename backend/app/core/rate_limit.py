"""Per-user rate limiting of the task routes with the `limits` library.

The check runs in the task routes' authentication dependency (`current_user_id`) right after
the token is verified (the key is the token's `sub`) and before any database work, so a client
over its limit costs one counter update. Counters are kept in the process by default, or in
Redis when REDIS_URL is set, so that every instance and worker shares them.
"""

import logging
import math
import time
from typing import Any

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.errors import StorageError

from app.core.config import Settings
from app.core.errors import ApiError, ErrorBody

logger = logging.getLogger("app.rate_limit")

# A Redis that does not answer must not hold requests for long (see `check`).
REDIS_TIMEOUT_SECONDS = 0.5
NAMESPACE = "user"

RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Too many requests for this user; retry after `Retry-After` seconds.",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the limit allows another request.",
                "schema": {"type": "integer"},
            }
        },
    }
}


STRATEGIES: dict[str, type[RateLimiter]] = {
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


class UserRateLimiter:
    def __init__(self, items: list[RateLimitItem], strategy: str, storage: Storage) -> None:
        self.items = items
        self.storage = storage
        self._limiter = STRATEGIES[strategy](storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> "UserRateLimiter | None":
        if not settings.rate_limit:
            return None
        storage: Storage
        if settings.redis_url:
            storage = RedisStorage(
                "async+" + settings.redis_url,
                wrap_exceptions=True,
                key_prefix=settings.rate_limit_key_prefix,
                connect_timeout=REDIS_TIMEOUT_SECONDS,
                stream_timeout=REDIS_TIMEOUT_SECONDS,
            )
        else:
            storage = MemoryStorage()
        return cls(parse_many(settings.rate_limit), settings.rate_limit_strategy, storage)

    async def check(self, user_id: str) -> None:
        """Counts one request; raises the 429 when any of the limits is exhausted.

        When Redis fails the request is let through (and a warning logged): an outage of the
        limiter's store should not become an outage of the API.
        """
        for item in self.items:
            try:
                allowed = await self._limiter.hit(item, NAMESPACE, user_id)
                if allowed:
                    continue
                stats = await self._limiter.get_window_stats(item, NAMESPACE, user_id)
            except StorageError as exc:
                logger.warning("rate limit storage unavailable, request allowed: %s", exc)
                return
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            raise ApiError(
                429,
                "rate_limited",
                f"Rate limit of {item} exceeded; retry in {retry_after} seconds.",
                {"Retry-After": str(retry_after)},
            )


async def enforce_rate_limit(request: Request, user_id: str) -> None:
    """Counts the request against the app's limiter, if it has one; raises the 429."""
    limiter: UserRateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        await limiter.check(user_id)
