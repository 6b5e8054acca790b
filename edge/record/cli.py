"""Subcommands: keygen (central keypair), decrypt (sealed recording to audio), verify (hash chain)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge.cli import CommonParsers, UserError, audit_dir_of, data_dir_of, print_json
from edge.record.audit import AuditLog, audit_path, current_actor
from edge.record.chain import file_digest
from edge.record.decrypt import OUTPUT_FORMATS, decrypt_recording, write_audio
from edge.record.lgrec import RecordingFormatError
from edge.record.recorder import RECORDINGS_DIR
from edge.record.seal import KeyFileError, generate_keypair, load_private_key
from edge.record.verify import verify


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add keygen, decrypt and verify."""
    p = subparsers.add_parser(
        "keygen",
        parents=[common.report],
        help="make a central X25519 keypair (the private key stays central, never on the device)",
    )
    p.add_argument("--out", metavar="DIR", required=True, help="folder for central.key and central.pub")
    p.set_defaults(handler=_keygen)

    p = subparsers.add_parser(
        "decrypt",
        parents=[common.state, common.report],
        help="turn a sealed .lgrec recording into a playable .wav or .opus (logged in the audit log)",
    )
    p.add_argument("--key", metavar="FILE", required=True, help="the central private key (central.key)")
    p.add_argument("recording", metavar="RECORDING", help="the .lgrec file")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help="output .wav, .opus or .ogg (default: RECORDING.wav)",
    )
    p.set_defaults(handler=_decrypt)

    p = subparsers.add_parser(
        "verify",
        parents=[common.state, common.report],
        help="check recordings, events and the audit log against the hash chain",
    )
    p.set_defaults(handler=_verify)


def _keygen(args: argparse.Namespace) -> int:
    try:
        pair = generate_keypair(Path(args.out))
    except FileExistsError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write the keys into {args.out}: {exc.strerror or exc}") from None
    if args.json:
        print_json(
            {
                "private_key": str(pair.private_path),
                "public_key": str(pair.public_path),
                "public": pair.public_b64,
            }
        )
    else:
        print(f"private key: {pair.private_path} (keep it central; never copy it onto a device)")
        print(f"public key:  {pair.public_path}")
        print(f'config:      [recording] public_key = "{pair.public_b64}"')
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    recording = Path(args.recording)
    if not recording.is_file():
        raise UserError(f"recording {recording} does not exist")
    out = Path(args.output) if args.output else Path(recording.name).with_suffix(".wav")
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise UserError(f"output {out} must end in .wav, .opus or .ogg")
    try:
        key = load_private_key(Path(args.key))
    except KeyFileError as exc:
        raise UserError(str(exc)) from None
    resolved = recording.resolve()
    audit_dir = audit_dir_of(args, resolved.parent.parent if resolved.parent.name == RECORDINGS_DIR else None)
    detail = {"recording": str(resolved), "sha256": file_digest(recording), "output": str(out)}
    try:
        AuditLog(audit_path(audit_dir)).append("decrypt", current_actor(), detail)
    except OSError as exc:
        raise UserError(
            f"cannot write the audit log in {audit_dir} ({exc.strerror or exc}); every decrypt is logged, "
            "so pass a writable --data-dir"
        ) from None
    try:
        decrypted = decrypt_recording(recording, key)
    except RecordingFormatError as exc:
        raise UserError(str(exc)) from None
    try:
        write_audio(decrypted, out)
    except (OSError, RuntimeError) as exc:
        raise UserError(f"cannot write {out}: {exc}") from None
    gaps = [{"at_s": a / 8000, "seconds": n / 8000} for a, n in decrypted.gaps]
    summary: dict[str, Any] = {
        "recording": str(recording),
        "output": str(out),
        "seconds": round(decrypted.seconds, 3),
        "call_id": decrypted.header.get("call_id"),
        "started": decrypted.header.get("started_wall"),
        "end": decrypted.end,
        "gaps": gaps,
        "problems": list(decrypted.problems),
    }
    if args.json:
        print_json(summary)
    else:
        ending = (decrypted.end or {}).get("reason", "none")
        print(f"{out}: {decrypted.seconds:.1f} s, 2 channels (caller, staff), ended: {ending}")
        for gap in gaps:
            print(f"  gap of {gap['seconds']:.2f} s at {gap['at_s']:.2f} s (silence inserted)")
        for problem in decrypted.problems:
            print(f"  problem: {problem}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    if not data_dir.is_dir():
        raise UserError(f"data dir {data_dir} does not exist")
    report = verify(data_dir)
    if args.json:
        print_json(report.to_dict())
    else:
        print(
            f"{data_dir}: {'ok' if report.ok else 'PROBLEMS FOUND'} - {report.chain_entries} chain entries, "
            f"{report.recordings_checked} recordings, {report.events_checked} events, "
            f"{report.audit_entries} audit entries; head {report.chain_head[:16]}"
        )
        for problem in report.problems:
            print(f"  problem: {problem}")
        for note in report.notes:
            print(f"  note: {note}")
    return 0 if report.ok else 1
