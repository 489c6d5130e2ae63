"""What the screens ask of the core, run off the UI thread: the store opened once, lazily."""

from __future__ import annotations

import threading
from typing import Any

from workbench.config import Settings


class Services:
    """Opens the store on first use (sqlalchemy costs ~0.5 s: never before the first frame)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Any = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                from workbench.store.db import Store

                self.settings.ensure_home()
                self._store = Store(self.settings.database_url)
            return self._store

    def pending_count(self) -> int:
        from workbench.governance.approvals import count_pending, expire_overdue

        expire_overdue(self.store)
        return count_pending(self.store)
