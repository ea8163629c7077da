"""The load of `nox -s bench` and tests/smoke/test_load.py (load.py runs locust headless with it).

Every user is a closed loop without think time: it sends its next request as soon as the last one
is answered, so the concurrency is exactly the number of users. Four reads of the item list for
each item created; every POST invalidates the cached list, so reads hit both Redis and PostgreSQL.
Any answer other than 2xx, and any connection error, counts as a failure.
"""

from __future__ import annotations

import os
import uuid

from locust import FastHttpUser, constant, task

# Traefik routes by Host; locust connects to 127.0.0.1 (the proxy's published port).
HEADERS = {"Host": os.environ.get("LOAD_API_HOST", "api.localhost")}


class ItemsUser(FastHttpUser):
    wait_time = constant(0)

    @task(4)
    def list_items(self) -> None:
        self.client.get("/items", headers=HEADERS)

    @task(1)
    def create_item(self) -> None:
        name = f"load-{uuid.uuid4().hex[:12]}"
        self.client.post("/items", json={"name": name}, headers=HEADERS)
