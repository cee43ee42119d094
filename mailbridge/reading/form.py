"""The council's carer report form: one "Label: value" per line.

The same label table reads the shipped form (``templates/carer-report-form.txt``), Outlook tables
rendered as "label: value", and carers' own variants ("D.O.B", "Name of young person",
"Time last seen"). Labels are matched case-, accent- and punctuation-insensitively.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "FORM_FIELDS",
    "LABELS",
    "FormSections",
    "field_of_line",
    "form_sections",
    "is_blank",
    "normalise_label",
    "parse_form",
    "parse_form_lines",
    "without_form_furniture",
]

#: field name -> label variants (written naturally; they are normalised when the table is built)
FORM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "report_type": ("Report type", "Type of report", "Report", "Status", "Missing or returned"),
    "child_id": (
        "Child ID",
        "ID",
        "Child ID number",
        "Child reference",
        "Child ref",
        "Child number",
        "Young person ID",
        "Mosaic ID",
        "LCS ID",
        "Client ID",
    ),
    "full_name": (
        "Child's name",
        "Childs name",
        "Child name",
        "Name of child",
        "Name",
        "Name of young person",
        "Young person's name",
        "Young person",
        "Child",
        "Full name",
        "Child's full name",
        "YP name",
        "YP",
        "Name of missing child",
        "Missing child",
        "Missing person",
        "Name of missing person",
    ),
    "first_name": ("First name", "Forename", "Given name", "Known as", "Preferred name"),
    "last_name": ("Surname", "Last name", "Family name"),
    "date_of_birth": (
        "Date of birth",
        "DOB",
        "D.O.B",
        "Birth date",
        "Birthday",
        "Child's date of birth",
        "Child's DOB",
    ),
    "placement": (
        "Placement",
        "Home",
        "Address",
        "Placement address",
        "Home address",
        "Children's home",
        "Foster home",
        "Carer's address",
        "Placement name",
    ),
    "last_seen": (
        "Last seen",
        "Time last seen",
        "Date and time last seen",
        "Date/time last seen",
        "When last seen",
        "Date last seen",
        "Last seen date and time",
        "Last seen (date and time)",
        "Last seen date/time",
        "Time missing",
        "Missing since",
        "Went missing",
        "Time went missing",
        "Date and time missing",
    ),
    "last_seen_location": (
        "Where last seen",
        "Last seen at",
        "Location",
        "Place last seen",
        "Location last seen",
        "Last seen location",
        "Last known location",
        "Where seen",
        "Last seen where",
    ),
    "police_reference": (
        "Police ref",
        "Police reference",
        "Police reference number",
        "Police ref no",
        "Log number",
        "Police log",
        "Police log number",
        "Crime reference",
        "Crime ref",
        "Crime number",
        "Incident number",
        "Police incident number",
        "CAD",
        "CAD number",
        "Occurrence number",
        "Reference number",
    ),
    "police_informed": (
        "Police informed",
        "Reported to police",
        "Police told",
        "Police notified",
        "Have the police been informed",
    ),
    "risk_level": (
        "Risk",
        "Risk level",
        "Risk assessment",
        "Level of risk",
        "Risk rating",
        "Assessed risk",
    ),
    "risk_notes": (
        "Risk notes",
        "Risks",
        "Concerns",
        "Risk factors",
        "Vulnerabilities",
        "Known risks",
        "Why are you worried",
        "Any concerns",
        "Risk details",
    ),
    "description": (
        "Description",
        "Physical description",
        "Appearance",
        "Describe the child",
        "Description of child",
    ),
    "clothing": (
        "Clothing",
        "Wearing",
        "Clothes",
        "What were they wearing",
        "What was the child wearing",
        "Last seen wearing",
    ),
    "reporter_name": (
        "Reported by",
        "Your name",
        "Reporter",
        "Reporter's name",
        "Carer",
        "Carer's name",
        "Name of carer",
        "Person reporting",
        "From",
        "Reporting carer",
        "Staff member",
        "Completed by",
    ),
    "reporter_phone": (
        "Phone",
        "Contact number",
        "Tel",
        "Telephone",
        "Mobile",
        "Phone number",
        "Your phone",
        "Your phone number",
        "Contact phone",
        "Contact tel",
        "Tel no",
        "Telephone number",
        "Contact",
        "Your contact number",
    ),
    "returned_at": (
        "Returned at",
        "Time returned",
        "Date and time returned",
        "Returned",
        "Date/time returned",
        "Return time",
        "Time of return",
        "Came back at",
        "Returned on",
        "When returned",
        "Date returned",
        "Found at",
    ),
    "returned_by": (
        "Returned by",
        "Found by",
        "Brought back by",
        "Who found them",
        "Who returned them",
        "Located by",
        "Returned how",
    ),
    "safe_and_well": (
        "Safe and well",
        "Safe & well",
        "Is the child safe and well",
        "Safe and well check",
        "Safe",
        "Safe and well?",
    ),
    # SSDA903: missing (M) or away from placement without authorisation (A); see fields.py
    "absence_type": (
        "Absence type",
        "Type of absence",
        "Absence classification",
        "Missing or away",
        "Missing or absent",
        "Away or missing",
        "Missing or away from placement",
        "Missing away",
        "SSDA903 absence type",
        "903 absence type",
        "Reclassify as",
        "Classification",
    ),
    "notes": (
        "Notes",
        "Other information",
        "Anything else",
        "Additional information",
        "Comments",
        "Circumstances",
        "What happened",
        "Details",
    ),
}


def normalise_label(label: str) -> str:
    """Lower-case, strip accents and punctuation: "D.O.B." and "dob" are the same label."""
    # the same few labels and reason-code synonyms come back for every line and every report:
    # short ones are normalised once (the answer depends on the label alone)
    return _normalised(label) if len(label) <= 200 else _normalise(label)


_POSSESSIVE = re.compile(r"'s\b")
_BRACKETED = re.compile(r"\([^)]*\)")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_SPELT_OUT = re.compile(r"(?:[a-z] )+[a-z]")


def _normalise(label: str) -> str:
    text = unicodedata.normalize("NFKD", label)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("’", "'")
    text = _POSSESSIVE.sub("s", text)
    text = _BRACKETED.sub(" ", text) if _BRACKETED.sub("", text).strip() else text
    text = _NOT_ALNUM.sub(" ", text).strip()
    # "d o b" (from "D.O.B") -> "dob"
    if _SPELT_OUT.fullmatch(text):
        text = text.replace(" ", "")
    return text


_normalised = functools.lru_cache(maxsize=4096)(_normalise)


LABELS: Mapping[str, str] = {
    normalise_label(variant): name for name, variants in FORM_FIELDS.items() for variant in variants
}

_LINE = re.compile(r"^[ \t>*•·\-]*(?P<label>[^:\n]{1,60}?)\s*[:\t?]\s*(?P<value>.*)$")
_BLANKS = {
    "",
    "n a",
    "na",
    "none",
    "unknown",
    "not known",
    "tbc",
    "tba",
    "nil",
    "n k",
    "nk",
    "x",
    "no information",
    "not applicable",
    "not yet",
    "none known",
}
_JOINED = frozenset({"last_seen", "returned_at"})


def is_blank(value: str) -> bool:
    """A value a carer writes when they have nothing to say ("N/A", "-", "unknown")."""
    return normalise_label(value) in _BLANKS or not re.search(r"[A-Za-z0-9]", value)


def _label_of(raw: str) -> str | None:
    key = normalise_label(raw)
    if key in LABELS:
        return LABELS[key]
    # "Please give the child's name" / "Child's name (in full)": drop politeness and retry
    key = re.sub(r"^(?:please (?:give|state|enter|provide) |the |your child s )", "", key)
    return LABELS.get(key)


def field_of_line(line: str) -> str | None:
    """The field a "Label: value" line answers, or None; never raises."""
    try:
        m = _LINE.match(line)
        return _label_of(m.group("label")) if m and len(line) <= 2000 else None
    except Exception:
        return None


def parse_form(text: str) -> dict[str, str]:
    """Read "Label: value" lines into {field name: value}; the first filled-in value wins.

    A label with an empty value takes the following lines up to a blank line, the next label or
    a section header, because carers often answer on the line below the question.
    """
    return {name: value for name, (value, _line) in parse_form_lines(text).items()}


def parse_form_lines(text: str) -> dict[str, tuple[str, str]]:
    """As ``parse_form``, with the line each value was read from (for provenance)."""
    out: dict[str, tuple[str, str]] = {}
    try:
        lines = text.split("\n")[:5000]
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            m = _LINE.match(line)
            if not m or len(line) > 2000:
                continue
            name = _label_of(m.group("label"))
            if name is None:
                continue
            value = m.group("value").strip()
            if not value:
                extra: list[str] = []
                while i < len(lines) and lines[i].strip() and len(extra) < 10:
                    if _SECTION.match(lines[i]):
                        break
                    nxt = _LINE.match(lines[i])
                    if nxt and _label_of(nxt.group("label")):
                        break
                    extra.append(lines[i].strip())
                    i += 1
                value = " ".join(extra)
            value = value.strip().strip("[]_").strip()
            if is_blank(value) or (name in RETURN_FACTS and _NOT_BACK_ANSWER.match(value)):
                continue  # "Date and time returned: not returned yet" answers nothing
            source = " ".join(line.split())[:300]
            if name in out:
                if name in _JOINED:  # "Date last seen: 26/11" then "Time last seen: 21:30"
                    old, old_line = out[name]
                    out[name] = (f"{old} {value}"[:1000], f"{old_line} / {source}"[:300])
                continue
            out[name] = (value[:1000], source)
    except Exception:  # a reader must never raise; what was read so far is kept
        return out
    return out


# an answer to a return label that says there is no return yet, or that the writer cannot say
_NOT_BACK_ANSWER = re.compile(
    r"\s*(?:not\s+(?:yet\s+)?(?:returned|back|home|known)|still\s+(?:missing|out|awol)|missing|"
    r"awol|no(?:t)?\s+yet|don'?t\s+know|dont\s+know|do\s+not\s+know|not\s+sure|unsure|pending|"
    r"awaiting|n/?k|\?+)(?![a-z])[^.\n]{0,40}$",
    re.IGNORECASE,
)


# The shipped form's two parts: "--- MISSING ----" and "--- RETURN (when the child is back) ---".
_SECTION = re.compile(r"^\s*[-=*#_]{2,}\s*(MISSING|RETURN)\b[^\n]*$", re.IGNORECASE)
# What only a return says; the child's name, ID, reporter and phone are in both parts.
RETURN_FACTS = frozenset({"returned_at", "returned_by", "safe_and_well"})
MISSING_FACTS = frozenset({"last_seen", "last_seen_location", "risk_level", "risk_notes",
                           "description", "clothing", "police_informed"})


@dataclass(frozen=True)
class FormSections:
    """The shipped form read part by part: a part with no answer of its own is absent."""

    missing: dict[str, tuple[str, str]]
    returned: dict[str, tuple[str, str]]

    @property
    def missing_filled(self) -> bool:
        return bool(self.missing.keys() & MISSING_FACTS)

    @property
    def return_filled(self) -> bool:
        return bool(self.returned.keys() & RETURN_FACTS)


def form_sections(text: str) -> FormSections | None:
    """The MISSING and RETURN parts of the shipped form, or None when the text has no part header.

    Text before the first header belongs to the MISSING part (the form's title and the carer's
    own lines); a RETURN part sent alone starts at its header.
    """
    try:
        lines = text.split("\n")[:5000]
        heads = [(i, m.group(1).upper()) for i, line in enumerate(lines)
                 if (m := _SECTION.match(line))]
        if not heads:
            return None
        parts: dict[str, list[str]] = {"MISSING": [], "RETURN": []}
        current = "MISSING"
        head_at = dict(heads)
        for i, line in enumerate(lines):
            if i in head_at:
                current = head_at[i]
                continue
            parts[current].append(line)
        return FormSections(parse_form_lines("\n".join(parts["MISSING"])),
                            parse_form_lines("\n".join(parts["RETURN"])))
    except Exception:
        return None


def form_part_of_lines(text: str) -> list[str | None]:
    """For each line of ``text``, the form part it lies in ("MISSING", "RETURN"), or None
    before the first part header (the carer's own words above the form)."""
    out: list[str | None] = []
    current: str | None = None
    for line in text.split("\n"):
        if m := _SECTION.match(line):
            current = m.group(1).upper()
        out.append(current)
    return out


_HOW_TO = re.compile(r"^\s*how\s+to\s+use\s+(?:it|this\s+form)\s*:?\s*$", re.IGNORECASE)
_COPY_LINE = re.compile(r"copy\s+this\s+form\s+into\s+an\s+email", re.IGNORECASE)


def without_form_furniture(text: str) -> str:
    """The carer's words only: the form's instructions, part headers and labels taken out.

    "Date and time returned:" left blank, or "When the child comes back, send only the RETURN
    part", are the form talking, not the carer: a blank label asserts nothing. Each answered
    label line keeps only its answer; lines keep their places, so offsets stay meaningful.
    """
    try:
        lines = text.split("\n")
        out: list[str] = []
        skipping = False
        for line in lines:
            if _HOW_TO.match(line):
                skipping = True
            if skipping and _SECTION.match(line):
                skipping = False
            if skipping or _SECTION.match(line) or _COPY_LINE.search(line) or \
                    re.fullmatch(r"\s*[=\-_*]{5,}\s*", line):
                out.append("")
                continue
            m = _LINE.match(line)
            if m and len(line) <= 2000 and _label_of(m.group("label")) is not None:
                value = m.group("value").strip()
                out.append("" if is_blank(value) else value + ("" if value.endswith(".") else "."))
                continue
            out.append(line)
        return "\n".join(out)
    except Exception:
        return text
