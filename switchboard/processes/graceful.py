"""A uvicorn server whose ``run`` returns after the graceful shutdown, so its caller can stop what it started.

uvicorn re-raises SIGINT or SIGTERM once its graceful shutdown is done, which would end the process
before ``switchboard serve`` stops the embedded servers it started; this server forgets the captured
signal instead. Imported only when a server is about to run (``serve``, each edge process), so the
command line does not pay for uvicorn.
"""

from __future__ import annotations

from types import FrameType

import uvicorn

__all__ = ["GracefulServer"]


class GracefulServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()
