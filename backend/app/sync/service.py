"""The change feed and the tombstones it reports deletions from.

Why "change number > cursor" misses nothing: every write takes its owner's next change
number by updating the owner's row, whose lock it holds until it commits. The next write of
that owner waits for the lock, so change numbers commit in increasing order. A statement
that sees the owner's counter at N therefore sees every change numbered up to N, and a
change it does not see will be numbered above N. Each row (live task or tombstone) carries
the number of its latest change, so a client that has everything up to N needs exactly the
rows above N: a task changed again since is there in its latest state, once.
"""

import uuid
from dataclasses import dataclass

from app.core.database import Queries
from app.sync.cursor import Cursor, CursorExpired, epoch_of
from app.tasks.service import (
    PUBLIC_FIELDS,
    Source,
    TaskRow,
    connection,
    provision_owner,
    task_json,
)

# Sorts after every task id: a position after all changes of one number.
_LAST_ID = uuid.UUID(int=2**128 - 1)

# One statement, so one snapshot: the owner's counter and purge horizon, and the next
# `limit` changes after the position, live tasks and tombstones merged in change order.
# Without a cursor ($5 false) tombstones are left out: the client holds nothing to drop.
# `change_seq >= 0` (always true) lets the planner use ix_tasks_owner_change.
_FEED = f"""
SELECT u.change_seq AS head, u.purged_change_seq AS purged, u.created_at AS account_created,
       f.seq, f.task_id, f.removed, {", ".join(f"t.{name}" for name in PUBLIC_FIELDS)}
FROM users AS u
LEFT JOIN LATERAL (
    SELECT * FROM (
        (SELECT change_seq AS seq, id AS task_id, false AS removed FROM tasks
         WHERE owner_id = $1 AND deleted_at IS NULL AND change_seq >= 0
           AND (change_seq, id) > ($2, $3)
         ORDER BY change_seq, id LIMIT $4)
        UNION ALL
        (SELECT change_seq, task_id, true FROM tombstones
         WHERE $5 AND owner_id = $1 AND (change_seq, task_id) > ($2, $3)
         ORDER BY change_seq, task_id LIMIT $4)
    ) AS merged
    ORDER BY seq, task_id
    LIMIT $4
) AS f ON true
LEFT JOIN tasks AS t ON NOT f.removed AND t.id = f.task_id AND t.owner_id = $1
WHERE u.id = $1
ORDER BY f.seq, f.task_id
"""


@dataclass(frozen=True, slots=True)
class FeedPage:
    changes: list[TaskRow]
    deleted: list[uuid.UUID]
    cursor: Cursor
    has_more: bool


async def change_feed(db: Source, owner_id: str, since: Cursor | None, limit: int) -> FeedPage:
    """The next `limit` changes after `since` (from the start when None).

    Raises CursorExpired when `since` belongs to another incarnation of the account, lies
    before the tombstones still kept, or after the account's latest change.
    """
    after_seq, after_id = (-1, _LAST_ID) if since is None else (since.seq, since.after_id)
    args = (owner_id, after_seq, after_id or _LAST_ID, limit + 1, since is not None)
    async with connection(db) as conn:
        rows = await conn.fetch(_FEED, *args)
        if not rows:
            # The account was erased since this process cached it: a new, empty one.
            await provision_owner(conn, owner_id)
            rows = await conn.fetch(_FEED, *args)
    account = rows[0]
    epoch = epoch_of(account["account_created"])
    if since is not None and (
        since.epoch != epoch or not account["purged"] <= since.seq <= account["head"]
    ):
        raise CursorExpired()
    entries = [row for row in rows if row["seq"] is not None]
    has_more = len(entries) > limit
    entries = entries[:limit]
    if has_more:
        last = entries[-1]
        cursor = Cursor(epoch, last["seq"], last["task_id"])
    else:
        # Everything up to the counter this snapshot saw has been delivered.
        cursor = Cursor(epoch, account["head"])
    return FeedPage(
        changes=[task_json(row) for row in entries if not row["removed"]],
        deleted=[row["task_id"] for row in entries if row["removed"]],
        cursor=cursor,
        has_more=has_more,
    )


# The retention sweep's batch for tombstones: the owners with expired ones.
_EXPIRED_TOMBSTONE_OWNERS = """
SELECT DISTINCT owner_id FROM tombstones
WHERE deleted_at < now() - make_interval(days => $1)
LIMIT $2
"""

# Owners' rows are locked first, in id order, as every write locks its owner's row before
# the tombstone: so a purge and a trash or restore of the same owner never deadlock.
_LOCK_OWNERS = "SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"

_PURGE_TOMBSTONES = """
WITH purged AS (
    DELETE FROM tombstones
    WHERE owner_id = ANY($1) AND deleted_at < now() - make_interval(days => $2)
    RETURNING owner_id, change_seq
),
horizon AS (
    UPDATE users SET purged_change_seq = GREATEST(users.purged_change_seq, p.seq)
    FROM (SELECT owner_id, max(change_seq) AS seq FROM purged GROUP BY owner_id) AS p
    WHERE users.id = p.owner_id
)
SELECT count(*) FROM purged
"""


async def purge_expired_tombstones(
    conn: Queries, retention_days: int, batch_size: int
) -> tuple[int, bool]:
    """Delete the tombstones older than `retention_days` of up to `batch_size` owners, and
    raise those owners' purge horizon (cursors below it answer 410). Run it inside a
    transaction. Returns the tombstones deleted and whether more owners may have some."""
    owners = [
        row["owner_id"]
        for row in await conn.fetch(_EXPIRED_TOMBSTONE_OWNERS, retention_days, batch_size)
    ]
    if not owners:
        return 0, False
    await conn.fetch(_LOCK_OWNERS, owners)
    purged: int = await conn.fetchval(_PURGE_TOMBSTONES, owners, retention_days)
    return purged, len(owners) == batch_size
