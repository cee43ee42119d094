"""Email commands: the first line of a staff reply to an alert may ask for a casework operation.

Staff who live in Outlook reply to any alert (through its signed Reply-To) with one of::

    RETURNED 14:30        close the episode; the child came back then
    VOID not one of ours  not a missing episode, with the reason
    CHILD 100231          link an unmatched episode to this child
    CONFIRM               what the reading was unsure of has been checked
    RISK HIGH             correct the risk level (LOW, MEDIUM or HIGH)

The command is the first non-blank line of what the person wrote (not the quoted alert). In
capitals it is always read as a command, and a wrong argument is answered with the reason
("RETURNED teatime": not a time). In other case it counts only when the whole line has the
command's shape ("Returned 14:30", "confirm"), so a natural reply that happens to begin with
"Returned home safe, thanks" is an acknowledgement, not a failed command.

Pure: no I/O, no clock; ``episodes.replies`` runs the command (docs/casework.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Verb = Literal["returned", "void", "child", "confirm", "risk"]
VERBS: tuple[Verb, ...] = ("returned", "void", "child", "confirm", "risk")

__all__ = ["VERBS", "StaffCommand", "Verb", "find_command"]

_LINE = re.compile(r"^\s*(RETURNED|VOID|CHILD|CONFIRM|RISK)\b[\s:]*(.*?)\s*$", re.IGNORECASE)
# The exact shape each command has when it is not typed in capitals.
_STRICT: dict[str, re.Pattern[str]] = {
    "returned": re.compile(r"^(?:\d{1,2}[:.]\d{2}|now)$", re.IGNORECASE),
    "void": re.compile(r"^\S.*$"),
    "child": re.compile(r"^[A-Za-z0-9-]{1,40}$"),
    "confirm": re.compile(r"^$"),
    "risk": re.compile(r"^(?:low|medium|high)$", re.IGNORECASE),
}


@dataclass(frozen=True)
class StaffCommand:
    """One command: its verb, what followed it on the line, and the line as written."""

    verb: Verb
    argument: str
    line: str


def find_command(text: str) -> StaffCommand | None:
    """The command on the first non-blank line of ``text``, or None. Never raises."""
    try:
        first = next((line for line in text.splitlines() if line.strip()), "")
        m = _LINE.match(first[:500])
        if m is None:
            return None
        word, argument = m.group(1), m.group(2)
        verb = word.lower()
        if word != word.upper() and not _STRICT[verb].match(argument):
            return None
        return StaffCommand(verb, argument, first.strip())  # type: ignore[arg-type]
    except Exception:
        return None
