"""Serve the framework floor exactly as `python -m app.serve` serves the product."""

from app.core.config import get_settings
from app.serve import serve

if __name__ == "__main__":
    serve("bench.floor_app:create_app", get_settings())
