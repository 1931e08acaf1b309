"""What the edges share inside one process: the engine, Redis, the store writer, this edge's sockets.

Built once by :mod:`switchboard.processes.serve` (or a test) and hung on ``app.state.services``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from switchboard.actors.engine import Engine
from switchboard.mail.sender import MailSender
from switchboard.settings import BotSettings, DispatchSettings, MailSettings, ServerSettings
from switchboard.store.writer import StoreWriter
from switchboard.edges.auth import Passwords
from switchboard.edges.delivery.fanout import Hub
from switchboard.edges.delivery.names import Names
from switchboard.edges.delivery.relay import Relay
from switchboard.edges.delivery.sockets import Sockets, SyncBuckets
from switchboard.edges.site import SiteCache

from switchboard.edges.botworker.worker import BotWorker

if TYPE_CHECKING:  # the knowledge base loads its embedder's libraries: only where it is opened
    from switchboard.llm.kb import KnowledgeBase

__all__ = ["Services"]


@dataclass
class Services:
    settings: ServerSettings
    dispatch: DispatchSettings
    engine: Engine
    redis: aioredis.Redis
    writer: StoreWriter
    secret: str
    hub: Hub
    sockets: Sockets
    names: Names
    relay: Relay | None = None  # only in the process that drains the engine
    bot: BotWorker | None = None  # beside the relay, where the bot is enabled
    recovered: dict[str, int] | None = None  # what restart recovery rebuilt, where it ran
    sync_buckets: SyncBuckets = field(default_factory=SyncBuckets)  # visitors' sync budget, per client address
    bot_settings: BotSettings | None = None
    kb: KnowledgeBase | None = None  # opened on first use by the REST API where this process has no bot
    passwords: Passwords = field(default_factory=Passwords)
    mail: MailSender | None = None  # outgoing mail (invites, resets): SMTP or the outbox; None in bare tests
    mail_settings: MailSettings = field(default_factory=MailSettings)
    site: SiteCache = field(default_factory=SiteCache)  # the team and widget settings; app start gives it the file's origins
    edge_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    conn_counter: int = 0

    def next_conn_id(self) -> str:
        self.conn_counter += 1
        return f"k{self.conn_counter}"
