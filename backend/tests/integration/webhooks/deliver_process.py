"""One instance's delivery loop in a process of its own, until it is killed (the tests of
claims across instances): `python -m tests.integration.webhooks.deliver_process URL LEASE`."""

import asyncio
import sys

from app.core.config import Settings
from app.core.database import Database
from app.webhooks.delivery import WebhookDeliverer


async def main(database_url: str, lease_seconds: float) -> None:
    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=database_url,
        jwt_secret="x" * 40,
        webhook_allow_private=True,
        webhook_allow_http=True,
        webhook_poll_seconds=0.05,
        webhook_lease_seconds=lease_seconds,
    )
    database = Database(settings, database_url)
    await database.open()
    WebhookDeliverer(database, settings).start()
    print("delivering", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
