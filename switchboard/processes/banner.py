"""What ``switchboard serve`` prints once it is about to serve: where to reach it, and how to begin.

One module for the single-process server and the multi-edge one, so both say the same. The pages are at
``base_url`` (``public_url``, else this host and port). While no admin exists, the process that owns the
engine also prints the first-run line with the setup code (:func:`switchboard.edges.setup.setup_line`);
``/account`` is where mailed links land, not a page to start from, so it is not listed.
"""

from __future__ import annotations

from switchboard.settings import ServerSettings

__all__ = ["print_urls"]


def print_urls(settings: ServerSettings) -> None:
    base = f"{settings.host}:{settings.port}"
    site = settings.base_url
    print(f"  workspace (agents, admins)  {site}/workspace", flush=True)
    print(f"  widget demo page            {site}/widget  (embed: <script src=\"{site}/widget.js\" async>)",
          flush=True)
    print(f"  REST                        http://{base}/api  (OpenAPI: http://{base}/api/openapi.json)", flush=True)
    print(f"  visitor websocket           ws://{base}/ws/visitor", flush=True)
    print(f"  agent websocket             ws://{base}/ws/agent", flush=True)
    print("  another admin:              switchboard admin create --email you@example.com --password-stdin "
          "(works while the server runs)", flush=True)
