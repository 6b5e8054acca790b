"""A throw-away PostgreSQL server (Debian's binaries) on 127.0.0.1, for central's PostgreSQL store."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.mqtt_support import free_port


def pg_bin() -> Path | None:
    """The folder with initdb and pg_ctl, if PostgreSQL is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres() -> Iterator[str]:
    """Run a fresh server for the block; yields its URL. Runs as user 'postgres' when started as root."""
    binaries = pg_bin()
    assert binaries is not None
    root = Path(tempfile.mkdtemp(prefix="lineguard-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data, sock = root / "data", root
    run = {"check": True, "capture_output": True, "timeout": 60}
    try:
        subprocess.run([*prefix, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "lineguard",
                        "--no-sync"], **run)  # type: ignore[call-overload]  # fmt: skip
        options = f"-k {sock} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                        str(root / "log"), "start"], **run)  # type: ignore[call-overload]  # fmt: skip
        yield f"postgresql://lineguard@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
