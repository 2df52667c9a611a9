"""A stand-in identity provider for tests: a real HTTP server on 127.0.0.1 (ephemeral port) that
publishes a JWKS the way Better Auth does (at /api/auth/jwks), counts the requests it sees per
path, and can rotate its keys, answer badly, trickle its answer or go down altogether."""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

JWKS_PATH = "/api/auth/jwks"

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# Pass as a claim's value to leave the claim out.
OMIT: Any = object()


@dataclass(frozen=True)
class SigningKey:
    """A provider's key pair: the private half signs tokens, the public JWK is published."""

    kid: str
    algorithm: str
    private_key: PrivateKey
    jwk: dict[str, Any]

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, payload: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        # Like Better Auth: {"alg", "kid"} and no "typ" (PyJWT drops a None typ). A header given
        # as None is left out.
        header: dict[str, Any] = {"kid": self.kid, **(headers or {})}
        header = {name: value for name, value in header.items() if value is not None}
        header.setdefault("typ", None)
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm, headers=header)


def new_kid() -> str:
    return secrets.token_urlsafe(24)[:32]


def ed25519_key(kid: str | None = None) -> SigningKey:
    """Shaped like Better Auth's default key: alg EdDSA, no `use`."""
    private = ed25519.Ed25519PrivateKey.generate()
    kid = kid or new_kid()
    public = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return SigningKey(kid, "EdDSA", private, {"alg": "EdDSA", **public, "kid": kid})


def p256_key(kid: str | None = None) -> SigningKey:
    """No `alg` member: the algorithm is inferred from the curve, as many providers need."""
    private = ec.generate_private_key(ec.SECP256R1())
    kid = kid or new_kid()
    public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return SigningKey(kid, "ES256", private, {**public, "kid": kid, "use": "sig"})


def rsa_key(kid: str | None = None) -> SigningKey:
    """Shaped like Auth0's keys: alg RS256, use sig."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = kid or new_kid()
    public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return SigningKey(kid, "RS256", private, {**public, "kid": kid, "alg": "RS256", "use": "sig"})


def hs256_token(secret: bytes, payload: dict[str, Any], headers: dict[str, Any]) -> str:
    """An HS256 token with any bytes as the secret, even a public key's (PyJWT refuses those)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = {"alg": "HS256", **headers}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


class Behaviour(Enum):
    SERVE = "serve"
    ERROR = "error"  # 500 with an HTML body, like a crashed front end
    TRICKLE = "trickle"  # 200 whose body arrives one byte at a time, never finishing


@dataclass
class _State:
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    behaviour: Behaviour = Behaviour.SERVE
    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            with state.lock:
                state.counts[path] = state.counts.get(path, 0) + 1
                behaviour = state.behaviour
                jwks = state.jwks
            if path != JWKS_PATH:
                self._send(404, b'{"error": "not found"}')
            elif behaviour is Behaviour.ERROR:
                self._send(500, b"<html>Internal Server Error</html>", "text/html")
            elif behaviour is Behaviour.TRICKLE:
                self._trickle()
            else:
                self._send(200, json.dumps(jwks).encode())

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _trickle(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            # Each byte comes well within any per-read timeout, so only a total timeout helps.
            while not state.released.wait(0.05):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class JwksServer:
    """Use as a context manager; `url` is the JWKS URL, `base_url` the issuer and audience."""

    def __init__(self, *keys: SigningKey) -> None:
        self._state = _State()
        self.publish(*keys)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return self.base_url + JWKS_PATH

    def publish(self, *keys: SigningKey, extra: list[dict[str, Any]] | None = None) -> None:
        """Replace the published key set (a rotation when the keys differ)."""
        with self._state.lock:
            self._state.jwks = {"keys": [key.jwk for key in keys] + list(extra or [])}

    def behave(self, behaviour: Behaviour) -> None:
        with self._state.lock:
            self._state.behaviour = behaviour

    def requests(self, path: str = JWKS_PATH) -> int:
        with self._state.lock:
            return self._state.counts.get(path, 0)

    def total_requests(self) -> int:
        with self._state.lock:
            return sum(self._state.counts.values())

    def start(self) -> None:
        """Listen (again, on the same port after a `stop()`)."""
        self._state.released.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self._state))
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Go down: the port is closed, so connections are refused."""
        self._state.released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "JwksServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def claims_for(
    server: JwksServer, sub: str = "user-0123456789abcdef0123456789ab", /, **overrides: Any
) -> dict[str, Any]:
    """A payload shaped like Better Auth's: the user row plus iss/aud = base URL, 15 minutes."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iat": now,
        "exp": now + 900,
        "iss": server.base_url,
        "aud": server.base_url,
        "sub": sub,
        "id": sub,
        "email": f"{sub}@example.com",
        "name": "Test User",
        "emailVerified": False,
        "image": None,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z",
    }
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not OMIT}
