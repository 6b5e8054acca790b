"""The console's commands: parse a line, call the backend, render the answer, audit every change."""

from __future__ import annotations

import difflib
import re
import shlex
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from pydantic import BaseModel

from edge.config import Config, ConfigError, parse_config_text
from edge.console import render
from edge.console.backend import TEST_ACTIONS, ConsoleBackend
from edge.console.text import clip

KNOWN_PROMPTS: tuple[str, ...] = (
    "recording_notice", "warning", "cut", "duration_notice", "duration_cut", "lunch", "after_hours", "blocked",
    "office_moved",
)  # fmt: skip
"""Prompt ids every box ships (DESIGN.md section 7)."""


@dataclass(frozen=True)
class Reply:
    """What a command prints, and what the session should do next."""

    lines: list[str] = field(default_factory=list)
    confirm: tuple[str, Callable[[], Reply]] | None = None
    """A question and the action to run if the technician answers ``yes``."""
    session: str | None = None
    """A request to the session itself: ``logout``, ``passwd``, ``ascii on`` or ``ascii off``."""


@dataclass(frozen=True)
class Command:
    """One console command."""

    name: str
    usage: str
    summary: str
    run: Callable[[list[str]], Reply]
    subcommands: tuple[str, ...] = ()


class UsageError(Exception):
    """The command line was wrong; the message says how to write it."""


# -- config keys --------------------------------------------------------------------------------------

_SECRET_LINE = re.compile(r"^(\s*[\w.-]*(?:password|secret|token)[\w-]*\s*=\s*)(.+)$", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Whether a key holds a secret whose value the console never prints (MQTT password and the like)."""
    last = key.rsplit(".", 1)[-1].lower()
    return any(word in last for word in ("password", "secret", "token"))


def mask_secret_lines(text: str) -> list[str]:
    """TOML lines with the values of secret keys replaced by ``"***"`` (shoulder-surfing on a site visit)."""
    return [_SECRET_LINE.sub(r'\1"***"', line) for line in text.splitlines()]


def _section_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _section_class(arg)
            if found is not None:
                return found
    return None


def _is_mapping_field(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict


def _is_text_field(annotation: Any) -> bool:
    if annotation in (str, Path):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_text_field(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[str]:
    """Every settable dotted key of the configuration, e.g. ``calendar.lunch.start``."""
    for name, info in model.model_fields.items():
        section = _section_class(info.annotation)
        if section is not None:
            yield from config_keys(section, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


@dataclass(frozen=True)
class KeyInfo:
    """What the schema says about one dotted key."""

    title: str
    description: str
    text: bool
    """Whether the value is text, so it is stored as typed rather than parsed as TOML."""


def key_info(key: str) -> KeyInfo | None:
    """Schema facts for ``key`` (None when the configuration has no such key)."""
    model: type[BaseModel] = Config
    parts = key.split(".")
    for index, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None:
            return None
        last = index == len(parts) - 1
        if last:
            return KeyInfo(info.title or part, info.description or "", _is_text_field(info.annotation))
        if _is_mapping_field(info.annotation) and index == len(parts) - 2:
            return KeyInfo(f"{info.title or part}: {parts[-1]}", info.description or "", True)
        section = _section_class(info.annotation)
        if section is None:
            return None
        model = section
    return None


def _lookup(data: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            raise KeyError(key)
        data = data[part]
    return data


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(old_text: str, new_text: str) -> list[str]:
    """The effective values that differ between two valid configurations, as ``key: old -> new``."""
    old = _flatten(parse_config_text(old_text).model_dump(mode="json"))
    new = _flatten(parse_config_text(new_text).model_dump(mode="json"))
    return [
        f"{key}: changed (secret)"
        if is_secret_key(key)
        else f"{key}: {render.fmt(old.get(key))} -> {render.fmt(new.get(key))}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def _toml_value(raw: str, text: bool) -> Any:
    if text:
        return raw
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word: let validation say whether text is acceptable here
    return value


def set_in_toml(text: str, key: str, value: Any) -> str:
    """``text`` with ``key`` set to ``value``, comments and layout elsewhere kept."""
    doc = tomlkit.parse(text)
    parts = key.split(".")
    table: Any = doc
    for part in parts[:-1]:
        if part not in table:
            table[part] = tomlkit.table()
        table = table[part]
        if not isinstance(table, dict):
            raise UsageError(f"{key} cannot be set: {part} is a value, not a section")
    table[parts[-1]] = list(value) if isinstance(value, tuple) else value
    return tomlkit.dumps(doc)


# -- the command set ----------------------------------------------------------------------------------


class ConsoleCommands:
    """One logged-in session's commands (each session has its own config draft)."""

    def __init__(self, backend: ConsoleBackend) -> None:
        self.backend = backend
        self.draft: str | None = None
        self._commands = {
            c.name: c
            for c in (
                Command("help", "help [COMMAND]", "list the commands, or explain one", self._help),
                Command("status", "status", "one screen: lines, hook, relay, MQTT, disk, model, calls", self._status),
                Command("calls", "calls [N]", "the last N calls (default 10)", self._calls),
                Command("events", "events [N]", "the last N call events and incidents (default 20)", self._events),
                Command(
                    "config",
                    "config show [SECTION]|get KEY|set KEY VALUE|diff|apply|rollback|discard",
                    "read or change the config (changes wait in a draft until apply)",
                    self._config,
                    ("show", "get", "set", "diff", "apply", "rollback", "discard"),
                ),
                Command(
                    "test",
                    "test relay | ring | prompt NAME | tone",
                    "click the relay, ring the desk phone, play a prompt or tone to it",
                    self._test,
                    TEST_ACTIONS,
                ),
                Command("diag", "diag line", "line diagnostics: rings, caller ID raw bytes, levels", self._diag, ("line",)),
                Command("net", "net", "network interfaces and addresses", self._net),
                Command("mqtt", "mqtt", "MQTT connection, broker and outbox", self._mqtt),
                Command("model", "model", "the keyword-spotting model", self._model),
                Command("log", "log tail [N]", "the last N log lines (default 20)", self._log, ("tail",)),
                Command("reboot", "reboot", "restart the box (asks first)", self._reboot),
                Command("passwd", "passwd", "change the technician password", self._passwd),
                Command("ascii", "ascii on|off", "send only ASCII (for terminals without UTF-8)", self._ascii, ("on", "off")),
                Command("logout", "logout", "end the session (also: exit, Ctrl-D)", self._logout),
            )
        }  # fmt: skip

    @property
    def names(self) -> tuple[str, ...]:
        """Every command name, in help order."""
        return tuple(self._commands)

    def run(self, line: str) -> Reply:
        """Execute one command line; every failure becomes lines of text, never an exception."""
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            return Reply([f"error: {exc}"])
        if not argv:
            return Reply()
        name, args = argv[0], argv[1:]
        if name == "exit":
            name = "logout"
        command = self._commands.get(name)
        if command is None:
            close = difflib.get_close_matches(name, self.names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            return Reply([f"unknown command '{name}'.{hint} Type 'help' for the list."])
        try:
            return command.run(args)
        except UsageError as exc:
            return Reply([f"error: {exc}", f"usage: {command.usage}"])
        except Exception as exc:  # noqa: BLE001 - a backend fault must not end the technician's session
            return Reply([f"error: {command.name} failed: {type(exc).__name__}: {exc}"])

    def complete(self, before: str) -> list[str]:
        """Candidates for the word being typed at the end of ``before``."""
        words = before.split(" ")
        if len(words) == 1:
            return [*self.names, "exit"]
        command = self._commands.get(words[0])
        if command is None:
            return []
        if len(words) == 2:
            return list(command.subcommands) or ([*self.names] if command.name == "help" else [])
        if len(words) == 3 and command.name == "config" and words[1] in ("get", "set"):
            return list(config_keys())
        if len(words) == 3 and command.name == "config" and words[1] == "show":
            return list(Config.model_fields)
        if len(words) == 3 and command.name == "test" and words[1] == "prompt":
            return list(KNOWN_PROMPTS)
        return []

    # -- commands ---------------------------------------------------------------------------------------

    def _help(self, args: list[str]) -> Reply:
        if args:
            command = self._commands.get(args[0])
            if command is None:
                raise UsageError(f"no command '{args[0]}'")
            return Reply([f"usage: {command.usage}", f"  {command.summary}"])
        lines = ["commands:"]
        lines += [f"  {render.pad(c.name, 8)} {c.summary}" for c in self._commands.values()]
        lines.append("keys: Tab completes, Up/Down history, Ctrl-U clears, Ctrl-C cancels, Ctrl-D exit")
        return Reply(lines)

    def _status(self, args: list[str]) -> Reply:
        _no_args(args)
        return Reply(render.summary(self.backend.status()))

    def _calls(self, args: list[str]) -> Reply:
        return Reply(render.table(self.backend.calls(_count(args, 10))))

    def _events(self, args: list[str]) -> Reply:
        return Reply(render.table(self.backend.events(_count(args, 20))))

    def _config(self, args: list[str]) -> Reply:
        if not args:
            raise UsageError("say what to do with the configuration")
        action, rest = args[0], args[1:]
        if action == "show":
            return self._config_show(rest)
        if action == "get":
            return self._config_get(rest)
        if action == "set":
            return self._config_set(rest)
        if action == "diff":
            return self._config_diff()
        if action == "apply":
            return self._config_apply()
        if action == "rollback":
            return Reply(confirm=("Roll back to the config before the last apply?", self._rollback))
        if action == "discard":
            had = self.draft is not None
            self.draft = None
            return Reply(["draft discarded" if had else "no draft to discard"])
        raise UsageError(f"unknown config action '{action}'")

    def _config_show(self, rest: list[str]) -> Reply:
        text = self.backend.config_text()
        if not rest:
            return Reply(mask_secret_lines(text) or ["(empty: every key takes its default)"])
        data = parse_config_text(text, "running config").model_dump(mode="json")
        try:
            section = _lookup(data, rest[0])
        except KeyError:
            raise UsageError(f"no section '{rest[0]}'") from None
        if not isinstance(section, dict):
            return Reply([f"{rest[0]} = {render.fmt(section)}"])
        return Reply(
            [
                f"{k} = {'***' if v and is_secret_key(k) else render.fmt(v)}"
                for k, v in _flatten(section, f"{rest[0]}.").items()
            ]
        )

    def _config_get(self, rest: list[str]) -> Reply:
        if len(rest) != 1:
            raise UsageError("give one key, e.g. config get calendar.lunch.start")
        key = rest[0]
        info = key_info(key)
        if info is None:
            raise UsageError(_unknown_key(key))
        running = parse_config_text(self.backend.config_text(), "running config").model_dump(mode="json")
        try:
            value = render.fmt(_lookup(running, key))
        except KeyError:
            value = "(not set)"
        if is_secret_key(key) and value != "-":
            value = "*** (set; never shown)"
        lines = [f"{key} = {value}", f"  {info.title}: {info.description}"]
        if self.draft is not None:
            try:
                drafted = render.fmt(_lookup(tomllib.loads(self.draft), key))
            except (KeyError, tomllib.TOMLDecodeError):
                drafted = None
            if drafted is not None and drafted != value and not is_secret_key(key):
                lines.append(f"  draft: {drafted}")
        return Reply(lines)

    def _config_set(self, rest: list[str]) -> Reply:
        if len(rest) < 2:
            raise UsageError("give a key and a value, e.g. config set calendar.lunch.start 12:30")
        key, raw = rest[0], " ".join(rest[1:])
        info = key_info(key)
        if info is None:
            raise UsageError(_unknown_key(key))
        base = self.draft if self.draft is not None else self.backend.config_text()
        try:
            candidate = set_in_toml(base, key, _toml_value(raw, info.text))
        except (tomlkit.exceptions.TOMLKitError, ValueError) as exc:
            return Reply([f"error: cannot set {key}: {exc}"])
        problems: list[str] = []
        try:
            parse_config_text(candidate, "draft")
        except ConfigError as error:
            own = [p for p in error.problems if p.startswith((f"{key} ", f"{key}:"))]
            if own:
                return Reply([f"refused: {p}" for p in own])
            problems = error.problems
        self.draft = candidate
        shown = "***" if is_secret_key(key) else raw
        self.backend.audit("config.set", f"{key} = {shown} (draft)")
        lines = [f"draft: {key} = {shown}  (see 'config diff'; 'config apply' makes it live)"]
        lines += [f"  not yet valid: {p}" for p in problems]
        return Reply(lines)

    def _config_diff(self) -> Reply:
        if self.draft is None:
            return Reply(["no draft: use 'config set KEY VALUE' first"])
        diff = difflib.unified_diff(
            mask_secret_lines(self.backend.config_text()),
            mask_secret_lines(self.draft),
            "running",
            "draft",
            lineterm="",
        )
        lines = list(diff)
        if not lines and self.draft != self.backend.config_text():
            lines = ["the draft differs from the running configuration only in secret values"]
        return Reply(lines or ["the draft equals the running configuration"])

    def _config_apply(self) -> Reply:
        if self.draft is None:
            return Reply(["no draft to apply: use 'config set KEY VALUE' first"])
        running = self.backend.config_text()
        try:
            parse_config_text(self.draft, "draft")
        except ConfigError as error:
            return Reply(["not applied; the draft has problems:", *(f"  {p}" for p in error.problems)])
        changes = config_changes(running, self.draft)
        problems = self.backend.apply_config_text(self.draft)
        if problems:
            self.backend.audit("config.apply_refused", "; ".join(problems))
            return Reply(["not applied:", *(f"  {p}" for p in problems)])
        self.backend.audit("config.apply", "; ".join(changes) or "no effective change")
        self.draft = None
        lines = ["applied.", *(f"  {c}" for c in changes)] if changes else ["applied (no effective change)."]
        if not getattr(self.backend, "applies_live", True):
            lines.append(
                "note: only the file changed; an appliance in another process reads it when it starts"
            )
        return Reply(lines)

    def _rollback(self) -> Reply:
        message = self.backend.rollback_config()
        self.backend.audit("config.rollback", message)
        self.draft = None
        return Reply([message])

    def _test(self, args: list[str]) -> Reply:
        if not args or args[0] not in TEST_ACTIONS:
            raise UsageError("say what to test")
        name = args[0]
        arg: str | None = None
        if name == "prompt":
            if len(args) != 2:
                raise UsageError(f"name one prompt: {', '.join(KNOWN_PROMPTS)}")
            arg = args[1]
        elif len(args) != 1:
            raise UsageError(f"'test {name}' takes no argument")
        result = self.backend.test_action(name, arg)
        self.backend.audit("test", f"{name}{' ' + arg if arg else ''}: {result}")
        return Reply([result])

    def _diag(self, args: list[str]) -> Reply:
        if args != ["line"]:
            raise UsageError("only 'diag line' exists")
        return Reply(render.mapping(self.backend.diag_line()))

    def _net(self, args: list[str]) -> Reply:
        _no_args(args)
        return Reply(render.mapping(self.backend.net()))

    def _mqtt(self, args: list[str]) -> Reply:
        _no_args(args)
        return Reply(render.mapping(self.backend.mqtt()))

    def _model(self, args: list[str]) -> Reply:
        _no_args(args)
        return Reply(render.mapping(self.backend.model()))

    def _log(self, args: list[str]) -> Reply:
        if not args or args[0] != "tail":
            raise UsageError("only 'log tail [N]' exists")
        lines = self.backend.log_tail(_count(args[1:], 20))
        return Reply([clip(line.rstrip(), 200) for line in lines] or ["(log is empty)"])

    def _reboot(self, args: list[str]) -> Reply:
        _no_args(args)

        def reboot() -> Reply:
            self.backend.audit("reboot", "requested on the serial console")
            return Reply([self.backend.reboot()])

        return Reply(confirm=("Reboot now (a call in progress drops to bypass)?", reboot))

    def _passwd(self, args: list[str]) -> Reply:
        _no_args(args)
        return Reply(session="passwd")

    def _ascii(self, args: list[str]) -> Reply:
        if args not in (["on"], ["off"]):
            raise UsageError("say on or off")
        return Reply(session=f"ascii {args[0]}")

    def _logout(self, args: list[str]) -> Reply:
        return Reply(session="logout")


def _no_args(args: list[str]) -> None:
    if args:
        raise UsageError(f"unexpected '{' '.join(args)}'")


def _count(args: list[str], default: int) -> int:
    if not args:
        return default
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= 500:
        raise UsageError("N must be a number from 1 to 500")
    return int(args[0])


def _unknown_key(key: str) -> str:
    close = difflib.get_close_matches(key, list(config_keys()), n=1)
    hint = f"; did you mean {close[0]}?" if close else "; Tab after 'config get ' lists the keys"
    return f"no configuration key '{key}'{hint}"
