"""Find a UK police reference in a carer's words.

Forces number things differently (a control-room log "1123 of 26/11/2026", a CAD number, a crime
reference "12/34567/26", a Met "PR/26/99812"), and carers' mail is full of other numbers: phone
numbers, child IDs, dates. We only take a number that follows a police-ish label, and we refuse
anything shaped like a phone number or a bare date.
"""

from __future__ import annotations

import re
from collections.abc import Collection

__all__ = ["find_police_reference"]

_DATE = r"\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
# "26/11/2026", "03/02" (the control room's day, year understood), "5th June", "4 December 2026"
_LOG_DATE = (rf"(?:{_DATE}|\d{{1,2}}/\d{{1,2}}(?![/\d])|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}"
             rf"(?:\s+\d{{4}})?)")
# "18Dec", "11JUL27": a control room's day run into the number
_MONTH_ABBR = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_LOG = re.compile(
    rf"\blog\s*(?:no\.?|number|num|ref(?:erence)?|#)?\s*(?:is\s+still\s+|still\s+is\s+|remains\s+|is\s+|"
    rf"was\s+)?[:.,]?\s*(\d{{1,6}})\s*"
    rf"(?:of|dated|on)\s+"
    rf"({_LOG_DATE})\b",
    re.IGNORECASE,
)
# "the number they gave me was 58213", "they gave us the reference 4471"
_GAVE = re.compile(
    r"\b(?:the\s+)?(?:number|ref(?:erence)?|log(?:\s+number)?)\s+(?:that\s+)?(?:they|police|the\s+police|"
    r"the\s+officers?|he|she|101|999)\s+(?:gave|give|have\s+given)\s+(?:me|us)\s*(?:is|was|:)?\s*"
    r"[:\-]?\s*([A-Z]{0,4}[/-]?\d[\dA-Z/-]{1,20}+)(?!\s*(?:of|dated|on)\s+\d)|"
    r"\b(?:they|police|polis|the\s+police|the\s+polis|officers?)\s+(?:gave|give)\s+(?:me|us)\s+"
    r"(?:(?:the|a)\s+(?:number|ref(?:erence)?|log(?:\s+number)?)|number)\s*(?:of|:|,)?\s*"
    r"([A-Z]{0,4}[/-]?\d[\dA-Z/-]{1,20}+)(?!\s*(?:of|dated|on)\s+\d)|"
    # "I've phoned the polis, the number is PS-20270101-0157" (polis: Scots for the police)
    r"\b(?:phoned|rang|rung|called|contacted|reported\s+(?:it\s+|him\s+|her\s+)?to)\s+the\s+"
    r"(?:police|polis)\b[^.\n]{0,40}?\b(?:the\s+)?(?<!log\s)(?<!cad\s)(?:number|ref(?:erence)?)\s+(?:is|was)\s*:?\s*"
    r"([A-Z]{0,4}[/-]?\d[\dA-Z/-]{1,20}+)(?!\s*(?:of|dated|on)\s+\d)|"
    # "Police gave us 58821 as the reference"
    r"\b(?:they|police|the\s+police|officers?)\s+(?:gave|give|have\s+given)\s+(?:me|us)\s+"
    r"([A-Z]{0,4}[/-]?\d[\dA-Z/-]{1,20})\s+as\s+(?:the|a|our)\s+(?:ref(?:erence)?|log|incident|"
    r"crime)\b|"
    # "I am call police ..., they say number is 0345"
    r"\b(?:they|police|the\s+police|officers?)\s+(?:say|said|told\s+(?:me|us))\s+(?:the\s+)?"
    r"(?:number|ref(?:erence)?|log(?:\s+number)?)\s+(?:is|was)\s*:?\s*([A-Z]{0,4}[/-]?\d[\dA-Z/-]{1,20}+)(?!\s*(?:of|dated|on)\s+\d)",
    re.IGNORECASE,
)
# Force incident numbers: 11 or more digits, in a sentence that speaks of the police.
_LONG = re.compile(r"(?<![\d+/-])([1-9]\d{10,17})(?![\d/-])")
_POLICE_WORD = re.compile(r"\b(?:police|polis|incident|log|officers?|101|999|reported|cad)\b",
                          re.IGNORECASE)
_CAD = re.compile(
    r"\bCAD\s*(?:no\.?|number|ref(?:erence)?|#)?\s*(?:is\s+|was\s+)?[:.]?\s*"
    rf"(\d{{2,8}}(?:/\d{{2,8}})*(?:{_MONTH_ABBR}(?:\d{{2}}|\d{{4}})?\b)?)"
    # "CAD 5521 of 12/03/2027": the control room's day, kept as for a log
    rf"(?:\s+(?:of|dated)\s+({_DATE}))?",
    re.IGNORECASE,
)
# the day a number was given, written after it: "1903 11NOV27", "0611 22/01/27"
_DAY_AFTER = re.compile(rf"[ \t]+(\d{{1,2}}{_MONTH_ABBR}(?:\d{{2}}|\d{{4}})|{_DATE})\b",
                        re.IGNORECASE)
_PR = re.compile(r"\b(PR[/ -]?\d{2}/\d{3,9})\b", re.IGNORECASE)
_LABELLED = re.compile(
    r"(?P<pre>\b(?:child|children|childs|child's|young person'?s?|yp|id|mosaic|lcs|"
    # the council's own number for the child: "Placing authority ref: 204353", "(LA ref 204353)"
    r"authority|authority's|la|la's|council|council's|agency|agency's|ofsted)\s+)?"
    # common slips in the label too: "Poilce refrence"
    r"\b(?P<label>(?:police|poilce|polcie|polce|plice|polis)\s+(?:log\s+|incident\s+|crime\s+|case\s+|"
    r"occurrence\s+)?(?:ref(?:erence|rence|erance|ernce)?|number|no|log|incident)|"
    r"crime\s*(?:ref(?:erence)?|number|no)|incident\s*(?:ref(?:erence)?|number|no|log)|"
    r"occurrence\s*(?:ref(?:erence)?|number|no)|log\s*(?:number|no)|"
    r"ref(?:erence)?\s*(?:number|no)|reference|ref|log|incident|occurrence|storm|niche)"
    r"\.?\s*(?:number|no\.?|num|#)?\s*(?:is\s+still|still\s+is|remains|is|was|=)?\s*[:#.\-–,]?\s*"
    r"(?P<value>[A-Z]{0,4}[/-]?[0-9][A-Z0-9]*(?:[/-][A-Z0-9]+){0,4})",
    re.IGNORECASE,
)
_OWN_REF = re.compile(r"MB-\d{4}-", re.IGNORECASE)  # mailbridge's own episode reference
# UK phone numbers: 0 and 9-10 digits, or 44 and 10 digits (an incident number may start 44)
_PHONE = re.compile(r"^(?:\+44\d{9,10}|44\d{10}|0\d{9,10})$")


def _looks_like_date(token: str) -> bool:
    m = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})", token)
    return bool(m and 1 <= int(m.group(1)) <= 31 and 1 <= int(m.group(2)) <= 12)


# After a police label, "44..." with no "+" is an incident number; a "+44" or "0" number is a phone.
_DIALLED = re.compile(r"^(?:\+44\d{9,10}|0\d{9,10})$")


def _acceptable(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 2:
        return False
    if _DIALLED.match(re.sub(r"[\s-]", "", value)):
        return False
    return not _looks_like_date(value)


def find_police_reference(text: str, *, ignore: Collection[str] = ()) -> str | None:
    """Return the first police reference in ``text``, normalised lightly, or None.

    "log 1123 of 26/11/2026" and "CAD 4512" keep their prefix (the number alone means nothing
    without it); other styles return the reference itself ("PR/26/99812", "12/34567/26").
    ``ignore`` holds numbers known to be something else (the child's ID).
    """
    try:
        return _find(text[:200_000], set(ignore))
    except Exception:  # a reader must never take the message down with it
        return None


def _full_year(day: str) -> str:
    """"23/12/26" as "23/12/2026": one log written two ways is one reference."""
    return re.sub(r"^(\d{1,2}[/.]\d{1,2}[/.])(\d{2})$", r"\g<1>20\2", day.strip())


def _find(text: str, ignore: set[str]) -> str | None:
    candidates: list[tuple[int, str]] = []
    m = _LOG.search(text)
    if m:
        candidates.append((m.start(), f"log {m.group(1)} of {_full_year(m.group(2))}"))
    m = _CAD.search(text)
    if m:
        day = f" of {_full_year(m.group(2))}" if m.group(2) else ""
        candidates.append((m.start(), f"CAD {m.group(1)}{day}"))
    m = _GAVE.search(text)
    if m:
        value = next(g for g in m.groups() if g).rstrip(".-/")
        if _acceptable(value) and value not in ignore:
            candidates.append((m.start(), value.upper()))
    for m in _LONG.finditer(text):
        value = m.group(1)
        if value in ignore or _PHONE.match(value):
            continue
        left = max(text.rfind(".", 0, m.start()), text.rfind("\n", 0, m.start()))
        right = min((i for i in (text.find(".", m.end()), text.find("\n", m.end())) if i >= 0),
                    default=len(text))
        if _POLICE_WORD.search(text[left + 1 : right]):
            candidates.append((m.start(), value))
            break
    m = _PR.search(text)
    if m:
        value = re.sub(r"^PR[ -]?", "PR/", m.group(1), flags=re.IGNORECASE).upper()
        value = value.replace("PR//", "PR/")
        candidates.append((m.start(), value))
    for m in _LABELLED.finditer(text):
        if m.group("pre"):
            continue  # "child ref 100231" is the child, not the police
        label = m.group("label").lower()
        value = m.group("value").rstrip(".-/")
        if not _acceptable(value) or value in ignore or _OWN_REF.match(value):
            continue
        # bare "ref"/"reference" (no police word) is too common: require a long or structured value
        if label in {"ref", "reference", "incident", "log", "occurrence"} and not (
            len(re.sub(r"\D", "", value)) >= 3 or "/" in value
        ):
            continue
        if label.endswith("log") and re.match(r"\s*(?:of|dated|on)\s", text[m.end() : m.end() + 8]):
            continue  # handled by _LOG
        value = value.upper() if re.search(r"[a-z]", value) else value
        spaced = re.match(r"(?:[ \t]\d{2,6}){1,3}\b", text[m.end() : m.end() + 24])
        if value.isdigit() and spaced:
            joined = value + re.sub(r"\s", "", spaced.group(0))
            if 10 <= len(joined) <= 18:
                value = joined  # "2600 0621 554", a force number copied in groups
        of_date = re.match(rf"\s+(?:of|dated)\s+({_DATE})", text[m.end() : m.end() + 20])
        if of_date and value.isdigit():  # "police ref 4471 of 29/11/2026" is a control-room log
            value = f"log {value} of {_full_year(of_date.group(1))}"
        elif label.startswith(("log", "police log")):
            value = f"log {value}"
        elif value.isdigit() and (after := _DAY_AFTER.match(text, m.end())):
            value = f"{value} {after.group(1)}"  # the number means nothing without its day
        candidates.append((m.start(), value))
        break
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1]
