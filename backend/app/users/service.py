"""Users are provisioned from token claims: created on first sight, email kept current."""

from cachetools import LRUCache

from app.core.database import Database, Queries

# Per-process memory of (user id -> email) already stored, so that a request from a known
# user costs no write. Bounded: a forgotten user is simply upserted again (a no-op).
_known: LRUCache[str, str | None] = LRUCache(maxsize=20_000)

# Writes nothing, and takes no row lock, when the row is already as the claims say: ON
# CONFLICT DO UPDATE locks the row it finds even when its WHERE is false, which makes the
# transaction a writing one, whose commit waits for the WAL to reach the disk. That was a
# flush per user on each worker's first request of that user, all at once after a restart.
_UPSERT_USER = """
INSERT INTO users (id, email)
SELECT $1::text, $2::text
WHERE NOT EXISTS (
    SELECT FROM users
    WHERE id = $1::text AND ($2::text IS NULL OR email IS NOT DISTINCT FROM $2::text)
)
ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email
WHERE EXCLUDED.email IS NOT NULL AND users.email IS DISTINCT FROM EXCLUDED.email
"""


async def ensure_user(db: Database, user_id: str, email: str | None) -> None:
    """Create the user row if missing (race-free), update its email if the claim changed."""
    if email is not None and not _storable(email):
        email = None
    if user_id in _known and (email is None or _known[user_id] == email):
        return
    async with db.connection() as conn:
        await store_user(conn, user_id, email)


async def store_user(conn: Queries, user_id: str, email: str | None) -> None:
    """The upsert itself, on a connection the caller already holds."""
    await conn.execute(_UPSERT_USER, user_id, email)
    _known[user_id] = email


def forget_user(user_id: str) -> None:
    """Drop the cached knowledge of a user, e.g. after its row was found missing."""
    _known.pop(user_id, None)


def _storable(text: str) -> bool:
    # A claim may carry an unpaired surrogate (a JSON escape), which has no UTF-8 form.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
