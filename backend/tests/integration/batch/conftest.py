from tests.integration.tasks.conftest import client, create_task, task_row  # noqa: F401
