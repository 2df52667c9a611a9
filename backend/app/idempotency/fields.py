"""What an idempotency record may hold. Shared by the table (models.py) and the request path,
which never imports the table definitions (see tests/unit/core/test_served_imports.py)."""

KEY_MAX_LENGTH = 255
