"""Many instances, proved: `make test-instances` (about a minute and a half).

    python -m tests.instances.run

Starts what a deployment with several replicas has, on this machine:

- a PostgreSQL server (TEST_DATABASE_URL's, or an embedded one) with a fresh database;
- one PgBouncer in transaction mode in front of it (tests/support/pgbouncer.py), with no
  statement-cache setting in the app;
- Redis at REDIS_URL (default redis://127.0.0.1:6379/0) for the per-user rate limit;
- three instances of the API, each `python -m app.serve` (APP_ENV=production, one worker,
  its own port, the same JWT secret, issuer, audience, retention and rate limit);
- HAProxy in front of them (round robin, health checks on /readyz), adding the answering
  instance's name to every response (X-Served-By).

Then, through the load balancer, it shows, and fails (exit 1) on any violation:

1. Change feed: a cursor issued by one instance is accepted by the others (each page of
   a walk asked of another instance, the same cursor giving the same answer everywhere),
   and still after the instances restarted.
2. Rate limit: with RATE_LIMIT=20/minute, one user's first 20 requests are answered and
   the 21st to 60th are 429, whichever instance answers (the counters are in Redis).
3. Writes under failure: a steady stream of creates (each with its own Idempotency-Key,
   each from its own user), during which one instance is stopped with SIGTERM and another
   killed with SIGKILL (its whole process group, like a container), then both are started
   again. The client retries a create with the same key on a connection error, a 5xx or
   409 `idempotency_in_progress`, and sends every tenth create once more after its answer
   (as a client that lost the answer would). Every create answered 2xx must be in the
   database exactly once, with the id it was answered with, and nothing else; every resend
   must be the stored answer (Idempotent-Replayed, same id). A 500 is a violation.
4. Retention sweep: HOUSEKEEPING_INTERVAL_SECONDS=1 on every instance, with expired trash
   and tombstones seeded before and during the run. A statement-level trigger (installed
   in this throwaway database only) records every sweep deletion with its transaction and
   whether that transaction held the sweep's advisory lock: every one must have held it,
   so no two sweep transactions ever ran at once (PostgreSQL grants the lock to one
   transaction at a time), and all expired rows must be gone at the end.

It prints what it counted: writes sent, acknowledged, found in the database, duplicates.
"""

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import jwt

from app.core import migrate
from app.core.database import POOLER_DETECTED_MESSAGE, parse_database_url
from app.core.housekeeping import LOCK_KEY
from tests.support.pgbouncer import direct_server_url, running_pgbouncer
from tests.support.postgres_server import free_port

BACKEND_DIR = Path(__file__).resolve().parents[2]
INSTANCE_NAMES = ("i1", "i2", "i3")
HAPROXY_CANDIDATES = ("haproxy", "/usr/sbin/haproxy")
ISSUER = "https://auth.example.test"
AUDIENCE = "todo-api"
RATE_LIMIT = 20
STARTUP_SECONDS = 40.0
# The write stream: one create every WRITE_INTERVAL seconds, for STREAM_SECONDS at least
# (and until both disrupted instances are back and have served for a while).
WRITE_INTERVAL = 0.05
STREAM_SECONDS = 30.0
SIGTERM_AT, SIGKILL_AT, RESTART_AT = 4.0, 8.0, 14.0
SERVED_AFTER_RESTART_SECONDS = 5.0
RESEND_EVERY = 10
BURST = 30
# How long one create keeps being retried before the client gives up (a violation).
WRITE_DEADLINE_SECONDS = 60.0
SHUTDOWN_GRACE_SECONDS = 10
EXPIRED_TRASH_ROWS = 3000
SWEEP_SEED_EVERY = 4.0
SWEEPER_USERS = 20

AUDIT_SQL = f"""
CREATE TABLE sweep_audit (
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    txid bigint NOT NULL,
    backend_pid integer NOT NULL,
    table_name text NOT NULL,
    expired_rows integer NOT NULL,
    held_lock boolean NOT NULL
);
CREATE FUNCTION record_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sweep_audit (txid, backend_pid, table_name, expired_rows, held_lock)
    SELECT txid_current(), pg_backend_pid(), TG_TABLE_NAME, count(*),
           EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                     AND objsubid = 1
                     AND (classid::bigint << 32) | objid::bigint = {LOCK_KEY})
    FROM gone WHERE gone.deleted_at < now() - interval '1 day'
    HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_sweep_audit AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION record_sweep();
CREATE TRIGGER tombstones_sweep_audit AFTER DELETE ON tombstones
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION record_sweep();
"""
SEED_USERS = """
INSERT INTO users (id) SELECT 'sweeper-' || n FROM generate_series(1, $1) AS n
ON CONFLICT DO NOTHING
"""
SEED_TRASH = """
INSERT INTO tasks (owner_id, title, deleted_at)
SELECT 'sweeper-' || (1 + n % $2), 'expired ' || n, now() - interval '40 days'
FROM generate_series(1, $1) AS n
"""
SEED_TOMBSTONES = """
INSERT INTO tombstones (owner_id, task_id, change_seq, deleted_at)
SELECT 'sweeper-' || (1 + n % $2), gen_random_uuid(), 0, now() - interval '100 days'
FROM generate_series(1, $1) AS n
"""
EXPIRED_LEFT = """
SELECT (SELECT count(*) FROM tasks WHERE deleted_at < now() - interval '30 days')
     + (SELECT count(*) FROM tombstones WHERE deleted_at < now() - interval '90 days')
"""


class Violation(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Violation(message)


def haproxy_binary() -> str:
    for candidate in HAPROXY_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise SystemExit("haproxy is not installed (Debian: apt-get install -y haproxy)")


def redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@dataclass
class Instance:
    name: str
    port: int
    environment: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: TextIO | None = None

    def start(self) -> None:
        self._log = self.log_path.open("a", encoding="utf-8")
        self._log.write(f"---- start {self.starts + 1}\n")
        self._log.flush()
        # Its own session: SIGKILL goes to the whole process group (server and worker),
        # as when a container is killed.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.serve"],
            cwd=BACKEND_DIR,
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1

    def sigterm(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def sigkill(self) -> None:
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def exited(self, within: float) -> int:
        assert self.process is not None
        code = await asyncio.to_thread(self.process.wait, within)
        # Whatever of its group outlived it (a worker) goes too.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return code

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.sigterm()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(SHUTDOWN_GRACE_SECONDS + 5)
        if self.process is not None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                with suppress(ValueError):
                    records.append(json.loads(line))
        return records


def haproxy_config(directory: Path, port: int, instances: list[Instance]) -> Path:
    servers = "\n".join(
        f"    server {instance.name} 127.0.0.1:{instance.port} check" for instance in instances
    )
    config = directory / "haproxy.cfg"
    config.write_text(
        f"""global
    maxconn 4096
    stats socket {directory / "haproxy.sock"} mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    # A connection refused (an instance going away) is tried on another instance.
    retries 3
    option redispatch

frontend api
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 300ms fall 2 rise 2
    http-response set-header X-Served-By %[srv_name]
{servers}
""",
        encoding="utf-8",
    )
    return config


def haproxy_servers(directory: Path) -> dict[str, dict[str, str]]:
    """HAProxy's own view of each instance (status, requests), from its stats socket."""
    with socket.socket(socket.AF_UNIX) as stats:
        stats.connect(str(directory / "haproxy.sock"))
        stats.sendall(b"show stat\n")
        data = b""
        while chunk := stats.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {row["svname"]: row for row in rows if row["svname"] in INSTANCE_NAMES}


async def wait_until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise Violation(f"{what}: not within {within:.0f}s")
        await asyncio.sleep(0.1)


@dataclass
class Write:
    number: int
    key: str
    user: str
    title: str
    acknowledged_id: str | None = None
    answered_by: str = ""
    # Attempts of the first create that failed (connection error, 5xx, 409 in progress),
    # and whether the answer that came after them was the stored one.
    retries: int = 0
    retry_replayed: bool = False
    replays: int = 0
    resent: bool = False


@dataclass
class Tally:
    retry_reasons: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


class Run:
    def __init__(self, directory: Path, balancer: str, secret: str) -> None:
        self.directory = directory
        self.balancer = balancer
        self.secret = secret
        self.tokens: dict[str, str] = {}
        self.tally = Tally()
        self._watched: tuple[str, asyncio.Event] | None = None
        self.http = httpx.AsyncClient(
            timeout=15.0, limits=httpx.Limits(max_connections=100, max_keepalive_connections=50)
        )

    def auth(self, user: str) -> dict[str, str]:
        if user not in self.tokens:
            now = int(time.time())
            claims = {"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600}
            self.tokens[user] = jwt.encode(claims, self.secret, algorithm="HS256")
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def watch(self, instance_name: str) -> asyncio.Event:
        """Set at the next create answered by that instance."""
        self._watched = (instance_name, asyncio.Event())
        return self._watched[1]

    # -- writes ---------------------------------------------------------------------------

    async def create(self, write: Write) -> None:
        deadline = time.monotonic() + WRITE_DEADLINE_SECONDS
        headers = {**self.auth(write.user), "Idempotency-Key": write.key}
        delay = 0.1
        first = write.acknowledged_id is None
        while time.monotonic() < deadline:
            replays = write.replays
            reason = await self._post(write, headers)
            if reason is None:
                if first and write.retries:
                    write.retry_replayed = write.replays > replays
                return
            if first:
                write.retries += 1
            self.tally.retry_reasons[reason] += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        self.tally.unexpected.append(f"write {write.number}: no 2xx in {WRITE_DEADLINE_SECONDS}s")

    async def _post(self, write: Write, headers: dict[str, str]) -> str | None:
        """One attempt; None when it was answered (2xx), else why it is retried."""
        url = f"{self.balancer}/api/v1/{write.user}/tasks"
        try:
            response = await self.http.post(url, json={"title": write.title}, headers=headers)
        except httpx.TransportError as exc:
            return type(exc).__name__
        status = response.status_code
        if 200 <= status < 300:
            if self._watched and response.headers.get("X-Served-By") == self._watched[0]:
                self._watched[1].set()
            task_id = response.json()["id"]
            if write.acknowledged_id is None:
                write.acknowledged_id = task_id
                write.answered_by = response.headers.get("X-Served-By", "?")
            elif task_id != write.acknowledged_id:
                self.tally.unexpected.append(f"write {write.number}: second id {task_id}")
            if response.headers.get("Idempotent-Replayed") == "true":
                write.replays += 1
            return None
        code = _error_code(response)
        if status == 500:
            self.tally.unexpected.append(f"write {write.number}: 500 {response.text[:200]}")
        if status >= 500 or (status == 409 and code == "idempotency_in_progress"):
            return f"{status} {code or ''}".strip()
        self.tally.unexpected.append(f"write {write.number}: {status} {response.text[:200]}")
        return f"{status} {code or ''}".strip()

    async def resend(self, write: Write) -> None:
        """The same create once more after its answer: must be the stored answer."""
        if write.acknowledged_id is None:
            return
        first_id = write.acknowledged_id
        replays_before = write.replays
        await self.create(write)
        if write.acknowledged_id != first_id or write.replays <= replays_before:
            self.tally.unexpected.append(f"write {write.number}: resend was not a replay")
        write.resent = True

    # -- change feed ------------------------------------------------------------------------

    async def feed_page(
        self, instance: Instance, user: str, since: str | None, limit: int = 2
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if since is not None:
            params["since"] = since
        url = f"http://127.0.0.1:{instance.port}/api/v1/{user}/tasks/changes"
        response = await self.http.get(url, params=params, headers=self.auth(user))
        check(
            response.status_code == 200,
            f"change feed on {instance.name} answered {response.status_code}: {response.text}",
        )
        page: dict[str, Any] = response.json()
        return page

    async def create_direct(self, user: str, title: str) -> str:
        url = f"{self.balancer}/api/v1/{user}/tasks"
        response = await self.http.post(url, json={"title": title}, headers=self.auth(user))
        check(response.status_code == 201, f"create answered {response.status_code}")
        task_id: str = response.json()["id"]
        return task_id


def _error_code(response: httpx.Response) -> str | None:
    with suppress(ValueError, AttributeError):
        code = response.json().get("code")
        return str(code) if code else None
    return None


async def check_change_feed(
    run: Run, instances: list[Instance], user: str
) -> tuple[str, list[str]]:
    """A walk through the feed whose every page is asked of the next instance; the same
    cursor gives the same answer on all three. Returns the final cursor and the ids seen."""
    created = [await run.create_direct(user, f"feed {n}") for n in range(6)]
    seen: list[str] = []
    cursor: str | None = None
    for step in range(4):
        pages = [await run.feed_page(instance, user, cursor) for instance in instances]
        check(
            all(page == pages[0] for page in pages),
            f"the cursor {cursor!r} was answered differently by the instances",
        )
        page = pages[step % 3]
        seen.extend(change["id"] for change in page["changes"])
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    check(seen == created, f"the walk across instances saw {seen}, not {created}")
    assert cursor is not None
    return cursor, created


async def check_rate_limit(run: Run) -> str:
    user = f"limited-{secrets.token_hex(3)}"
    url = f"{run.balancer}/api/v1/{user}/tasks"
    answers: list[tuple[int, str]] = []
    for _ in range(RATE_LIMIT * 3):
        response = await run.http.get(url, headers=run.auth(user))
        answers.append((response.status_code, response.headers.get("X-Served-By", "?")))
    statuses = [status for status, _ in answers]
    check(
        statuses == [200] * RATE_LIMIT + [429] * (RATE_LIMIT * 2),
        f"rate limit {RATE_LIMIT}/minute across instances: answers were {statuses}",
    )
    limited_by = Counter(server for status, server in answers if status == 429)
    answered_by = Counter(server for status, server in answers if status == 200)
    check(len(limited_by) == 3, f"the 429s came from {dict(limited_by)}, not all three")
    return (
        f"rate limit {RATE_LIMIT}/minute, one user, {RATE_LIMIT * 3} requests in a row: "
        f"first {RATE_LIMIT} answered 200 ({_counts(answered_by)}), "
        f"the other {RATE_LIMIT * 2} answered 429 ({_counts(limited_by)})"
    )


def _counts(counter: Counter[str]) -> str:
    return " ".join(f"{name}:{counter[name]}" for name in sorted(counter))


async def seed_expired(conn: asyncpg.Connection, rows: int) -> None:
    await conn.execute(SEED_TRASH, rows, SWEEPER_USERS)
    await conn.execute(SEED_TOMBSTONES, rows // 3, SWEEPER_USERS)


async def write_stream(
    run: Run, instances: list[Instance], direct: asyncpg.Connection, directory: Path
) -> tuple[list[Write], list[str]]:
    """Creates at a steady rate through the balancer while instances are stopped, killed
    and started again. Returns the writes and what happened to the instances.

    Each signal follows a burst of creates, as soon as the instance has answered one of
    them, so that others are being handled when it stops (SIGTERM: they must finish) or
    dies (SIGKILL: the client sees a 502 or a broken connection, and retries with the same
    key; some of those had committed, and get the stored response)."""
    prefix = secrets.token_hex(3)
    writes: list[Write] = []
    pending: set[asyncio.Task[None]] = set()
    events: list[str] = []
    start = time.monotonic()
    stopped, killed = instances[0], instances[1]
    back_at: float | None = None

    def elapsed() -> float:
        return time.monotonic() - start

    def send() -> None:
        key = f"{prefix}-{len(writes)}"
        write = Write(len(writes), key, f"writer-{key}", f"write {key}")
        writes.append(write)
        task = asyncio.create_task(_write_then_resend(run, write))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def burst_then(instance: Instance, signal_instance: Any) -> None:
        """A burst of creates; the signal goes as soon as the instance has answered one of
        them, while it is still handling the others."""
        answered = run.watch(instance.name)
        for _ in range(BURST):
            send()
        with suppress(TimeoutError):
            await asyncio.wait_for(answered.wait(), 5)
        signal_instance()

    async def disrupt() -> None:
        nonlocal back_at
        await asyncio.sleep(SIGTERM_AT)
        await burst_then(stopped, stopped.sigterm)
        events.append(f"{elapsed():5.1f}s SIGTERM {stopped.name} (after a burst of {BURST})")
        exit_wait = asyncio.create_task(stopped.exited(SHUTDOWN_GRACE_SECONDS + 5))
        await asyncio.sleep(SIGKILL_AT - elapsed())
        await burst_then(killed, killed.sigkill)
        events.append(
            f"{elapsed():5.1f}s SIGKILL {killed.name}, its process group (after a burst of {BURST})"
        )
        code = await exit_wait
        events.append(f"       {stopped.name} exited with {code} after SIGTERM")
        check(code == 0, f"{stopped.name} exited with {code} after SIGTERM, not 0")
        await killed.exited(5)
        await asyncio.sleep(max(0.0, RESTART_AT - elapsed()))
        for instance in (stopped, killed):
            instance.start()
            events.append(f"{elapsed():5.1f}s started {instance.name} again")
        await wait_until(
            lambda: all(row["status"] == "UP" for row in haproxy_servers(directory).values()),
            STARTUP_SECONDS,
            "the restarted instances back in the balancer",
        )
        back_at = elapsed()
        events.append(f"{back_at:5.1f}s all three UP in HAProxy again")

    disruption = asyncio.create_task(disrupt())
    next_seed = SWEEP_SEED_EVERY
    ticks = 0
    while True:
        now = elapsed()
        if disruption.done():
            disruption.result()  # a failed disruption step fails the run
            if back_at is not None and now >= max(
                STREAM_SECONDS, back_at + SERVED_AFTER_RESTART_SECONDS
            ):
                break
        if now >= next_seed:
            await seed_expired(direct, EXPIRED_TRASH_ROWS // 2)
            next_seed += SWEEP_SEED_EVERY
        send()
        ticks += 1
        await asyncio.sleep(max(0.0, start + ticks * WRITE_INTERVAL - time.monotonic()))
    events.append(f"{elapsed():5.1f}s stream stopped; waiting for {len(pending)} writes")
    await asyncio.gather(*pending)
    return writes, events


async def _write_then_resend(run: Run, write: Write) -> None:
    await run.create(write)
    if write.number % RESEND_EVERY == 0:
        await run.resend(write)


async def verify_writes(writes: list[Write], direct: asyncpg.Connection, tally: Tally) -> list[str]:
    rows = await direct.fetch(
        "SELECT id::text, title FROM tasks WHERE owner_id LIKE 'writer-%' ORDER BY title"
    )
    by_title: dict[str, list[str]] = {}
    for row in rows:
        by_title.setdefault(row["title"], []).append(row["id"])
    acknowledged = [w for w in writes if w.acknowledged_id is not None]
    expected = {w.title: w.acknowledged_id for w in acknowledged}
    duplicates = sum(len(ids) - 1 for ids in by_title.values() if len(ids) > 1)
    missing = [w.number for w in acknowledged if by_title.get(w.title) != [w.acknowledged_id]]
    unexpected_rows = [title for title in by_title if title not in expected]
    retried = [w for w in writes if w.retries]
    replayed_retries = sum(1 for w in retried if w.retry_replayed)
    resends = [w for w in writes if w.resent]
    answered_by = Counter(w.answered_by for w in acknowledged)
    lines = [
        f"writes sent: {len(writes)}, acknowledged: {len(acknowledged)}, "
        f"found in DB: {len(rows)}, duplicates: {duplicates}, "
        f"missing or with another id: {len(missing)}, in DB but never acknowledged: "
        f"{len(unexpected_rows)}",
        f"first answers by instance: {_counts(answered_by)}",
        f"creates retried by the client: {len(retried)} "
        f"(answered with the stored response, as the first attempt had committed: "
        f"{replayed_retries}); "
        f"retry causes: {dict(tally.retry_reasons) or 'none'}",
        f"deliberate resends after an answer: {len(resends)}, all replays with the same id",
    ]
    check(len(acknowledged) == len(writes), "some creates were never acknowledged")
    check(duplicates == 0, f"{duplicates} duplicate tasks")
    check(not missing, f"acknowledged but not stored once with that id: writes {missing[:10]}")
    check(not unexpected_rows, f"stored but never acknowledged: {unexpected_rows[:10]}")
    check(len(rows) == len(acknowledged), "the database holds another number of creates")
    check(not tally.unexpected, "unexpected answers:\n  " + "\n  ".join(tally.unexpected[:20]))
    return lines


async def verify_sweeps(direct: asyncpg.Connection, instances: list[Instance]) -> list[str]:
    await wait_until_async(lambda: direct.fetchval(EXPIRED_LEFT), 20.0, "all expired rows swept")
    audit = await direct.fetch(
        "SELECT txid, backend_pid, table_name, expired_rows, held_lock FROM sweep_audit"
    )
    without_lock = [dict(row) for row in audit if not row["held_lock"]]
    transactions = {row["txid"] for row in audit}
    backends = {row["backend_pid"] for row in audit}
    rows_swept = sum(row["expired_rows"] for row in audit)
    runs: Counter[str] = Counter()
    for instance in instances:
        for record in instance.log_records():
            if record.get("message") == "housekeeping done":
                runs[instance.name] += 1
    check(audit != [], "no sweep ran")
    check(not without_lock, f"sweep deletions without the lock: {without_lock[:5]}")
    return [
        f"retention sweep: {rows_swept} expired rows in {len(transactions)} sweep transactions "
        f"on {len(backends)} server connections, every one holding the sweep lock "
        f"(so never two at once); runs that swept something, by instance: {_counts(runs)}"
    ]


async def wait_until_async(count: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while (left := await count()) != 0:
        if time.monotonic() > deadline:
            raise Violation(f"{what}: {left} left after {within:.0f}s")
        await asyncio.sleep(0.2)


async def scenario(
    directory: Path, instances: list[Instance], balancer: str, secret: str, direct_url: str
) -> list[str]:
    report: list[str] = []
    direct = await asyncpg.connect(parse_database_url(direct_url).dsn)
    run = Run(directory, balancer, secret)
    try:
        await wait_until(
            lambda: all(row["status"] == "UP" for row in haproxy_servers(directory).values()),
            STARTUP_SECONDS,
            "three instances UP in HAProxy",
        )
        feed_user = f"feed-{secrets.token_hex(3)}"
        cursor, created = await check_change_feed(run, instances, feed_user)
        report.append(
            f"change feed: a walk of {len(created)} changes, each page from another instance, "
            "and every cursor answered alike by all three"
        )
        report.append(await check_rate_limit(run))
        writes, events = await write_stream(run, instances, direct, directory)
        report.append("instances: " + "\n           ".join(events))
        # A cursor issued before the restarts, on instances started since.
        later = [await run.create_direct(feed_user, f"later {n}") for n in range(2)]
        pages = [
            await run.feed_page(instance, feed_user, cursor, limit=10) for instance in instances
        ]
        for instance, page in zip(instances, pages, strict=True):
            ids = [change["id"] for change in page["changes"]]
            check(ids == later, f"{instance.name} answered the old cursor with {ids}")
        report.append(
            "change feed: a cursor issued before the restarts gives the 2 newer changes "
            "on all three (two of them restarted since)"
        )
        report.extend(await verify_writes(writes, direct, run.tally))
        report.extend(await verify_sweeps(direct, instances))
        found_out = Counter(
            instance.name
            for instance in instances
            for record in instance.log_records()
            if record.get("message") == POOLER_DETECTED_MESSAGE
        )
        report.append(
            "PgBouncer found out by the instances themselves (the WARNING, once per process): "
            + " ".join(f"{i.name}:{found_out[i.name]} of {i.starts} starts" for i in instances)
        )
        stats = haproxy_servers(directory)
        report.append(
            "HAProxy: requests per instance "
            + " ".join(f"{name}:{stats[name]['stot']}" for name in INSTANCE_NAMES)
            + ", times marked down (the first at start-up, before it was ready) "
            + " ".join(f"{name}:{stats[name]['chkdown']}" for name in INSTANCE_NAMES)
        )
    finally:
        await run.http.aclose()
        await direct.close()
    return report


@contextmanager
def running_haproxy(directory: Path, instances: list[Instance]) -> Iterator[str]:
    port = free_port()
    config = haproxy_config(directory, port, instances)
    subprocess.run([haproxy_binary(), "-c", "-q", "-f", str(config)], check=True)  # noqa: S603
    log = (directory / "haproxy.log").open("w", encoding="utf-8")
    process = subprocess.Popen(  # noqa: S603
        [haproxy_binary(), "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while not (directory / "haproxy.sock").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    "haproxy did not start:\n" + (directory / "haproxy.log").read_text()
                )
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def instance_environment(
    pooled_url: str, direct_url: str, secret: str, port: int
) -> dict[str, str]:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    environment = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the caller's own app settings leaks in, a statement-cache one least.
        if not key.startswith(("DB_", "DATABASE_URL", "JWT_", "RATE_LIMIT", "TEST_"))
    }
    environment.update(
        {
            # Equal on every instance:
            "APP_ENV": "production",
            "DATABASE_URL": pooled_url,
            "DATABASE_URL_DIRECT": direct_url,
            "JWT_SECRET": secret,
            "JWT_ISSUER": ISSUER,
            "JWT_AUDIENCE": AUDIENCE,
            "RATE_LIMIT": f"{RATE_LIMIT}/minute",
            "REDIS_URL": redis_url,
            "RATE_LIMIT_KEY_PREFIX": f"todo-instances-{secrets.token_hex(4)}",
            "HOUSEKEEPING_INTERVAL_SECONDS": "1",
            "SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
            "LOG_FORMAT": "json",
            # Per instance:
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WORKERS": "1",
            "DB_POOL_MAX_SIZE": "5",
        }
    )
    return environment


def main() -> int:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_answers(redis_url):
        print(f"Redis does not answer at {redis_url}", file=sys.stderr)
        return 1
    secret = secrets.token_urlsafe(48)
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="todo-instances-") as temp,
        direct_server_url() as server,
    ):
        directory = Path(temp)
        name = f"todo_instances_{secrets.token_hex(4)}"
        asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
        direct_url = with_database(server, name)
        instances: list[Instance] = []
        try:
            migrate.upgrade(direct_url)
            asyncio.run(_prepare(direct_url))
            with running_pgbouncer(server) as pooled:
                pooled_url = with_database(pooled, name)
                for instance_name in INSTANCE_NAMES:
                    port = free_port()
                    environment = instance_environment(pooled_url, direct_url, secret, port)
                    instances.append(
                        Instance(
                            instance_name, port, environment, directory / f"{instance_name}.log"
                        )
                    )
                # The rate-limit prefix is one for all of them.
                prefix = instances[0].environment["RATE_LIMIT_KEY_PREFIX"]
                for instance in instances:
                    instance.environment["RATE_LIMIT_KEY_PREFIX"] = prefix
                    instance.start()
                with running_haproxy(directory, instances) as balancer:
                    print(
                        "three instances (python -m app.serve, APP_ENV=production, 1 worker each) "
                        f"behind HAProxy at {balancer}, through PgBouncer (transaction mode), "
                        f"rate limit in Redis at {redis_url}"
                    )
                    report = asyncio.run(
                        scenario(directory, instances, balancer, secret, direct_url)
                    )
                    for instance in instances:
                        instance.stop()
        except (Violation, subprocess.CalledProcessError) as failure:
            print(f"FAILED: {failure}", file=sys.stderr)
            _print_logs(directory, instances)
            return 1
        finally:
            for instance in instances:
                instance.stop()
            asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    for line in report:
        print(line)
    print(f"OK: every check held ({time.monotonic() - began:.0f}s)")
    return 0


def _print_logs(directory: Path, instances: list[Instance]) -> None:
    for path in [*(instance.log_path for instance in instances), directory / "haproxy.log"]:
        if path.exists():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            print(f"---- last lines of {path.name}", file=sys.stderr)
            for line in lines[-25:]:
                print(line, file=sys.stderr)


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(parse_database_url(url).dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _prepare(direct_url: str) -> None:
    """The audit trigger, and expired rows for the sweep to find at once."""
    conn = await asyncpg.connect(parse_database_url(direct_url).dsn)
    try:
        await conn.execute(AUDIT_SQL)
        await conn.execute(SEED_USERS, SWEEPER_USERS)
        await seed_expired(conn, EXPIRED_TRASH_ROWS)
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
