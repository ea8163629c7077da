"""`python -m app`: serve the api with uvicorn on 0.0.0.0:8000 (the image's CMD).

uvicorn handles SIGTERM/SIGINT itself: it stops accepting connections, lets in-flight requests
finish (at most GRACEFUL_SECONDS), then runs the app's shutdown, which closes the pools.
`python -m app --reload` restarts on code changes (development only).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from app.logs import log_config
from app.settings import Settings

GRACEFUL_SECONDS = 8  # below the 10 s that `docker stop` and Kubernetes wait before SIGKILL


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container serves all interfaces
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    args = parser.parse_args(argv)

    settings = Settings.from_env()  # fail fast, before uvicorn starts, on a bad variable
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        reload=args.reload,
        reload_dirs=["app"] if args.reload else None,
        log_config=log_config(settings.log_level),
        log_level=settings.log_level,
        proxy_headers=True,  # X-Forwarded-* from the addresses in FORWARDED_ALLOW_IPS
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


if __name__ == "__main__":
    main()
