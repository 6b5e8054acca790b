"""The central dashboard: one HTML page with inline SVG plots, and a JSON summary, served by the standard library."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from central.store import Store

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
CUT_TYPES = ("cut",)
INCIDENT_TYPES = ("warning", "cut", "caller_marked")
"""Policy actions that make a call an incident (as in the runtime)."""
BASIS_CATEGORY = {"staff.request": "staff", "duration.limit": "duration", "blocked.number": "blocked"}


def incident_category(kind: str, event: dict[str, Any]) -> str | None:
    """The category an incident is counted under (abuse category, else from its legal basis); None if none."""
    if kind not in INCIDENT_TYPES:
        return None
    category = event.get("category")
    if isinstance(category, str) and category:
        return category
    basis = event.get("basis")
    return BASIS_CATEGORY.get(basis, basis) if isinstance(basis, str) and basis else "other"


def summary(store: Store, days: int = 14, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, as plain data."""
    since = time.time() - days * 86400
    devices = [
        {"device": d, "site": s, "state": st, "since": since_, "last_seq": last}
        for d, s, st, since_, last in store.query(
            "SELECT device, site, state, since, last_seq FROM devices ORDER BY site, device"
        )
    ]
    latest_health: dict[str, dict[str, Any]] = {}
    for device, body in store.query(
        "SELECT h.device, h.body FROM health h JOIN (SELECT device, max(ts) AS ts FROM health GROUP BY device) m "
        "ON h.device = m.device AND h.ts = m.ts"
    ):
        latest_health[device] = json.loads(body)
    for d in devices:
        d["health"] = latest_health.get(d["device"], {})
    incidents: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_site: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cuts: dict[str, int] = defaultdict(int)
    for site, ts, kind, body in store.query("SELECT site, ts, type, body FROM events WHERE ts >= ?", [since]):
        day = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")
        event = json.loads(body)
        category = incident_category(kind, event)
        if category:
            incidents[day][category] += 1
            per_site[site][category] += 1
        if kind in CUT_TYPES:
            cuts[day] += 1
    events_total = store.query("SELECT count(*) FROM events")[0][0]
    losses = store.query("SELECT count(*), coalesce(sum(last_seq - first_seq + 1), 0) FROM losses")[0]
    return {
        "devices": devices,
        "online": sum(1 for d in devices if d["state"] == "online"),
        "incidents_per_day": {k: dict(v) for k, v in sorted(incidents.items())},
        "incidents_per_site": {k: dict(v) for k, v in sorted(per_site.items())},
        "cuts_per_day": dict(sorted(cuts.items())),
        "events_total": int(events_total),
        "loss_gaps": int(losses[0]),
        "events_lost": int(losses[1]),
        **(extra or {}),
    }


def stacked_bars(title: str, data: dict[str, dict[str, int]], width: int = 640, height: int = 220) -> str:
    """An SVG stacked bar chart: one bar per key of ``data``, one colour per inner key."""
    series = sorted({s for bar in data.values() for s in bar})
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(series)}
    top = max((sum(bar.values()) for bar in data.values()), default=0) or 1
    left, bottom, legend = 40, 30, 18 * max(1, len(series))
    plot_h = height - bottom - 20
    n = max(1, len(data))
    step = (width - left - 10) / n
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height + legend}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{20 + plot_h}" x2="{width - 10}" y2="{20 + plot_h}" stroke="#555"/>',
        f'<text x="{left - 6}" y="24" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{left - 6}" y="{20 + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    if not data:
        parts.append(
            f'<text x="{width / 2}" y="{20 + plot_h / 2}" text-anchor="middle" fill="#777">no data</text>'
        )
    for i, (label, bar) in enumerate(data.items()):
        bar_w = min(step * 0.7, 48.0)
        x = left + i * step + (step - bar_w) / 2
        y = 20.0 + plot_h
        for s in series:
            value = bar.get(s, 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour[s]}"><title>{escape(label)} {escape(s)}: {value}</title></rect>'
            )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{20 + plot_h + 16}" text-anchor="middle" font-size="10">'
            f"{escape(label[-5:] if len(label) == 10 else label)}</text>"
        )
    for i, s in enumerate(series):
        y = height + 4 + i * 18
        parts.append(f'<rect x="{left}" y="{y}" width="12" height="12" fill="{colour[s]}"/>')
        parts.append(f'<text x="{left + 18}" y="{y + 11}" font-size="12">{escape(s)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(data: dict[str, Any]) -> str:
    """The dashboard page (self-contained HTML; no scripts, nothing fetched from elsewhere)."""
    rows = []
    for d in data["devices"]:
        h = d["health"]
        rows.append(
            f'<tr class="device {escape(d["state"])}"><td>{escape(d["site"])}</td><td>{escape(d["device"])}</td>'
            f"<td>{escape(d['state'])}</td><td>{escape(str(h.get('outbox_depth', '')))}</td>"
            f"<td>{escape(str(h.get('last_error') or ''))}</td></tr>"
        )
    callers = "".join(f"<li>{escape(n)}</li>" for n in data.get("repeat_callers", [])) or "<li>none</li>"
    cuts = {day: {"cuts": n} for day, n in data["cuts_per_day"].items()}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lineguard central</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em}} .online td:nth-child(3){{color:#2a7}}
.offline td:nth-child(3){{color:#c33}} .kpi{{display:inline-block;margin-right:2em;font-size:1.2em}}</style>
</head><body>
<h1>lineguard central</h1>
<p><span class="kpi" id="online">{data["online"]} of {len(data["devices"])} boxes online</span>
<span class="kpi" id="events">{data["events_total"]} events</span>
<span class="kpi" id="lost">{data["events_lost"]} events lost</span>
<span class="kpi" id="duplicates">{data.get("duplicates", 0)} duplicates dropped</span></p>
<h2>Boxes</h2>
<table id="devices"><tr><th>site</th><th>box</th><th>state</th><th>outbox</th><th>last error</th></tr>
{"".join(rows)}</table>
<h2>Incidents per day and category</h2>
<figure id="incidents">{stacked_bars("Incidents per day and category", data["incidents_per_day"])}</figure>
<h2>Incidents per site</h2>
<figure id="sites">{stacked_bars("Incidents per site and category", data["incidents_per_site"])}</figure>
<h2>Calls cut per day</h2>
<figure id="cuts">{stacked_bars("Calls cut per day", cuts)}</figure>
<h2>Repeat callers (shared with every box)</h2>
<ul id="repeat-callers">{callers}</ul>
</body></html>
"""


def serve(
    store: Store, host: str, port: int, extra: Callable[[], dict[str, Any]] = dict
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve ``/`` (HTML) and ``/api/summary`` (JSON) in a background thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                body, kind = render(summary(store, extra=extra())).encode(), "text/html; charset=utf-8"
            elif self.path == "/api/summary":
                body, kind = json.dumps(summary(store, extra=extra())).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="central-web", daemon=True)
    thread.start()
    return server, thread
