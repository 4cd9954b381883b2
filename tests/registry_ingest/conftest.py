"""Fixtures of the registry ingest tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from medfollow_core.warehouse.bootstrap import bootstrap


@pytest.fixture
def url(server_url: str) -> Iterator[str]:
    """A fresh warehouse per test, for tests that count tables or alter the layout."""
    name = f"medfollow_test_{uuid.uuid4().hex[:10]}"
    admin = urlunsplit(urlsplit(server_url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    bootstrap(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
