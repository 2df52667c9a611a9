"""What the request path needs to know of the event tables (it never imports models.py)."""

# The event types a stream or a webhook may carry (`reset` is a stream's own signal).
TASK_EVENT_TYPES = (
    "task.created",
    "task.updated",
    "task.deleted",
    "task.restored",
    "task.purged",
)
EVENT_TYPES = (*TASK_EVENT_TYPES, "reminder.due")

# The channel every instance LISTENs on; the payload is the owner's id. The outbox trigger
# (migration 0007) sends on it only for owners with a registered stream.
CHANNEL = "task_events"

# An event id as clients see it: this prefix and the row's number.
EVENT_ID_PREFIX = "evt_"
