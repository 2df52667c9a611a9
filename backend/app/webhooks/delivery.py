"""One per process: the loop that delivers events to webhook endpoints, outside any request.

Each round claims due endpoints in a short transaction (FOR UPDATE SKIP LOCKED, and a lease
of WEBHOOK_LEASE_SECONDS), sends each its next event with no transaction or connection held,
and records the outcome in a second short transaction. An endpoint has at most one delivery
in flight, and its next event is sent only once the previous one succeeded: each endpoint
receives its events in order. A process that dies mid-delivery leaves its lease to lapse;
any instance then claims the endpoint again and sends the same event (same `webhook-id`).

At most WEBHOOK_CONCURRENCY deliveries run at once per process, each bounded by
DELIVERY_TIMEOUT_SECONDS as a whole (resolving, connecting, sending, reading the status).
"""

import asyncio
import contextlib
import http.cookiejar
import logging
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from prometheus_client import Counter
from standardwebhooks import Webhook

from app.core.config import Settings
from app.core.database import Database
from app.events.service import event_id, event_json
from app.webhooks import service
from app.webhooks.backoff import retry_delay
from app.webhooks.destinations import CheckedTransport, DestinationNotAllowed
from app.webhooks.fields import DELIVERY_TIMEOUT_SECONDS

logger = logging.getLogger("app.webhooks")

USER_AGENT = "todo-backend-webhooks/1"
_ERROR_MAX_LENGTH = 500
# On shutdown, deliveries in flight get this long to finish (one delivery's timeout, and
# the recording of its outcome).
STOP_GRACE_SECONDS = DELIVERY_TIMEOUT_SECONDS + 2


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A receiver's cookies are never kept, so never sent to the next one."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


def delivery_client(*, allow_private: bool) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=CheckedTransport(allow_private=allow_private),
        timeout=httpx.Timeout(DELIVERY_TIMEOUT_SECONDS),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )
    # The client copies a jar given to it into one of its own; its policy is set here.
    client.cookies.jar.set_policy(_NoCookies())
    return client


def signed_headers(secret: str, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """Standard Webhooks' headers for `body`, signed with the endpoint's secret."""
    timestamp = now.replace(microsecond=0)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, timestamp, body),
    }


class WebhookDeliverer:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        attempts: Counter | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._database = database
        self._poll = settings.webhook_poll_seconds
        self._concurrency = settings.webhook_concurrency
        self._lease = settings.webhook_lease_seconds
        self._disable_after = settings.webhook_disable_after_hours * 3600
        self._client = delivery_client(allow_private=settings.webhook_allow_private)
        self._attempts = attempts
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._poll > 0:
            self._task = asyncio.create_task(self._loop(), name="webhook-deliveries")

    async def stop(self) -> None:
        """No new claims; deliveries in flight get STOP_GRACE_SECONDS to finish and be
        recorded. Any still running then are abandoned: their leases lapse and they are
        made again (by any instance)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE_SECONDS + 1):
                    await asyncio.shield(task)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._client.aclose()

    async def run_once(self) -> int:
        """Claim what is due now (up to the concurrency), deliver it, and wait for the
        outcomes to be recorded. Returns how many deliveries were made."""
        claims = await service.claim_due(self._database, self._concurrency, self._lease)
        await asyncio.gather(*(self._deliver(claim) for claim in claims))
        return len(claims)

    async def _loop(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while not self._stopping.is_set():
                claims: list[service.Claim] = []
                free = self._concurrency - len(in_flight)
                if free > 0:
                    try:
                        claims = await service.claim_due(self._database, free, self._lease)
                    except Exception:
                        logger.exception("claiming webhook deliveries failed")
                for claim in claims:
                    in_flight.add(asyncio.create_task(self._deliver(claim)))
                if claims and len(in_flight) < self._concurrency:
                    continue  # more may be due
                if in_flight:
                    _, in_flight = await asyncio.wait(
                        in_flight, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED
                    )
                else:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._poll):
                            await self._stopping.wait()
            if in_flight:
                await asyncio.wait(in_flight, timeout=STOP_GRACE_SECONDS)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    # -- one delivery ------------------------------------------------------------------------

    async def _deliver(self, claim: service.Claim) -> None:
        outcome, label = await self._send(claim)
        if self._attempts is not None:
            self._attempts.labels(label).inc()
        retry_in = retry_delay(claim.attempt + 1)
        try:
            still_enabled = await service.record_outcome(
                self._database,
                claim,
                outcome,
                retry_in_seconds=retry_in,
                disable_after_seconds=self._disable_after,
            )
        except Exception:
            # The lease lapses and the delivery is made again: at least once.
            logger.exception("recording a webhook delivery failed")
            return
        if not still_enabled:
            logger.warning(
                "webhook disabled after failing deliveries",
                extra={"webhook_id": str(claim.webhook_id)},
            )

    async def _send(self, claim: service.Claim) -> tuple[service.Outcome, str]:
        event = claim.event
        body = event_json(event)
        headers = signed_headers(claim.secret, event_id(event["id"]), body, self._clock())
        started = time.monotonic()

        def outcome(status: int | None, error: str | None) -> service.Outcome:
            elapsed = int((time.monotonic() - started) * 1000)
            return service.Outcome(status, error and error[:_ERROR_MAX_LENGTH], elapsed)

        try:
            async with asyncio.timeout(DELIVERY_TIMEOUT_SECONDS):
                response = await self._client.send(
                    self._client.build_request("POST", claim.url, content=body, headers=headers),
                    stream=True,
                )
                # The body is never read: only the status counts.
                with contextlib.suppress(httpx.HTTPError):
                    await response.aclose()
        except DestinationNotAllowed as exc:
            return outcome(None, str(exc)), "address_not_allowed"
        except TimeoutError:
            return outcome(None, f"no answer within {DELIVERY_TIMEOUT_SECONDS:g} s"), "timeout"
        except httpx.TimeoutException:
            return outcome(None, f"no answer within {DELIVERY_TIMEOUT_SECONDS:g} s"), "timeout"
        except (httpx.HTTPError, OSError) as exc:
            return outcome(None, f"{type(exc).__name__}: {exc}"), "connection_error"
        status = response.status_code
        if 200 <= status < 300:
            return outcome(status, None), "success"
        if 300 <= status < 400:
            return outcome(status, "redirects are not followed"), "redirect"
        return outcome(status, None), "http_error"
