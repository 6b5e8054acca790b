"""``lineguard-central``: run the receiver and dashboard, send a command, make and use the model-signing key."""

from __future__ import annotations

import argparse
import base64
import json
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from nacl.signing import SigningKey

from central.receiver import Receiver
from central.store import Store
from central.web import serve
from edge.telemetry.settings import MqttConfig

TOOLS = ("keygen", "sign-model", "command")


def _fail(message: str, status: int = 2) -> NoReturn:
    print(textwrap.fill(f"lineguard-central: {message}", width=100), file=sys.stderr)
    raise SystemExit(status)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(f"{message}. Run '{self.prog} --help' for the options.")


def _broker(url: str, identity: str) -> MqttConfig:
    try:
        settings = MqttConfig.from_url(url)
    except ValueError as exc:
        _fail(str(exc))
    return settings.model_copy(update={"central_identity": identity})


def _run(argv: Sequence[str]) -> int:
    p = _Parser(
        prog="lineguard-central", description="Receive every box's reports, repair gaps, serve a dashboard."
    )
    p.add_argument(
        "--broker", required=True, metavar="URL", help="mqtt://host:port or mqtts://host:port?ca=&cert=&key="
    )
    p.add_argument(
        "--db", default="sqlite:///central.db", metavar="URL", help="sqlite:///path or postgresql://..."
    )
    p.add_argument(
        "--http", default="127.0.0.1:8080", metavar="HOST:PORT", help="dashboard address, or 'off'"
    )
    p.add_argument(
        "--files", default="central-files", metavar="DIR", help="where uploaded recordings are written"
    )
    p.add_argument(
        "--identity", default="central", help="this receiver's certificate CN (the ACL's central user)"
    )
    args = p.parse_args(argv)
    settings = _broker(args.broker, args.identity)
    try:
        store = Store(args.db)
    except (ValueError, OSError) as exc:
        _fail(f"cannot open the database {args.db}: {exc}")
    receiver = Receiver(settings, store, client_id=args.identity, files_dir=Path(args.files))
    receiver.start()
    server = None
    if args.http != "off":
        host, _, port = args.http.rpartition(":")
        try:
            server, _thread = serve(store, host or "127.0.0.1", int(port), extra=lambda: _extra(receiver))
        except (ValueError, OSError) as exc:
            receiver.stop()
            _fail(f"cannot serve the dashboard on {args.http}: {exc}")
        print(
            f"lineguard-central: dashboard on http://{host or '127.0.0.1'}:{server.server_address[1]}/",
            flush=True,
        )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    if server is not None:
        server.shutdown()
    receiver.stop()
    store.close()
    return 0


def _extra(receiver: Receiver) -> dict[str, object]:
    c = receiver.counters
    return {
        "repeat_callers": list(receiver._shared),
        "duplicates": c.duplicates,
        "resend_requests": c.resend_requests,
        "connected": receiver.connected,
    }


def _tool(argv: Sequence[str]) -> int:
    p = _Parser(prog="lineguard-central")
    sub = p.add_subparsers(dest="tool", required=True, parser_class=_Parser)
    k = sub.add_parser(
        "keygen", help="make the ed25519 model-signing key; prints the public key for the boxes"
    )
    k.add_argument("key", type=Path, help="file to write the private key to (hex)")
    s = sub.add_parser("sign-model", help="print the model.update command payload for a .tflite file")
    s.add_argument("--key", type=Path, required=True, help="private key file from keygen")
    s.add_argument("model", type=Path)
    s.add_argument("version")
    c = sub.add_parser("command", help="send one command to a box and print its reply")
    c.add_argument("--broker", required=True, metavar="URL")
    c.add_argument("--identity", default="central")
    c.add_argument("--timeout", type=float, default=15.0)
    c.add_argument("site")
    c.add_argument("device")
    c.add_argument(
        "name", help="e.g. config.get, config.patch, lists.sync, model.update, recording.fetch, clips.fetch"
    )
    c.add_argument("payload", nargs="?", default="{}", help="JSON object, or @file")
    args = p.parse_args(argv)
    if args.tool == "keygen":
        if args.key.exists():
            _fail(f"{args.key} exists; refusing to overwrite a signing key")
        key = SigningKey.generate()
        args.key.write_text(key.encode().hex() + "\n")
        args.key.chmod(0o600)
        print(json.dumps({"public_key_hex": key.verify_key.encode().hex()}))
        return 0
    if args.tool == "sign-model":
        try:
            key = SigningKey(bytes.fromhex(args.key.read_text().strip()))
            data = args.model.read_bytes()
        except (OSError, ValueError) as exc:
            _fail(f"cannot sign: {exc}")
        payload = {
            "version": args.version,
            "model_b64": base64.b64encode(data).decode(),
            "signature_b64": base64.b64encode(key.sign(data).signature).decode(),
        }
        print(json.dumps(payload))
        return 0
    text = Path(args.payload[1:]).read_text() if args.payload.startswith("@") else args.payload
    try:
        payload = json.loads(text)
    except ValueError as exc:
        _fail(f"payload is not JSON: {exc}")
    if not isinstance(payload, dict):
        _fail("payload must be a JSON object")
    store = Store("sqlite:///:memory:")
    receiver = Receiver(
        _broker(args.broker, args.identity), store, client_id=f"{args.identity}-cli", persistent=False
    )
    receiver.start()
    try:
        reply = receiver.command(args.site, args.device, args.name, payload, timeout=args.timeout)
    except TimeoutError as exc:
        _fail(str(exc), status=1)
    finally:
        receiver.stop()
    print(json.dumps(reply, ensure_ascii=False))
    return 0 if reply.get("ok") else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lineguard-central`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        return _tool(args)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
