"""``lineguard clips list|export|label``: count the box's sealed clips, open them centrally for retraining, and
label the words of staff-flagged ones."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge.cli import CommonParsers, UserError, audit_dir_of, data_dir_of, print_json
from edge.detect.clips import (
    CLIPS_DIR,
    UNLABELLED,
    ClipSourceError,
    ExportResult,
    default_audit_dir,
    label_clip,
    missed_word_hint,
    open_clips,
    source_clips,
    summarise,
    write_training_folders,
)


def register(subparsers: Any, common: CommonParsers) -> None:
    """Add ``clips list``, ``clips export`` and ``clips label``."""
    p = subparsers.add_parser(
        "clips",
        help="list the sealed alert clips, or open them with the central key into labelled training folders",
        description="The box keeps a 2 s clip of each alert, sealed to the central key and labelled by what staff "
        "did, and the 8 s before a staff warning or cut that no detection preceded (a staff-flagged clip, for a "
        "person to label). A SOURCE is a clips folder, a data dir, or an archive fetched with the clips.fetch command; the "
        "default is the data dir's clips.",
    )
    sources = argparse.ArgumentParser(add_help=False)
    sources.add_argument(
        "sources", nargs="*", metavar="SOURCE", help="clips folder, data dir or clips.fetch archive"
    )
    actions = p.add_subparsers(dest="clips_action", required=True, metavar="{list,export,label}")
    listing = actions.add_parser(
        "list",
        parents=[common.state, common.report, sources],
        help="count the clips by staff label and by training folder (no key needed; nothing is opened)",
    )
    listing.set_defaults(handler=_list)
    export = actions.add_parser(
        "export",
        parents=[common.state, common.report, sources],
        help="open the clips with the central private key (audited) into OUT/<keyword group>/, OUT/negative/ "
        "and OUT/unlabelled/",
        description="Open the clips with the central private key, writing the opening to the audit log first, "
        "into OUT/<keyword group>/ (alerts staff confirmed by a warning or a cut), OUT/negative/ (alerts "
        "staff did not act on) and OUT/unlabelled/ (staff-flagged clips: listen, then `clips label`), with "
        "OUT/clips.jsonl naming each clip's label: the layout `make -C models model EXTRA=OUT` trains on "
        "(unlabelled/ is skipped). A clip already in OUT is left as it is.",
    )
    export.add_argument("--key", metavar="FILE", required=True, help="the central private key (central.key)")
    export.add_argument("--out", metavar="DIR", required=True, help="folder for the labelled WAVs")
    export.set_defaults(handler=_export)
    label = actions.add_parser(
        "label",
        parents=[common.report],
        help="mark where a keyword ends in an exported staff-flagged clip, making training positives of it",
        description="A person listened to an exported clip (OUT/unlabelled/*.wav) and heard a word of a keyword "
        "group end at some seconds into it: each --end writes the 2 s before that end and 0.16 s after it as "
        "OUT/<group>/<clip>-<ms>.wav (a positive ends just after its keyword, as an alert clip does) and notes who labelled it in "
        "OUT/clips.jsonl. A clip with none of the keywords needs nothing: training skips unlabelled/.",
    )
    label.add_argument("wav", metavar="WAV", help="an exported clip, usually OUT/unlabelled/<stem>.wav")
    label.add_argument(
        "--keyword", required=True, metavar="GROUP", help="keyword group id (models/keywords.toml)"
    )
    label.add_argument(
        "--end",
        dest="ends",
        type=float,
        action="append",
        required=True,
        metavar="SECONDS",
        help="where the word ends, seconds into the clip (repeat for each time it is said)",
    )
    label.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="export folder to write into (default: the one whose unlabelled/ WAV lies in)",
    )
    label.set_defaults(handler=_label)


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
        if name == UNLABELLED:
            print(f"  staff-flagged, waiting for a person's labels ({name}/): {count}")
        else:
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
    hinter = _Hinter()
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
            write_training_folders(opened.opened, out, result, hinter.hint)
        except OSError as exc:
            raise UserError(f"cannot write into {out}: {exc.strerror or exc}") from None
    summary: dict[str, Any] = {
        "out": str(out),
        "written": dict(sorted(result.written.items())),
        "already_exported": result.existing,
        "skipped": result.skipped,
        "hints": result.hints,
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
    if hinter.problem is not None:
        print(f"  no hints for the staff-flagged clips: {hinter.problem}")
    for wav, guess in result.hints.items():
        print(
            f"  {wav}: listen for {guess['keyword']} ending near {guess['end_s']} s (model score "
            f"{guess['score']}); if so: lineguard clips label {out / wav} --keyword {guess['keyword']} "
            f"--end {guess['end_s']}"
        )
    return 0


class _Hinter:
    """The installed model, loaded on the first staff-flagged clip, guessing where its missed word is."""

    def __init__(self) -> None:
        self.detector: Any = None
        self.problem: str | None = None

    def hint(self, wav: bytes) -> dict[str, Any] | None:
        if self.detector is None and self.problem is None:
            from edge.detect.detector import load_detector
            from edge.detect.settings import DetectionConfig

            config = DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False)
            self.detector, self.problem = load_detector(config)
        return None if self.detector is None else missed_word_hint(self.detector, wav)


def _label(args: argparse.Namespace) -> int:
    import soundfile

    from edge.record.audit import current_actor

    wav = Path(args.wav)
    if not wav.is_file():
        raise UserError(f"{wav} does not exist: give an exported clip, OUT/{UNLABELLED}/<stem>.wav")
    if args.out is not None:
        out = Path(args.out)
    elif wav.parent.name == UNLABELLED:
        out = wav.parent.parent
    else:
        raise UserError(
            f"{wav} is not in an export's {UNLABELLED}/ folder: pass --out with the export folder to write into"
        )
    try:
        written, existing = label_clip(wav, args.keyword, list(args.ends), out, current_actor())
    except ValueError as exc:
        raise UserError(str(exc)) from None
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise UserError(f"cannot label {wav}: {getattr(exc, 'strerror', None) or exc}") from None
    if args.json:
        print_json({"out": str(out), "written": written, "already_labelled": existing})
        return 0
    print(f"{out}: {len(written)} positive(s) of {args.keyword} written, {existing} already there")
    for name in written:
        print(f"  {name}")
    return 0
