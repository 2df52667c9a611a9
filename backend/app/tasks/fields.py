"""What a task row may hold, and the SQL fragments its statements share. Used by the table
(models.py) and by the request path, which never imports the table definitions (see
tests/unit/core/test_served_imports.py)."""

TITLE_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 2000

# Stored as a small integer so that sorting by priority is sorting by the column.
PRIORITIES = ("none", "low", "medium", "high")

# `q` and `tag` are looked up in one GIN index of per-owner keys (see migration 0004's
# task_search_keys and app/tasks/listing.py): the words of title and description, as
# PostgreSQL's 'simple' configuration splits them (lowercased, no stemming, no stop words),
# and the tags, each prefixed with the owner, so a lookup only ever reads one user's entries.
SEARCH_CONFIG = "simple"
SEARCH_KEYS = "task_search_keys(owner_id, title, description, tags)"
# Every list reads live tasks only, so the list indexes leave the trash out (and, being
# smaller, are the ones the planner picks for a user's live tasks).
LIVE_ROWS = "deleted_at IS NULL"
