"""What the request path and the deliverer need to know of webhook endpoints (neither ever
imports models.py)."""

# The event types an endpoint may subscribe to: the outbox's types (app/events).
EVENT_TYPES = (
    "task.created",
    "task.updated",
    "task.deleted",
    "task.restored",
    "task.purged",
    "reminder.due",
)

MAX_WEBHOOKS_PER_USER = 10
URL_MAX_LENGTH = 2048
DESCRIPTION_MAX_LENGTH = 500
# The most recent delivery attempts kept (and listed) per endpoint.
DELIVERIES_KEPT = 100
# Standard Webhooks' prefix of a signing secret; the rest is the key in base64.
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_BYTES = 32
# A delivery that has not had a complete 2xx answer by then has failed (resolving the host,
# connecting, sending and reading the answer's head all count).
DELIVERY_TIMEOUT_SECONDS = 10.0
# Recorded in a failed attempt's `error` when the host resolves to an address not allowed.
ADDRESS_NOT_ALLOWED = "address not allowed"
