"""RSS of the call store and hash chain alone as calls pile up: does it level off?

Run: nice -n 19 .venv/bin/python bench/store_memory.py [CALLS] [--dir /dev/shm]

Each "call" is one call record (opened and closed) and 18 events through ``CallStore.add_event`` with the
integrity chain's hook, as the appliance writes them (docs/soak.md: about 18 events per call). Prints one
JSON line every 250 calls with the process RSS and the database size. No audio, no detector: what grows
here is the store's and SQLite's own (its page cache holds up to 2 MB of the database by default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import tempfile
from pathlib import Path

from edge.app import chain_hook
from edge.store import CallStore

EVENTS_PER_CALL = 18


def rss_kb() -> int:
    """Resident set size of this process."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    """Write CALLS calls, sampling every 250."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calls", type=int, nargs="?", default=3000)
    parser.add_argument("--dir", default="/dev/shm", help="where the throwaway data dir goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        data = Path(tmp)
        store = CallStore(data, on_event=chain_hook(data))
        wall = dt.datetime(2026, 11, 23, 11, 0)
        for call in range(args.calls + 1):
            call_id = f"L1-20261123-{call:05d}"
            store.open_call(call_id, "L1", "in", wall, f"0212345{call % 10000:04d}", None, None)
            for k in range(EVENTS_PER_CALL):
                data_ = {"k": k, "number": "02123456789", "outcome": "completed"}
                store.add_event(call_id, float(call * 100 + k), wall, "probe", None, data_)
            store.close_call(call_id, wall + dt.timedelta(seconds=30), "completed", None, "caller")
            if call % 250 == 0:
                gc.collect()
                size = (data / "lineguard.db").stat().st_size
                print(json.dumps({"calls": call, "rss_kb": rss_kb(), "db_kb": size // 1024}), flush=True)
        store.close()


if __name__ == "__main__":
    main()
