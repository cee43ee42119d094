"""The command tree as data: each command group declares its commands as a table of `Cmd`
rows (name, help, description, arguments, subcommands, handler), and `add` turns a row into
argparse parsers.

One table per group replaces a hand-written `add_parser`/`add_subparsers`/`add_argument`
sequence and a separate handler mapping per module, so that the options most commands share
(--json and the like) are written once, and a command's parser and its handler cannot drift
apart. The --help text is whatever the rows say, word for word.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailbridge.settings.config import Settings

Command = Callable[[argparse.Namespace, Settings], int]


@dataclass(frozen=True)
class Arg:
    """One `add_argument` call: its names and its keywords."""

    names: tuple[str, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class OneOf:
    """Arguments that exclude each other (a mutually exclusive group)."""

    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Cmd:
    """One parser: a command, or a group whose ACTIONs are `actions` (stored in `dest`)."""

    name: str
    help: str
    description: str
    args: tuple[Arg | OneOf, ...] = ()
    run: Command | None = None
    dest: str | None = None
    actions: tuple[Cmd, ...] = ()
    metavar: str | None = "ACTION"
    parser_class: type[argparse.ArgumentParser] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def arg(*names: str, **options: Any) -> Arg:
    return Arg(names, options)


def flag(name: str, help_text: str, **options: Any) -> Arg:
    """An on/off option (store_true)."""
    return Arg((name,), {"action": "store_true", "help": help_text, **options})


def json_flag(help_text: str = "JSON on stdout") -> Arg:
    """--json: what the command prints, as JSON on stdout (print_json)."""
    return flag("--json", help_text)


def as_of() -> Arg:
    """--at for the commands that act as of a time (parse_at reads it)."""
    return arg("--at", help="as of this time (ISO, local zone if none given); default now")


def one_of(*args: Arg) -> OneOf:
    return OneOf(args)


def command(name: str, help_text: str, description: str, *args: Arg | OneOf, **rest: Any) -> Cmd:
    """A `Cmd` row with its arguments in order; `rest` is run, dest, actions, metavar..."""
    return Cmd(name, help_text, description, args, **rest)


def _add_args(parser: argparse.ArgumentParser | Any, args: Iterable[Arg | OneOf]) -> None:
    for item in args:
        if isinstance(item, OneOf):
            _add_args(parser.add_mutually_exclusive_group(), item.args)
        else:
            parser.add_argument(*item.names, **item.options)


def add(sub: Any, cmd: Cmd) -> argparse.ArgumentParser:
    """Add `cmd` (and its actions, recursively) to the subparsers `sub`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        cmd.name, help=cmd.help, description=cmd.description, **cmd.extra
    )
    if cmd.parser_class is not None:
        parser.__class__ = cmd.parser_class
    _add_args(parser, cmd.args)
    if cmd.actions:
        actions = parser.add_subparsers(
            dest=cmd.dest,
            required=True,
            parser_class=argparse.ArgumentParser,
            **({"metavar": cmd.metavar} if cmd.metavar else {}),
        )
        for action in cmd.actions:
            add(actions, action)
    return parser


def handlers(tables: Sequence[Sequence[Cmd]]) -> dict[str, Command]:
    """Each top-level command's handler, from the groups' tables."""
    return {cmd.name: cmd.run for table in tables for cmd in table if cmd.run is not None}
