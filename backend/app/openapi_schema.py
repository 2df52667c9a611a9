"""`python -m app.openapi_schema [--output FILE]`: the API's OpenAPI schema as JSON, with no
server and no database (what `make client` generates the TypeScript client's types from).

The app is built from the settings' defaults, not from the environment or backend/.env, so
the schema is the same on every machine."""

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.main import create_app


def openapi_schema() -> dict[str, Any]:
    # A throwaway secret: the verifier wants one, and no request is ever served.
    settings = Settings.model_construct(jwt_secret=secrets.token_urlsafe(32))
    schema: dict[str, Any] = create_app(settings).openapi()
    return schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, help="write here instead of standard output")
    args = parser.parse_args(argv)
    text = json.dumps(openapi_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
