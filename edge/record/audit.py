"""The audit log: every decrypt, export and config change, as a hash chain of its own."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge.record.chain import HashChain, canonical, read_chain, sha256_hex

AUDIT_NAME = "audit.jsonl"
KIND_AUDIT = "audit"


def audit_path(data_dir: Path) -> Path:
    """Where the audit log lives in a data dir."""
    return data_dir / AUDIT_NAME


def current_actor() -> str:
    """Who is running this process, as best the OS can tell (login name, else uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


class AuditLog:
    """Append-only, hash-chained audit entries; each line keeps its details readable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._chain = HashChain(path)

    def append(self, action: str, actor: str, detail: Mapping[str, Any] | str) -> str:
        """Log one action (``decrypt``, ``export``, ``config-change``...) by ``actor``; returns the head hash."""
        body = {"actor": actor, "detail": detail if isinstance(detail, str) else dict(detail)}
        return self._chain.append(KIND_AUDIT, action, sha256_hex(canonical(body)), body=body)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (unchecked; ``verify`` checks)."""
        return read_chain(self.path).entries
