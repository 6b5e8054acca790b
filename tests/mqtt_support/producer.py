"""A stand-in appliance for the delivery tests: publishes events numbered 1..N through Telemetry, resuming after a kill."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from edge.telemetry.client import Telemetry
from edge.telemetry.settings import MqttConfig


class _NoCommands:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--site", default="site-a")
    parser.add_argument("--total", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=0.0, help="events per second (0: as fast as possible)")
    args = parser.parse_args()
    settings = MqttConfig.from_url(args.url)
    telemetry = Telemetry(settings, args.device, args.site, Path(args.data), _NoCommands())
    telemetry.start()
    start = telemetry.outbox.last_seq() + 1
    print(f"resuming at {start}", flush=True)
    t0 = time.monotonic()
    for n in range(start, args.total + 1):
        telemetry.publish_event({"type": "test", "n": n})
        if args.rate:
            delay = t0 + (n - start + 1) / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    while telemetry.outbox_depth():
        time.sleep(0.05)
    print("drained", flush=True)
    # Stay up: central may still ask for resends of events the broker lost after acknowledging them.
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
