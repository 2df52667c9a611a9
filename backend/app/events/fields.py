"""What the request path needs to know of the event tables (it never imports models.py)."""

# The channel every instance LISTENs on; the payload is the owner's id. The outbox trigger
# (migration 0007) sends on it only for owners with a registered stream.
CHANNEL = "task_events"

# An event id as clients see it: this prefix and the row's number.
EVENT_ID_PREFIX = "evt_"

# The type of the events of reminders that fire (app/reminders): not a change of the task, so
# such an event shares its change number with the latest change before it.
REMINDER_DUE = "reminder.due"
