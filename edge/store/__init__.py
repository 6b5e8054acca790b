"""Call records in SQLite: calls, their events with legal basis, caller history and strikes."""

from edge.store.db import CallStore, StoreError

__all__ = ["CallStore", "StoreError"]
