"""A TCP relay whose network can be cut: bytes stop moving both ways and no connection closes.

That is what a pulled cable or a sleeping laptop looks like to both ends (no FIN, no RST), so the only
way either side can notice is a heartbeat timing out. Tests put it between a client (a websocket
client, Chromium) and the server: ``NetCut(upstream_port)``, connect to ``relay.port``, then ``cut()``.
"""

from __future__ import annotations

import select
import socket
import threading

__all__ = ["NetCut"]


class NetCut:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self.upstream = (host, upstream_port)
        self.listener = socket.create_server((host, 0))
        self.port: int = self.listener.getsockname()[1]
        self.is_cut = threading.Event()
        self.stopped = threading.Event()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """From now on nothing passes, in either direction; every connection stays open."""
        self.is_cut.set()

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        for a, b in self.pairs:
            a.close()
            b.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_cut.is_set():  # a new connection after the cut never reaches the server either
                self.pairs.append((client, client))
                continue
            server = socket.create_connection(self.upstream)
            self.pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        while not self.stopped.is_set() and not self.is_cut.is_set():
            try:
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for sock in ready:
                    if self.is_cut.is_set():
                        return
                    data = sock.recv(65536)
                    if not data:  # one side closed: so does the other
                        a.close()
                        b.close()
                        return
                    peer[sock].sendall(data)
            except OSError:
                return
