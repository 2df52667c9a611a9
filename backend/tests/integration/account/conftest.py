"""Fixtures of these tests."""

import httpx
import pytest


@pytest.fixture
def client(shared_client: httpx.AsyncClient) -> httpx.AsyncClient:
    """These tests change nothing but the database: they share one app per module."""
    return shared_client
