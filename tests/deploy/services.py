"""Reach the machine's PostgreSQL and Redis: check them, lend a fresh database and a Redis db."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REQUIRED = os.environ.get("HEP_REQUIRE_SERVICES") == "1"
DRIVERS = ("psycopg2", "asyncpg", "redis", "airflow.providers.celery")


def missing_services() -> list[str]:
    """Return what keeps the deployment test from running: drivers, PostgreSQL, Redis."""
    import importlib.util

    problems = [
        f"python package {name!r} (install the `deploy` extra: make test-deploy)"
        for name in DRIVERS
        if _find_spec(importlib.util, name) is None
    ]
    for name, host, port in (("PostgreSQL", PG_HOST, PG_PORT), ("Redis", REDIS_HOST, REDIS_PORT)):
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError as exc:
            problems.append(f"{name} at {host}:{port} ({exc.strerror or exc})")
    return problems


def _find_spec(util, name: str):  # type: ignore[no-untyped-def]
    try:
        return util.find_spec(name)
    except ModuleNotFoundError:
        return None


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database of our own, created for one test session and dropped after it."""

    name: str

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"

    @property
    def celery_result_backend(self) -> str:
        return f"db+postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"

    @classmethod
    def named(cls) -> Database:
        """Pick a fresh name; nothing is created yet."""
        return cls(f"hep_deploy_{secrets.token_hex(4)}")

    def create(self) -> None:
        _admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        # WITH (FORCE) (PostgreSQL 13+) ends sessions a killed process may have left behind.
        _admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def exists(self) -> bool:
        rows = _admin("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,), fetch=True)
        return bool(rows)


def _admin(sql: str, args: tuple[str, ...] = (), *, fetch: bool = False) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if fetch else []
    finally:
        conn.close()


@dataclass(frozen=True)
class RedisDb:
    """An empty Redis database number, used as this session's Celery broker and flushed after."""

    number: int

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.number}"

    @classmethod
    def claim(cls) -> RedisDb:
        """Take an empty db among 1..15 (0 stays for whatever else the machine runs)."""
        import redis

        numbers = list(range(1, 16))
        secrets.SystemRandom().shuffle(numbers)
        for number in numbers:
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
            try:
                if client.dbsize() == 0:
                    return cls(number)
            finally:
                client.close()
        raise RuntimeError("no empty Redis database among 1..15 to use as the Celery broker")

    def flush(self) -> None:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.number)
        try:
            client.flushdb()
        finally:
            client.close()
