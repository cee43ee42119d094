"""The authorities file: for each council area a child may be placed in, who must be told.

When a child placed in another council's area goes missing, the statutory guidance expects the
placing council to tell the host authority, and the Philomena Protocol has the police of that
area hold the child's profile. This module reads the file that says, per authority code, the
authority's name, its missing-children contact address, the police force there and its
missing-from-care address, whether the placing council itself is that authority (``own``) and
who holds the return home interview of a child placed there.

Pure: ``load_authorities`` parses text it is given (the caller reads the file, see
settings/config.py), and names every problem by key path like the routing loader. The format
is in docs/out-of-area.md; the shipped example is config/authorities.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mailbridge.errors import ConfigError

# Who holds the return home interview of a child placed in an authority's area.
PLACING = "placing"
HOST = "host"
INTERVIEW_BY = (PLACING, HOST)

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+$")
_KEYS = (
    "name",
    "own",
    "missing_address",
    "police_force",
    "police_address",
    "return_interviews",
)
# Other spellings an operator may use for the same keys (exported from a spreadsheet, or
# written from the wording); each is read as its key, and given twice is a problem.
_ALIASES = {
    "missing_email": "missing_address",
    "missing_contact": "missing_address",
    "missing_children_address": "missing_address",
    "missing_children_email": "missing_address",
    "missing_children_contact": "missing_address",
    "address": "missing_address",
    "email": "missing_address",
    "contact": "missing_address",
    "force": "police_force",
    "police_name": "police_force",
    "police_email": "police_address",
    "police_contact": "police_address",
    "is_own": "own",
    "placing_council": "own",
    "this_council": "own",
    "return_interviews_by": "return_interviews",
    "interviews_by": "return_interviews",
}
_POLICE_KEYS = {"force": "police_force", "name": "police_force"} | {
    k: "police_address" for k in ("address", "email", "contact")
}
_TRUE = ("true", "yes", "y", "1")
_FALSE = ("false", "no", "n", "0", "")


@dataclass(frozen=True)
class Authority:
    """One council area. ``own`` is the placing council itself (nobody outside is told)."""

    code: str
    name: str
    own: bool = False
    missing_address: str | None = None  # the host authority's missing-children contact
    police_force: str | None = None
    police_address: str | None = None  # the force's missing-from-care contact
    return_interviews: str = PLACING  # who holds the return home interview: placing / host


@dataclass(frozen=True)
class Authorities:
    """Every authority by code, and where they were read from (``source``)."""

    source: str = "none"
    by_code: Mapping[str, Authority] = field(default_factory=dict, hash=False)

    @property
    def own(self) -> Authority | None:
        return next((a for a in self.by_code.values() if a.own), None)

    def find(self, given: str | None) -> Authority | None:
        """By code (case ignored), or by the authority's exact name as a spreadsheet may hold."""
        key = _fold(given or "")
        if not key:
            return None
        for authority in self.by_code.values():
            if _fold(authority.code) == key or _fold(authority.name) == key:
                return authority
        return None

    def out_of_area(self, given: str | None) -> bool:
        """True when a child's placement authority is given and is not the council's own.

        A blank asserts nothing (in area, as before). An unknown code counts as out of area,
        so the host-authority route runs and, finding no address, alerts duty with a note.
        """
        if not (given or "").strip():
            return False
        found = self.find(given)
        return found is None or not found.own

    def addresses(self) -> frozenset[str]:
        """Every address the file names: nothing of a child's is ever sent outside these."""
        out: set[str] = set()
        for a in self.by_code.values():
            for address in (a.missing_address, a.police_address):
                if address:
                    out.add(address.lower())
        return frozenset(out)

    def interviewer(self, given: str | None) -> Authority | None:
        """Who holds the return home interview of a child placed in ``given``: the host
        authority where its entry says ``return_interviews: host``, else the council itself
        (None when the file has no ``own`` entry)."""
        if self.out_of_area(given):
            host = self.find(given)
            if host is not None and host.return_interviews == HOST:
                return host
        return self.own

    def unknown(self, codes: Iterable[tuple[str, str]]) -> list[str]:
        """Problems for (child_id, code) pairs whose code is not in the file, one per code."""
        missing: dict[str, list[str]] = {}
        for child_id, code in codes:
            if code and self.find(code) is None:
                missing.setdefault(code, []).append(child_id)
        problems = []
        for code, children in sorted(missing.items()):
            shown = ", ".join(children[:5]) + (" ..." if len(children) > 5 else "")
            problems.append(
                f"{self.source}: unknown authority code {code!r} in the directory "
                f"(placement_authority of child {shown}); add it to the file or correct the "
                "directory"
            )
        return problems


def _fold(value: str) -> str:
    return " ".join(value.replace("\u2019", "'").split()).casefold()


def load_authorities(text: str, *, source: str) -> Authorities:
    """Parse and validate an authorities file; raise ConfigError naming every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: not valid YAML ({exc})"]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: must be a mapping with `authorities:`"])
    problems: list[str] = []
    if "authorities" not in raw and raw and all(isinstance(v, dict) for v in raw.values()):
        raw = {"authorities": raw}  # the codes at the top, without the `authorities:` key
    for key in raw:
        if key != "authorities":
            problems.append(f"{key}: unknown key (known: authorities)")
    entries = raw.get("authorities") or {}
    if isinstance(entries, list):  # a list of entries, each with its `code`
        entries = _listed(entries, problems)
    if not isinstance(entries, dict):
        problems.append("authorities: must map authority codes to their details")
        entries = {}
    found: dict[str, Authority] = {}
    names: dict[str, str] = {}
    for code, spec in entries.items():
        authority = _authority(code, spec, problems)
        if authority is None:
            continue
        folded = _fold(authority.name)
        if folded in names:
            problems.append(
                f"authorities.{code}.name: {authority.name!r} is also the name of {names[folded]}"
            )
        names[folded] = str(code)
        found[authority.code] = authority
    own = [a.code for a in found.values() if a.own]
    if len(own) > 1:
        problems.append(
            "authorities: at most one entry may say `own: true` (the placing council itself), "
            f"found {len(own)} ({', '.join(own)})"
        )
    if problems:
        raise ConfigError([f"{source}: {p}" for p in problems])
    return Authorities(source=source, by_code=found)


def _listed(items: list[Any], problems: list[str]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for i, item in enumerate(items):
        code = item.get("code") if isinstance(item, dict) else None
        if code is None:
            problems.append(f"authorities[{i}]: an entry of the list needs its `code`")
            continue
        if code in out:
            problems.append(f"authorities[{i}].code: {code!r} is given twice")
        out[code] = {k: v for k, v in item.items() if k != "code"}
    return out


def _canonical(spec: dict[Any, Any], label: str, problems: list[str]) -> dict[str, Any]:
    """The entry under the documented key names (aliases and a nested `police:` read)."""
    out: dict[str, Any] = {}
    given: dict[str, str] = {}

    def put(key: str, value: Any, as_written: str) -> None:
        if key in out:
            problems.append(f"{label}.{as_written}: gives {key} again (already as {given[key]})")
            return
        out[key] = value
        given[key] = as_written

    for key, value in spec.items():
        if key == "police" and isinstance(value, dict):
            for inner, inner_value in value.items():
                if inner in _POLICE_KEYS:
                    put(_POLICE_KEYS[inner], inner_value, f"police.{inner}")
                else:
                    known = ", ".join(sorted(_POLICE_KEYS))
                    problems.append(f"{label}.police.{inner}: unknown key (known: {known})")
        elif key == "police" and isinstance(value, str):
            put("police_address" if "@" in value else "police_force", value, key)
        elif key in _KEYS or key in _ALIASES:
            put(_ALIASES.get(key, key), value, str(key))
        else:
            problems.append(f"{label}.{key}: unknown key (known: {', '.join(_KEYS)})")
    return out


def _authority(code: Any, spec: Any, problems: list[str]) -> Authority | None:
    label = f"authorities.{code}"
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)  # a numeric code written without quotes
    if not isinstance(code, str) or not _CODE.match(code):
        problems.append(f"{label}: a code is letters, digits, '-', '_' or '.' (at most 40)")
        return None
    if not isinstance(spec, dict):
        problems.append(f"{label}: must be a mapping ({', '.join(_KEYS)})")
        return None
    spec = _canonical(spec, label, problems)
    name = spec.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        name = code  # the code stands for the name in alerts and the report
    elif not isinstance(name, str):
        problems.append(f"{label}.name: must be the authority's name, got {name!r}")
        name = code
    own = spec.get("own", False)
    if isinstance(own, str) and own.strip().lower() in _TRUE + _FALSE:
        own = own.strip().lower() in _TRUE
    if not isinstance(own, bool):
        problems.append(f"{label}.own: must be true or false, got {own!r}")
        own = False
    addresses: dict[str, str | None] = {}
    invalid = False
    for key in ("missing_address", "police_address"):
        value = spec.get(key)
        if value is None or value == "":
            addresses[key] = None
        elif not (isinstance(value, str) and _EMAIL.match(value.strip())):
            problems.append(f"{label}.{key}: must be an email address, got {value!r}")
            addresses[key] = None
            invalid = invalid or key == "missing_address"
        else:
            addresses[key] = value.strip()
    if not own and addresses["missing_address"] is None and not invalid:
        problems.append(
            f"{label}.missing_address: required for another council's area (where the host "
            "authority is told)"
        )
    force = spec.get("police_force")
    if force is not None and (not isinstance(force, str) or not force.strip()):
        problems.append(f"{label}.police_force: must be the force's name, got {force!r}")
        force = None
    if addresses["police_address"] and not force:
        force = f"Police for {name.strip()}"  # the force's name is for people; the address acts
    interviews = spec.get("return_interviews", PLACING)
    if isinstance(interviews, str):
        interviews = interviews.strip().lower()
    if interviews not in INTERVIEW_BY:
        problems.append(
            f"{label}.return_interviews: must be {' or '.join(INTERVIEW_BY)}, got {interviews!r}"
        )
        interviews = PLACING
    return Authority(
        code=code,
        name=name.strip(),
        own=own,
        missing_address=addresses["missing_address"],
        police_force=force.strip() if force else None,
        police_address=addresses["police_address"],
        return_interviews=interviews,
    )
