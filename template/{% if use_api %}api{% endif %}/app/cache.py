"""Redis as a cache: a miss or a Redis failure is never an error for the caller.

`Cache` wraps any client with redis-py's get/set/delete/ping/close methods, so the tests pass an
in-memory stand-in and production passes `redis.Redis`.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.settings import CacheSettings

log = logging.getLogger(__name__)


class Client(Protocol):
    def get(self, name: str) -> Any: ...
    def set(self, name: str, value: str, ex: int | None = None) -> Any: ...
    def delete(self, *names: str) -> Any: ...
    def ping(self) -> Any: ...
    def close(self) -> Any: ...


def make_client(cache: CacheSettings) -> redis.Redis:
    """Fail fast: a cache that does not answer must cost a request little, because the caller
    then reads the database. redis-py's default retries three times with exponential backoff
    (seconds per call while Redis is down); one immediate retry is enough to replace a pooled
    connection that a restarted Redis closed. Worst case per call: 2 attempts x 1 s, below the
    readiness probe's 3 s timeout. The pool reconnects by itself when Redis is back."""
    return redis.Redis(
        host=cache.host,
        port=cache.port,
        password=cache.password,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), retries=1),
        health_check_interval=30,
        decode_responses=True,
    )


class Cache:
    def __init__(self, client: Client, *, prefix: str = "api:") -> None:
        self.client = client
        self.prefix = prefix

    def get_json(self, key: str) -> Any | None:
        """The cached value, or None on a miss, a corrupt entry, or Redis being unreachable."""
        try:
            raw = self.client.get(self.prefix + key)
        except redis.RedisError as exc:
            log.warning("cache read failed", extra={"key": key, "error": str(exc)})
            return None
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            log.warning("cache entry is not JSON; ignoring it", extra={"key": key})
            return None

    def set_json(self, key: str, value: Any, ttl: int) -> None:
        try:
            self.client.set(self.prefix + key, json.dumps(value, default=str), ex=ttl)
        except redis.RedisError as exc:
            log.warning("cache write failed", extra={"key": key, "error": str(exc)})

    def invalidate(self, key: str) -> bool:
        """Delete a key. False when Redis failed (the entry may then live until its TTL)."""
        try:
            self.client.delete(self.prefix + key)
        except redis.RedisError as exc:
            log.error("cache invalidation failed", extra={"key": key, "error": str(exc)})
            return False
        return True

    def ping(self) -> None:
        """Raise when Redis does not answer (used by /readyz)."""
        self.client.ping()

    def close(self) -> None:
        self.client.close()
