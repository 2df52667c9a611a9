from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.webhooks.delivery import signed_headers
from app.webhooks.service import new_secret


def test_signed_headers_verify_with_the_library() -> None:
    secret = new_secret()
    body = b'{"id":"evt_1","type":"task.created","data":{}}'
    headers = signed_headers(secret, "evt_1", body, datetime.now(UTC))
    assert headers["webhook-id"] == "evt_1"
    assert Webhook(secret).verify(body, headers) == {
        "id": "evt_1",
        "type": "task.created",
        "data": {},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "evt_2"})


def test_secrets_are_standard_webhooks_secrets_and_never_repeat() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        Webhook(secret)
