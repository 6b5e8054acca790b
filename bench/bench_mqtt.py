"""Bench: N simulated boxes publish events to a local Mosquitto; the real central receiver stores them.

Reports offered and held events per second, broker and receiver CPU, end-to-end latency p50/p99
(event created on the box -> committed in central's database). Run: nice -n 10 .venv/bin/python
bench/bench_mqtt.py --devices 500 --rate 1 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.mqtt_support import Broker, make_pki  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ticks(rate: float, seconds: float) -> int:
    """Events each box sends in the run."""
    return round(rate * seconds)


def devices_worker(
    port: int,
    first: int,
    count: int,
    rate: float,
    seconds: float,
    start_at: float,
    tls: tuple[str, str, str] | None,
) -> None:
    """``count`` boxes, each publishing ``rate`` events/s in the device envelope, QoS 1.

    With ``tls`` (ca, cert, key) all boxes share one client certificate, CN ``lg-bench``: the ACL then lets
    them publish only under ``lineguard/<site>/lg-bench/``, so each box is told apart by its epoch.
    """
    clients = []
    for i in range(first, first + count):
        c = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"bench-{i}", protocol=mqtt.MQTTv5
        )
        if tls:
            c.tls_set(ca_certs=tls[0], certfile=tls[1], keyfile=tls[2])
        c.connect("127.0.0.1", port, keepalive=60)
        c.loop_start()
        clients.append(("lg-bench" if tls else f"lg-{i:04d}", f"site-{i // 10:03d}", c))
    while time.time() < start_at:
        time.sleep(0.01)
    period = 1.0 / rate
    for seq in range(1, ticks(rate, seconds) + 1):
        tick = start_at + (seq - 1) * period
        # Spread the boxes over the period instead of firing them all at once.
        for k, (device, site, c) in enumerate(clients):
            delay = tick + period * k / count - time.time()
            if delay > 0:
                time.sleep(delay)
            body = {"type": "warning", "category": "insult", "basis": "abuse.insult"}
            epoch = f"e{first + k:04d}"
            env = {"id": f"{epoch}:{seq}", "epoch": epoch, "device": device, "site": site, "seq": seq,
                   "ts": time.time(), "event": body}  # fmt: skip
            c.publish(f"lineguard/{site}/{device}/event", json.dumps(env), qos=1)
    time.sleep(2)
    for _, _, c in clients:
        c.disconnect()
        c.loop_stop()


def run(devices: int, rate: float, seconds: float, workers: int, use_tls: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        tls: tuple[str, str, str] | None = None
        url = ""
        pki = None
        if use_tls:
            pki = make_pki(Path(tmp) / "pki", ["central", "lg-bench"])
            tls = (str(pki.ca), str(pki.cert("lg-bench")), str(pki.key("lg-bench")))
        broker = Broker(Path(tmp) / "broker", pki).start()
        url = broker.url()
        if pki is not None:
            url = f"mqtts://127.0.0.1:{broker.port}?ca={pki.ca}&cert={pki.cert('central')}&key={pki.key('central')}"
        db = Path(tmp) / "central.db"
        central = subprocess.Popen(
            [sys.executable, "-m", "central.cli", "--broker", url, "--db", f"sqlite:///{db}", "--http", "off"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(2.0)
        assert broker.proc is not None
        start_at = time.time() + 3 + devices / (50 if use_tls else 200)
        per = -(-devices // workers)
        procs = [
            mp.Process(
                target=devices_worker,
                args=(broker.port, w * per, min(per, devices - w * per), rate, seconds, start_at, tls),
            )
            for w in range(workers)
            if w * per < devices
        ]
        for p in procs:
            p.start()
        while time.time() < start_at:
            time.sleep(0.01)
        b0, c0, t0 = cpu_seconds(broker.proc.pid), cpu_seconds(central.pid), time.time()
        for p in procs:
            p.join()
        expected = devices * ticks(rate, seconds)
        deadline = time.time() + 30
        got = 0
        while time.time() < deadline:
            try:
                got = sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0]
            except sqlite3.OperationalError:
                got = 0
            if got >= expected:
                break
            time.sleep(0.2)
        b1, c1, t1 = cpu_seconds(broker.proc.pid), cpu_seconds(central.pid), time.time()
        lat = sorted(r[0] for r in sqlite3.connect(db).execute("SELECT received - ts FROM events"))
        last = sqlite3.connect(db).execute("SELECT max(received) - min(ts) FROM events").fetchone()[0]
        central.terminate()
        central.wait(10)
        broker.stop()
    return {
        "devices": devices,
        "tls": use_tls,
        "offered_events_per_s": devices * rate,
        "events_expected": expected,
        "events_stored": got,
        "held_events_per_s": round(got / last, 1) if last else 0.0,
        "broker_cpu_pct": round(100 * (b1 - b0) / (t1 - t0), 1),
        "receiver_cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 1),
        "latency_p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else -1,
        "latency_p99_ms": round(1000 * lat[int(len(lat) * 0.99)], 1) if lat else -1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--rate", type=float, nargs="+", default=[1.0], help="events per second per box")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tls", action="store_true", help="client certificates and the ACL, as deployed")
    args = parser.parse_args()
    for rate in args.rate:
        print(json.dumps(run(args.devices, rate, args.seconds, args.workers, args.tls)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
