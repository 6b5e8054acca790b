"""Bench: how fast one box can write events into its durable outbox (fsync per event vs crash-safe only)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.telemetry.outbox import Outbox


def main(count: int = 2000) -> int:
    body = {"type": "warning", "category": "insult", "basis": "abuse.insult", "call_id": "c-000123"}
    for sync in ("full", "normal"):
        with tempfile.TemporaryDirectory() as tmp:
            box = Outbox(Path(tmp) / "outbox.db", synchronous=sync)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            times = []
            for _ in range(count):
                t = time.perf_counter()
                box.add("event", "lineguard/s/d/event", body)
                times.append(time.perf_counter() - t)
            total = time.perf_counter() - t0
            times.sort()
            box.close()
        print(json.dumps({
            "synchronous": sync, "events": count, "events_per_s": round(count / total),
            "p50_ms": round(1000 * times[count // 2], 3), "p99_ms": round(1000 * times[int(count * 0.99)], 3),
        }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
