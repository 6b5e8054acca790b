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


def audit_fields(action: str, actor: str, detail: Any) -> dict[str, Any]:
    """The readable fields of one audit line."""
    return {"action": action, "actor": actor, "detail": detail}


def audit_digest(entry: Mapping[str, Any]) -> str:
    """The digest of an audit line's readable fields."""
    return sha256_hex(
        canonical(audit_fields(entry.get("action", ""), entry.get("actor", ""), entry.get("detail")))
    )


class AuditLog:
    """Append-only, hash-chained audit entries; each line keeps its details readable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._chain = HashChain(path)

    def append(self, action: str, actor: str, detail: Mapping[str, Any] | str) -> str:
        """Log one action (``decrypt``, ``export``, ``config.apply``...) by ``actor``; returns the head hash.

        The line keeps ``action``, ``actor`` and ``detail`` as plain fields beside the chain fields.
        """
        fields = audit_fields(action, actor, detail if isinstance(detail, str) else dict(detail))
        return self._chain.append(KIND_AUDIT, action, audit_digest(fields), extra=fields)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (unchecked; ``verify`` checks)."""
        return read_chain(self.path).entries
