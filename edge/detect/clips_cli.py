"""``lineguard clips list|export``: count the box's sealed alert clips, or open them centrally for retraining."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge.cli import CommonParsers, UserError, audit_dir_of, data_dir_of, print_json
from edge.detect.clips import (
    CLIPS_DIR,
    ClipSourceError,
    ExportResult,
    default_audit_dir,
    open_clips,
    source_clips,
    summarise,
    write_training_folders,
)


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add ``clips list`` and ``clips export``."""
    p = subparsers.add_parser(
        "clips",
        help="list the sealed alert clips, or open them with the central key into labelled training folders",
        description="The box keeps a 2 s clip of each alert, sealed to the central key and labelled by what staff "
        "did. A SOURCE is a clips folder, a data dir, or an archive fetched with the clips.fetch command; the "
        "default is the data dir's clips.",
    )
    sources = argparse.ArgumentParser(add_help=False)
    sources.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="clips folder, data dir or clips.fetch archive"
    )
    actions = p.add_subparsers(dest="clips_action", required=True, metavar="{list,export}")
    listing = actions.add_parser(
        "list",
        parents=[common.state, common.report, sources],
        help="count the clips by staff label and by training folder (no key needed; nothing is opened)",
    )
    listing.set_defaults(handler=_list)
    export = actions.add_parser(
        "export",
        parents=[common.state, common.report, sources],
        help="open the clips with the central private key (audited) into OUT/<keyword group>/ and OUT/negative/",
        description="Open the clips with the central private key, writing the opening to the audit log first, "
        "into OUT/<keyword group>/ (alerts staff confirmed by a warning or a cut) and OUT/negative/ (alerts "
        "staff did not act on), with OUT/clips.jsonl naming each clip's label: the layout `make -C models model "
        "EXTRA=OUT` trains on. A clip already in OUT is left as it is.",
    )
    export.add_argument("--key", metavar="FILE", required=True, help="the central private key (central.key)")
    export.add_argument("--out", metavar="DIR", required=True, help="folder for the labelled WAVs")
    export.set_defaults(handler=_export)


def _sources(args: argparse.Namespace) -> list[Path]:
    if args.sources:
        return [Path(s) for s in args.sources]
    return [data_dir_of(args) / CLIPS_DIR]


def _list(args: argparse.Namespace) -> int:
    sources = _sources(args)
    clips = []
    for source in sources:
        try:
            clips += source_clips(source)
        except ClipSourceError as exc:
            raise UserError(str(exc)) from None
    clips.sort(key=lambda c: c.stem)
    summary = {"sources": [str(s) for s in sources], **summarise(clips)}
    if args.json:
        print_json(summary)
        return 0
    print(f"{summary['clips']} clip(s), oldest {summary['oldest']}, newest {summary['newest']}")
    for name, count in summary["by_label"].items():
        print(f"  staff label {name}: {count}")
    for name, count in summary["by_training_folder"].items():
        print(f"  training folder {name}/: {count}")
    for why, count in summary["not_for_training"].items():
        print(f"  not for training ({why}): {count}")
    return 0


def _export(args: argparse.Namespace) -> int:
    sources = _sources(args)
    from edge.record.audit import current_actor
    from edge.record.seal import KeyFileError, load_private_key

    try:
        key = load_private_key(Path(args.key))
    except KeyFileError as exc:
        raise UserError(str(exc)) from None
    out = Path(args.out)
    result = ExportResult()
    for source in sources:
        audit_dir = audit_dir_of(args, default_audit_dir(source))
        try:
            opened = open_clips(source, key, audit_dir, current_actor())
        except ClipSourceError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(
                f"cannot write the audit log in {audit_dir} ({exc.strerror or exc}); every opening of clips is "
                "logged, so pass a writable --data-dir"
            ) from None
        result.skipped.update(opened.skipped)
        try:
            write_training_folders(opened.opened, out, result)
        except OSError as exc:
            raise UserError(f"cannot write into {out}: {exc.strerror or exc}") from None
    summary: dict[str, Any] = {
        "out": str(out),
        "written": dict(sorted(result.written.items())),
        "already_exported": result.existing,
        "skipped": result.skipped,
    }
    if args.json:
        print_json(summary)
        return 0
    total = sum(result.written.values())
    print(f"{out}: {total} clip(s) written, {result.existing} already there, {len(result.skipped)} skipped")
    for folder, count in summary["written"].items():
        print(f"  {folder}/: {count}")
    for stem, why in result.skipped.items():
        print(f"  skipped {stem}: {why}")
    return 0
