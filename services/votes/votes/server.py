"""Wiring: build the gRPC server (not serving yet), then ``prepare`` applies
the migrations and opens the pool, after which health turns SERVING."""
from __future__ import annotations

import logging

from billionsongs.common.grpcserver import Server, create_server
from votes import migrate
from votes.accounts import Passwords
from votes.memorylimit import container_memory_limit
from votes.service import SERVICE_NAME, VotesService, add_to_server
from votes.settings import Settings
from votes.store import Store

log = logging.getLogger(__name__)


class VotesApp:
    def __init__(self, settings: Settings):
        self.settings = settings
        limit = container_memory_limit()
        slots = settings.hash_slots(limit)
        log.info("password hashing: at most %d at once (%d KiB each; container memory limit %s)", slots,
                 settings.argon2.memory_cost_kib, "none" if limit is None else f"{limit >> 20} MiB")
        self.service = VotesService(Passwords(settings.argon2, slots))
        self.server: Server = create_server(
            settings.listen, [lambda s: add_to_server(self.service, s)], [SERVICE_NAME],
            max_workers=settings.max_workers, retry_after_s=1.0)

    def prepare(self) -> None:
        """Apply migrations, open the pool, then let calls through."""
        version = migrate.migrate(self.settings.database_url)
        log.info("database schema at version %d", version)
        self.service.store = Store.connect(self.settings.database_url, self.settings.pool_size)

    def close(self) -> None:
        store, self.service.store = self.service.store, None
        if store is not None:
            store.close()
