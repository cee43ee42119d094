"""The directory CSV file read and validated into records (``directory/records.py``).

Exists so that what a spreadsheet export may look like (UTF-8 with or without BOM, header
spellings, day-first dates, blank Excel rows, column widths the database enforces) lives in one
place, apart from the records that matching and routing import. The contract: ``parse_csv``
checks every row on its own and collects each bad one as ``RowError(line, reason)``; only a
problem with the whole file (not UTF-8, not CSV, a column missing or named twice, no rows)
raises ``DirectoryError``, before anything touches the database. Pure.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from mailbridge.directory.records import (
    ROLES,
    DirectoryRow,
    ParsedDirectory,
    RowError,
    Staff,
)
from mailbridge.errors import DirectoryError, MailbridgeError

REQUIRED_COLUMNS = (
    "child_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "placement_name",
    "carer_emails",
    "social_worker_name",
    "social_worker_email",
    "iro_name",
    "iro_email",
    "team_manager_email",
)

PLACEMENT_TYPE = "placement_type"


# Optional columns with a meaning of their own; every other extra column goes to attributes.
OPTIONAL_COLUMNS: tuple[str, ...] = (PLACEMENT_TYPE, "team_manager_name")
# Children placed in another council's area (docs/out-of-area.md): the authority code (or name)
# from the authorities file, the placement's postcode, and the Philomena profile document.
PLACEMENT_AUTHORITY = "placement_authority"
PLACEMENT_POSTCODE = "placement_postcode"
PROFILE_FILE = "profile_file"
OUT_OF_AREA_COLUMNS = (PLACEMENT_AUTHORITY, PLACEMENT_POSTCODE, PROFILE_FILE)
OPTIONAL_COLUMNS += OUT_OF_AREA_COLUMNS

# Column widths from models.py: checked here so PostgreSQL never rejects a row mid-import.
_MAX = {
    "child_id": 40,
    "first_name": 120,
    "last_name": 120,
    "placement_name": 200,
    PLACEMENT_TYPE: 80,
    "social_worker_name": 200,
    "iro_name": 200,
    "team_manager_name": 200,
    PLACEMENT_AUTHORITY: 200,
    PLACEMENT_POSTCODE: 20,
    PROFILE_FILE: 500,
}


_MAX_EMAIL = 320


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# UK day-first, as Excel saves en-GB dates: 14/03/2012 (also 14.03.2012 and 14-03-2012).
_UK_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})")
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"


_EMAIL = re.compile(rf"[^@\s<>()\[\],;:\"\\]+@{_LABEL}(?:\.{_LABEL})+")


def column_key(name: str) -> str:
    """'  Child ID' and 'child_id' are the same column: spreadsheets vary the header."""
    return "_".join(name.replace("\ufeff", "").strip().lower().split())


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) only: guessing a legacy charset would garble names."""
    if b"\x00" in data:
        raise DirectoryError("the file is not a CSV text file (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DirectoryError(
            f"line {line}: the file is not UTF-8 text; save it as 'CSV UTF-8' and try again"
        ) from exc


def read_directory_file(path: str | Path) -> ParsedDirectory:
    """Read and parse a directory CSV; any fatal problem says that nothing was imported."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DirectoryError(f"{path}: cannot read ({exc.strerror}); nothing imported") from exc
    try:
        return parse_csv(decode_csv(data))
    except MailbridgeError as exc:
        raise DirectoryError(f"{path}: {exc}; nothing imported") from exc


def parse_csv(text: str) -> ParsedDirectory:
    """Validate every row on its own; raise MailbridgeError only for whole-file problems."""
    if "\x00" in text:
        raise DirectoryError("the file is not a CSV text file (it contains NUL bytes)")
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    # One spelling of 'é' (NFC), whatever the exporting system used.
    text = unicodedata.normalize("NFC", text.removeprefix("\ufeff"))
    if not text.strip():
        raise DirectoryError("the file is empty")

    records = _records(text)
    header: list[str] | None = None
    for _, fields in records:
        if any(f.strip() for f in fields):
            header = fields
            break
    if header is None:  # only separators, e.g. ",,,"
        raise DirectoryError("the file is empty")
    keys = [column_key(h) for h in header]
    seen_keys: set[str] = set()
    for key in keys:
        if key and key in seen_keys:
            raise DirectoryError(f"the header names column {key!r} twice")
        seen_keys.add(key)
    missing = [c for c in REQUIRED_COLUMNS if c not in seen_keys]
    if missing:
        raise DirectoryError(
            f"missing required column(s): {', '.join(missing)} "
            f"(the header has: {', '.join(k for k in keys if k) or 'nothing'})"
        )
    extras = [k for k in keys if k and k not in REQUIRED_COLUMNS and k not in OPTIONAL_COLUMNS]

    body = list(records)
    day_first = _day_first_file(keys, body)
    rows: list[DirectoryRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    placement_types: dict[str, tuple[str, int]] = {}
    data_rows = 0
    for line, fields in body:
        if not any(f.strip() for f in fields):
            continue  # blank lines and Excel's ",,,,," rows carry nothing
        data_rows += 1
        if len(fields) != len(keys):
            errors.append(
                RowError(line, f"has {len(fields)} fields but the header has {len(keys)}")
            )
            continue
        values = {k: " ".join(v.split()) for k, v in zip(keys, fields, strict=True) if k}
        child_id = values["child_id"]
        if child_id and child_id in first_line:
            errors.append(
                RowError(line, f"child_id {child_id} is already on line {first_line[child_id]}")
            )
            continue
        if child_id:
            first_line[child_id] = line
        row, problems = _parse_row(line, values, extras, day_first=day_first)
        if row is not None and row.placement_name and row.placement_type:
            known = placement_types.get(row.placement_name)
            if known is not None and known[0] != row.placement_type:
                problems.append(
                    f"placement_type {row.placement_type!r} contradicts {known[0]!r} given for "
                    f"{row.placement_name!r} on line {known[1]}"
                )
        if problems or row is None:
            errors.append(RowError(line, "; ".join(problems)))
            continue
        if row.placement_name and row.placement_type:
            placement_types.setdefault(row.placement_name, (row.placement_type, line))
        rows.append(row)
    if data_rows == 0:
        raise DirectoryError("the file has a header but no rows")
    return ParsedDirectory(
        rows=tuple(rows),
        errors=tuple(errors),
        columns=tuple(k for k in keys if k),
        has_placement_type=PLACEMENT_TYPE in seen_keys,
        sha256=digest,
        out_of_area_columns=tuple(c for c in OUT_OF_AREA_COLUMNS if c in seen_keys),
    )


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field may span lines).

    ``strict`` makes a stray or unclosed quote fatal: the lenient reader would silently swallow
    every following row into one field.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DirectoryError(f"line {start}: not valid CSV ({exc})") from exc
        yield start, fields
        start = reader.line_num + 1


def _parse_row(
    line: int, values: dict[str, str], extras: Sequence[str], *, day_first: bool = False
) -> tuple[DirectoryRow | None, list[str]]:
    problems: list[str] = []
    for key in ("child_id", "first_name", "last_name"):
        if not values[key]:
            problems.append(f"{key} is empty")
    if " " in values["child_id"]:
        problems.append(f"child_id {values['child_id']!r} contains spaces")
    for key, limit in _MAX.items():
        if len(values.get(key, "")) > limit:
            problems.append(f"{key} is longer than {limit} characters")

    dob: date | None = None
    raw_dob = values["date_of_birth"]
    if raw_dob:
        dob, problem = parse_birth_date(raw_dob, day_first=day_first)
        if problem:
            problems.append(f"date_of_birth {raw_dob!r} {problem}")

    carers: list[str] = []
    for part in re.split(r"[;,]", values["carer_emails"]):
        address = part.strip().lower()
        if not address:
            continue
        if not _valid_email(address):
            problems.append(f"carer_emails: {part.strip()!r} is not an email address")
        elif address not in carers:
            carers.append(address)

    staff: dict[str, Staff | None] = {}
    for role in ROLES:
        name = values.get(f"{role}_name") or None
        email = values[f"{role}_email"].lower() or None
        if email is not None and not _valid_email(email):
            problems.append(f"{role}_email {values[f'{role}_email']!r} is not an email address")
        staff[role] = Staff(name, email) if (name or email) else None

    if problems:
        return None, problems
    return (
        DirectoryRow(
            line=line,
            child_id=values["child_id"],
            first_name=values["first_name"],
            last_name=values["last_name"],
            date_of_birth=dob,
            placement_name=values["placement_name"] or None,
            placement_type=values.get(PLACEMENT_TYPE) or None,
            carer_emails=tuple(carers),
            social_worker=staff["social_worker"],
            iro=staff["iro"],
            team_manager=staff["team_manager"],
            attributes={k: values[k] for k in extras},
            placement_authority=values.get(PLACEMENT_AUTHORITY) or None,
            placement_postcode=(values.get(PLACEMENT_POSTCODE) or "").upper() or None,
            profile_file=values.get(PROFILE_FILE) or None,
        ),
        problems,
    )


def _day_first_file(keys: Sequence[str], body: Sequence[tuple[int, list[str]]]) -> bool:
    """True when the file's slash dates are plainly day-first: one has a day above 12 (14/03)
    and none has a month above 12 (03/14, a US export)."""
    if "date_of_birth" not in keys:
        return False
    at = keys.index("date_of_birth")
    days_over = months_over = False
    for _, fields in body:
        m = _UK_DATE.fullmatch(fields[at].strip()) if len(fields) > at else None
        if m:
            days_over |= int(m.group(1)) > 12
            months_over |= int(m.group(3)) > 12
    return days_over and not months_over


def parse_birth_date(
    text: str, *, day_first: bool = False, today: date | None = None
) -> tuple[date | None, str | None]:
    """A date of birth from ISO (2012-03-14) or UK day-first (14/03/2012): (date, None), or
    (None, why not). Refused: impossible dates (31/02/2012, a date still to come), two-digit
    years, and a day-first date whose day and month could be either way round (03/04/2012 is
    3 April in en-GB but 4 March in a US export) unless ``day_first``: the rest of the file
    shows it is day-first. On doubt, the safe state is no date at all.
    """
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            found = date.fromisoformat(text)
        except ValueError:
            return None, "is not a real date"
    elif m := _UK_DATE.fullmatch(text):
        day, month, year = int(m.group(1)), int(m.group(3)), m.group(4)
        if len(year) == 2:
            return None, "has a two-digit year: write the year in full, or use YYYY-MM-DD"
        if day <= 12 and month <= 12 and day != month and not day_first:
            return None, (
                f"is ambiguous ({day} {_MONTH_NAMES[month - 1]} or {month} "
                f"{_MONTH_NAMES[day - 1]}?; no date in the file has a day above 12): "
                "write it as YYYY-MM-DD"
            )
        try:
            found = date(int(year), month, day)
        except ValueError:
            return None, "is not a real date"
    else:
        return None, "is not a date in YYYY-MM-DD or DD/MM/YYYY form"
    if found > (today or date.today()):
        return None, "is in the future"
    return found, None


def _valid_email(address: str) -> bool:
    return len(address) <= _MAX_EMAIL and _EMAIL.fullmatch(address) is not None
