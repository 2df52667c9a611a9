"""No input, however malformed, gets a 500 or a stack trace: every answer is a JSON error."""

import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import auth, make_token

pytestmark = pytest.mark.anyio


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests change nothing but the database: they share one app per module."""
    return shared_client


TASKS = "/api/v1/alice/tasks"
A_TASK = f"{TASKS}/{uuid.UUID(int=1)}"


@dataclass(frozen=True)
class Bad:
    method: str
    path: str
    content: bytes | None = None
    headers: dict[str, str | bytes] = field(default_factory=dict)
    with_token: bool = True


def body(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


BAD_BODIES = [
    body('{"title": "\\ud800"}'),
    body('{"title": "\\udfff\\ud800", "description": "\\ud83d"}'),
    body('{"title": "t", "description": "\\u0000"}'),
    body('{"title": NaN}'),
    body('{"title": "t", "completed": Infinity}'),
    body('{"title": "t", "completed": -Infinity}'),
    body('{"title": 1e999}'),
    body('{"title": ' + "9" * 5000 + "}"),
    body('{"title": "t", "title": 5}'),
    body('{"' + "k" * 100_000 + '": 1}'),
    body("[" * 50_000 + "]" * 50_000),
    body('{"a":' * 10_000 + "1" + "}" * 10_000),
    b'\xef\xbb\xbf{"title": "bom"}',
    b'{"title": "\xc3\x28"}',
    b"\x00\x00\x00{",
    b"",
    b"null",
    b"true",
    b'"\\ud800"',
    b"{" + b" " * (1024 * 1024) + b"}",
]

BAD_REQUESTS: list[Bad] = [
    *[
        Bad(m, p, c, {"Content-Type": "application/json"})
        for c in BAD_BODIES
        for m, p in [
            ("POST", TASKS),
            ("PUT", A_TASK),
            ("PATCH", A_TASK),
            ("PATCH", f"{A_TASK}/complete"),
        ]
    ],
    Bad("POST", TASKS, b'{"title": "t"}', {"Content-Type": "text/plain"}),
    Bad("POST", TASKS, b"title=t", {"Content-Type": "application/x-www-form-urlencoded"}),
    Bad("POST", TASKS, b"--x\r\n\r\n--x--", {"Content-Type": "multipart/form-data; boundary=x"}),
    Bad(
        "POST",
        TASKS,
        '{"title": "é"}'.encode("latin-1"),
        {"Content-Type": "application/json; charset=latin-1"},
    ),
    Bad(
        "POST",
        TASKS,
        b'{"title": "t"}',
        {"Content-Type": "application/json", "Content-Length": "-1"},
    ),
    *[
        Bad("GET", f"{TASKS}?{query}")
        for query in [
            "limit=1e3",
            "limit=NaN",
            "limit=0x10",
            "limit=%00",
            "limit=1&limit=500",
            "offset=1e400",
            "offset=" + "9" * 400,
            "offset=-0",
            "completed=%00",
            "completed=%FF",
            "completed=true&completed=maybe",
            "limit=" + "1" * 10_000,
        ]
    ],
    *[
        Bad(method, path)
        for method, path in [
            ("GET", "/api/v1/%00/tasks"),
            ("GET", "/api/v1/..%2F..%2Fetc/tasks"),
            ("GET", "/api/v1//tasks"),
            ("GET", f"{TASKS}/%00"),
            ("GET", f"{TASKS}/%FF%FE"),
            ("GET", f"{TASKS}/{'a' * 10_000}"),
            ("GET", f"/api/v1/{'a' * 10_000}/tasks"),
            ("GET", f"{A_TASK}/complete/more"),
            ("POST", A_TASK),
            ("PUT", TASKS),
            ("DELETE", TASKS),
            ("GET", f"{A_TASK}/complete"),
            ("TRACE", TASKS),
            ("GET", "/api/v2/alice/tasks"),
            ("GET", "/nothing-here"),
        ]
    ],
    Bad("GET", TASKS, headers={"Authorization": "Bearer " + "a" * 100_000}, with_token=False),
    Bad(
        "GET", TASKS, headers={"Authorization": "Bearer é.é.é".encode("latin-1")}, with_token=False
    ),
    Bad("GET", TASKS, headers={"Authorization": "Bearer \x7f\x01"}, with_token=False),
    Bad("GET", TASKS, headers={"Authorization": "Bearer a b c"}, with_token=False),
    Bad(
        "GET", TASKS, headers={"Authorization": "Bearer " + make_token(nbf=1e400)}, with_token=False
    ),
    Bad(
        "GET",
        TASKS,
        headers={"Authorization": "Bearer " + make_token(iat=float("nan"))},
        with_token=False,
    ),
    Bad(
        "GET",
        TASKS,
        headers={"Authorization": "Bearer " + make_token(email="\ud800")},
        with_token=False,
    ),
    Bad(
        "GET",
        TASKS,
        headers={"Authorization": "Bearer " + make_token(sub="\ud800")},
        with_token=False,
    ),
    Bad(
        "GET",
        "/api/v1/%ED%A0%80/tasks",
        headers={"Authorization": "Bearer " + make_token(sub="\ud800")},
        with_token=False,
    ),
]


def describe(bad: Bad) -> str:
    content = "" if bad.content is None else bad.content[:30].decode("utf-8", "replace")
    headers = " ".join(f"{k}={v!r:.40}" for k, v in bad.headers.items())
    return f"{bad.method} {bad.path[:60]} {content} {headers}"


def problem(response: httpx.Response) -> str | None:
    """What is wrong with the answer to a bad request, if anything."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if "Traceback" in response.text or 'File "' in response.text:
        return f"stack trace: {response.text[:300]}"
    if response.status_code >= 400:  # a few are harmless and served, e.g. a BOM before JSON
        error = response.json()
        if set(error) != {"detail", "code"} or not isinstance(error["code"], str):
            return f"not a JSON error: {response.text[:300]}"
    return None


# One app serves each group (building one per request would dominate the suite's time);
# every request is still checked, and every failing one is named.
GROUPS = {
    "bodies to POST /tasks": [b for b in BAD_REQUESTS if b.method == "POST" and b.path == TASKS],
    "bodies to PUT a task": [b for b in BAD_REQUESTS if b.method == "PUT" and b.path == A_TASK],
    "bodies to PATCH a task": [b for b in BAD_REQUESTS if (b.method, b.path) == ("PATCH", A_TASK)],
    "bodies to /complete": [
        b for b in BAD_REQUESTS if b.path.endswith("/complete") and b.content is not None
    ],
    "queries, paths, headers": [b for b in BAD_REQUESTS if b.content is None],
}


def test_the_groups_cover_every_bad_request() -> None:
    assert sum(len(group) for group in GROUPS.values()) == len(BAD_REQUESTS)


@pytest.mark.parametrize("group", GROUPS)
async def test_bad_input_never_gets_a_500_or_a_traceback(
    client: httpx.AsyncClient, group: str
) -> None:
    problems = {}
    for bad in GROUPS[group]:
        given: dict[str, str | bytes] = {**(auth() if bad.with_token else {}), **bad.headers}
        # As bytes, so that headers that are not ASCII reach the app as sent.
        headers = [
            (name.encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in given.items()
        ]
        response = await client.request(bad.method, bad.path, content=bad.content, headers=headers)
        if (found := problem(response)) is not None:
            problems[describe(bad)] = found
    assert problems == {}
