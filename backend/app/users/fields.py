"""What a user row may hold. Shared by the table (models.py) and the request path, which
never imports the table definitions (see tests/unit/core/test_served_imports.py)."""

# Identity providers' user ids are opaque strings (Better Auth's are 32 characters).
USER_ID_MAX_LENGTH = 255
EMAIL_MAX_LENGTH = 320
