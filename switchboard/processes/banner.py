"""What ``switchboard serve`` prints once it is about to serve: where to reach it, and how to begin.

One module for the single-process server and the multi-edge one, so both say the same.
"""

from __future__ import annotations

from switchboard.settings import ServerSettings

__all__ = ["print_urls"]


def print_urls(settings: ServerSettings) -> None:
    base = f"{settings.host}:{settings.port}"
    print(f"  REST                  http://{base}/api  (OpenAPI: http://{base}/api/openapi.json)", flush=True)
    print(f"  visitor websocket     ws://{base}/ws/visitor", flush=True)
    print(f"  agent websocket       ws://{base}/ws/agent", flush=True)
    print("  first admin:          switchboard admin create --email you@example.com --password-stdin", flush=True)
