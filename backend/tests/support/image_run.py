"""Run a built container image's content against a real PostgreSQL and check it serves.

    python -m tests.support.image_run IMAGE

Containers cannot be started on the machines this runs on (the sandbox forbids the runtimes'
setrlimit), so the image's root filesystem is mounted (`podman image mount`) and its command
runs there with `unshare --pid --fork --mount-proc ... chroot --userspec=UID:GID`: the image's
exact files, user, working directory, environment and command, as PID 1 of a new PID namespace,
but with the host's network and without the rest of a container's isolation (no cgroup limits,
no network or user namespace, a writable mount of the image's files: see the read-only check
below).

It checks, in order: the process starts as the image's non-root user with APP_ENV=production
(a generated JWT_SECRET, a fresh database on TEST_DATABASE_URL's server), migrates, answers
/readyz; a task is created and listed with a minted HS256 token; nothing was written to the
image's files; SIGTERM stops it with exit code 0 within the grace period. It prints the
processes' memory (RSS) and CPU time, which size the Kubernetes resources (deploy/k8s).
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import psutil

from app.auth.dev_token import mint

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
STARTUP_SECONDS = 60.0
SHUTDOWN_GRACE_SECONDS = 10
WORKERS = 2
REQUESTS_FOR_MEASURE = 300


class CheckFailed(SystemExit):
    def __init__(self, message: str) -> None:
        super().__init__(f"image check FAILED: {message}")


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise CheckFailed(f"{name} is not installed")
    return found


def podman(*args: str) -> str:
    return subprocess.run(  # noqa: S603
        [tool("podman"), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def image_inspect(image: str) -> dict[str, Any]:
    inspected: dict[str, Any] = json.loads(podman("image", "inspect", image))[0]
    return inspected


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def mounted(image: str) -> Iterator[Path]:
    root = Path(podman("image", "mount", image))
    try:
        yield root
    finally:
        podman("image", "unmount", image)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on `server_url`'s server, dropped afterwards."""
    name = f"todo_image_{uuid.uuid4().hex[:12]}"
    admin = server_url

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def container_environment(config: dict[str, Any], **settings: str) -> dict[str, str]:
    """The image's ENV (and nothing from this process's environment), then `settings`."""
    environment = dict(item.split("=", 1) for item in config.get("Env") or [])
    environment.update(settings)
    return environment


def in_image(root: Path, user: str, workdir: str, command: list[str]) -> list[str]:
    """`command` run as the image runs it: in its files, as its user, in its WORKDIR."""
    return [
        tool("chroot"),
        f"--userspec={user}",
        str(root),
        # chroot starts in /: the image's WORKDIR first (coreutils' env, in any Debian base).
        "env",
        "-C",
        workdir,
        *command,
    ]


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_SECONDS:
        if process.poll() is not None:
            raise CheckFailed(f"exited with {process.returncode} at start-up:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise CheckFailed(f"/readyz not 200 within {STARTUP_SECONDS}s:\n{log.read_text()}")


def namespace_init(process: subprocess.Popen[bytes]) -> psutil.Process:
    """PID 1 of the new namespace: unshare's forked child (chroot execs the image's command)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        children = psutil.Process(process.pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise CheckFailed("unshare started no child")


def tree(init: psutil.Process) -> list[psutil.Process]:
    return [init, *init.children(recursive=True)]


def report_resources(init: psutil.Process, label: str) -> None:
    processes = tree(init)
    lines = []
    total = 0
    cpu = 0.0
    for proc in processes:
        rss = proc.memory_info().rss
        times = proc.cpu_times()
        total += rss
        cpu += times.user + times.system
        lines.append(
            f"    pid {proc.pid:>7} {' '.join(proc.cmdline())[:60]:<60} {rss / 2**20:7.1f} MiB"
        )
    print(
        f"  memory ({label}): {len(processes)} processes, RSS {total / 2**20:.1f} MiB in all;"
        f" CPU time so far {cpu:.2f} s"
    )
    print("\n".join(lines))


def check_api(base_url: str, secret: str) -> None:
    user = f"image-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {mint(secret, user, lifetime_seconds=600)}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        health = client.get("/healthz")
        if health.status_code != 200:
            raise CheckFailed(f"/healthz answered {health.status_code}")
        created = client.post(f"/api/v1/{user}/tasks", json={"title": "shipped in a container"})
        if created.status_code != 201:
            raise CheckFailed(f"create answered {created.status_code}: {created.text}")
        listed = client.get(f"/api/v1/{user}/tasks")
        if listed.status_code != 200:
            raise CheckFailed(f"list answered {listed.status_code}: {listed.text}")
        body = listed.json()
        ids = [task["id"] for task in body["tasks"]]
        if ids != [created.json()["id"]]:
            raise CheckFailed(f"list returned {ids}, expected the one created task")
        print(f"  created task {created.json()['id']} as {user} and listed it")
        unauthenticated = httpx.get(f"{base_url}/api/v1/{user}/tasks", timeout=10)
        if unauthenticated.status_code != 401:
            raise CheckFailed(f"a request without a token answered {unauthenticated.status_code}")
        # A little steady load so that the memory figures are those of workers that served.
        for index in range(REQUESTS_FOR_MEASURE):
            if index % 3 == 0:
                client.post(f"/api/v1/{user}/tasks", json={"title": f"task {index}"})
            else:
                client.get(f"/api/v1/{user}/tasks")


def is_read_only(root: Path) -> bool:
    return bool(os.statvfs(root).f_flag & os.ST_RDONLY)


def check_healthcheck(
    root: Path, user: str, workdir: str, inspected: dict[str, Any], environment: dict[str, str]
) -> None:
    """The image's own HEALTHCHECK command, run in its files as its user."""
    test = (inspected.get("Healthcheck") or {}).get("Test") or []
    if test[:1] != ["CMD"]:
        raise CheckFailed(f"the image has no exec-form HEALTHCHECK (found {test!r})")
    result = subprocess.run(  # noqa: S603
        in_image(root, user, workdir, test[1:]),
        env=environment,
        capture_output=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise CheckFailed(f"HEALTHCHECK exited {result.returncode}: {result.stderr.decode()}")
    print(f"  HEALTHCHECK {test[1:]!r}... exited 0")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.support.image_run IMAGE", file=sys.stderr)
        return 2
    image = argv[0]
    inspected = image_inspect(image)
    config: dict[str, Any] = inspected["Config"]
    user = str(config.get("User") or "")
    uid, _, gid = user.partition(":")
    if not uid.isdigit() or int(uid) == 0 or not gid.isdigit():
        raise CheckFailed(f"the image's USER is {user!r}, not a numeric non-root UID:GID")
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    workdir = str(config.get("WorkingDir") or "/")
    print(f"image {image}: USER {user}, WORKDIR {workdir}, CMD {command}")
    server_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER_URL
    port = free_port()
    secret = secrets.token_urlsafe(48)
    with fresh_database(server_url) as database_url, mounted(image) as root:
        environment = container_environment(
            config,
            APP_ENV="production",
            DATABASE_URL=database_url,
            JWT_SECRET=secret,
            PORT=str(port),
            WORKERS=str(WORKERS),
            SHUTDOWN_GRACE_SECONDS=str(SHUTDOWN_GRACE_SECONDS),
        )
        if environment.get("HOST") != "0.0.0.0":  # noqa: S104
            raise CheckFailed(f"the image's HOST is {environment.get('HOST')!r}, not 0.0.0.0")
        # A read-only root filesystem, as Kubernetes' readOnlyRootFilesystem gives: serving
        # below proves the app needs no writable file of its image.
        if not is_read_only(root):
            raise CheckFailed(f"{root} is mounted writable; the check needs it read-only")
        print("  the image's root filesystem is mounted read-only for the run")
        log = Path(tempfile.mkstemp(prefix="todo-image-run-", suffix=".log")[1])
        with log.open("wb") as sink:
            process = subprocess.Popen(  # noqa: S603
                [
                    tool("unshare"),
                    "--pid",
                    "--fork",
                    f"--mount-proc={root}/proc",
                    *in_image(root, user, workdir, command),
                ],
                env=environment,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            init = namespace_init(process)
            base_url = f"http://127.0.0.1:{port}"
            seconds = wait_ready(base_url, process, log)
            print(f"  /readyz 200 after {seconds:.1f} s (migrations applied at start)")
            owners = {(proc.uids().real, proc.gids().real) for proc in tree(init)}
            if owners != {(int(uid), int(gid))}:
                raise CheckFailed(f"processes run as (uid, gid) {owners}, not {user}")
            print(f"  {len(tree(init))} processes (WORKERS={WORKERS}), all as uid:gid {user}")
            report_resources(init, "started")
            check_healthcheck(root, user, workdir, inspected, environment)
            check_api(base_url, secret)
            report_resources(init, f"after {REQUESTS_FOR_MEASURE} more requests")
            stop_started = time.monotonic()
            # What a container runtime does: SIGTERM to PID 1 (the image's command).
            init.send_signal(signal.SIGTERM)
            limit = SHUTDOWN_GRACE_SECONDS + 10
            try:
                code = process.wait(timeout=limit)
            except subprocess.TimeoutExpired as exc:
                raise CheckFailed(f"still running {limit} s after SIGTERM") from exc
            print(f"  SIGTERM: exited with code {code} in {time.monotonic() - stop_started:.1f} s")
            if code != 0:
                raise CheckFailed(f"exit code {code} after SIGTERM")
        except BaseException:
            print(log.read_text(errors="replace")[-5000:], file=sys.stderr)
            raise
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.unlink(missing_ok=True)
    print("image check passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
