"""One email about several children: who is named, and what the email says about each.

A night-staff handover ("Callum is back ... Jasmine is still out ... Connor settled") or siblings
("Sam and Ellie are not back") is several reports in one message. Each child named and matched
gets their own reading: the clauses that name the child, and the clauses after them until
another child is named ("Jasmine is still out. Last seen at the park at 20:30" is Jasmine's).
Clauses before any name ("Night handover, staff on: Lee") belong to every child named.

A child is "named" by a full name (or known-as name and surname) anywhere, by initials with
the date of birth, or by a first or known-as name when the sender is a carer at the child's
placement (the same trust as single-child matching in match.py). Pure: no I/O.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbridge.reading.classify import Classification, classify
from mailbridge.reading.context import assertions, clauses
from mailbridge.reading.fields import ReportFields, extract_fields
from mailbridge.reading.match import (
    PRESENT,
    REPORTED_ON,
    DirectoryChild,
    fold,
    full_names,
    given_names,
    initials_dated,
    initials_with_dob,
    named_candidates,
    shared_domains,
    writes_for_placement,
)
from mailbridge.reading.message import ReadMessage

log = logging.getLogger(__name__)

__all__ = ["ChildReading", "children_named", "gender_of", "read_each_child", "split_by_child"]

REPORT_KINDS = ("missing", "returned", "info")
# a sibling said only to be home, with no time and nothing else ("Logan is home." under a
# report of his brother missing): where the child is, not news of a return; if that child was
# in fact out, the episode stays open (the safe state) for staff to close
_BARE_HOME = re.compile(r"\W*(?:[\w'-]+\s+){1,3}(?:is|'s)\s+(?:at\s+)?home\s*[.!]?\W*",
                        re.IGNORECASE)

# facts about the whole message that a child's own clauses may not repeat
_SHARED = ("police_reference", "reporter_name", "reporter_phone", "placement")


@dataclass(frozen=True)
class ChildReading:
    """What one message says about one child."""

    child_id: str
    text: str
    fields: ReportFields
    classification: Classification


def _aligned_fold(text: str) -> str:
    """``fold`` that keeps every character's place: one character in, one out, so a name found
    in the folded text is at the same offsets in the carer's text."""
    if text.isascii():  # most mail: the same, a hundred times faster
        return _NOT_WORD_ASCII.sub(" ", text.lower())
    out = []
    for ch in text:
        base = unicodedata.normalize("NFKD", ch)[:1].casefold() or " "
        out.append(base if len(base) == 1 and (base.isalnum() or base == "_") else " ")
    return "".join(out)


_NOT_WORD_ASCII = re.compile(r"[^a-z0-9_]")


def _spans(haystack: str, name: str) -> list[tuple[int, int]]:
    """Where the folded ``name`` occurs as whole words in the aligned-folded ``haystack``."""
    pattern = _name_pattern(name)
    return [m.span() for m in pattern.finditer(haystack)] if pattern is not None else []


@functools.lru_cache(maxsize=20_000)
def _name_pattern(name: str) -> re.Pattern[str] | None:
    """A folded name as whole words, compiled once per name, not once per report."""
    words = r"\s+".join(re.escape(w) for w in name.split())
    return re.compile(rf"(?<!\w){words}(?!\w)") if words else None


def _sibling_spans(haystack: str, given: str, last: str) -> list[tuple[int, int]]:
    """Where ``given`` stands first in "given and <name> last" in the aligned-folded haystack."""
    pattern = _sibling_pattern(given, last)
    return [(m.start(), m.start() + len(given)) for m in pattern.finditer(haystack)] \
        if pattern is not None else []


@functools.lru_cache(maxsize=20_000)
def _sibling_pattern(given: str, last: str) -> re.Pattern[str] | None:
    if not given.strip() or not last.strip():
        return None
    return re.compile(
        rf"(?<!\w){re.escape(given)}\s+(?:and|&)\s+[a-z][\w'-]*\s+{re.escape(last)}(?!\w)")


def _initials_spans(text: str, children: Sequence[DirectoryChild]) -> list[tuple[int, int, str]]:
    return [(start, end, c.child_id) for start, end, c in initials_dated(text, children)]


def _mention_spans(
    text: str, children: Sequence[DirectoryChild], address: str,
    named_in_full: frozenset[str] = frozenset(), shared: frozenset[str] | None = None,
) -> list[tuple[int, int, str]]:
    """(start, end, child_id) of every mention of a child in ``text``, in order.

    A full name (or known-as name with the surname) counts anywhere, as do initials with the
    date of birth; a first or known-as name alone counts when the sender is a carer of the
    child's placement or the email names the child in full somewhere, and only where it is not
    part of another child's full name: "Oliver Turner" at a home with two Olivers names one.
    Case is ignored ("lily is here with me"). ``shared`` is the directory's ``shared_domains``,
    worked out from ``children`` when they are the whole directory; a caller passing only the
    children already named passes the whole directory's.
    """
    haystack = _aligned_fold(text)
    words = frozenset(haystack.split())
    # every full name holds a given name: a child none of whose given names is in the text is
    # not named by name (initials with a date of birth are looked for below, in all children)
    candidates = named_candidates(children, words, given=True)
    found: list[tuple[int, int, str]] = []
    for c in candidates:
        found += [(s, e, c.child_id) for n in full_names(c) for s, e in _spans(haystack, n)]
        # siblings named with one surname: "Kacey and Mason Rapley" names Kacey Rapley in full
        found += [(s, e, c.child_id) for g in given_names(c)
                  for s, e in _sibling_spans(haystack, g, fold(c.last_name))]
    fulls = list(found)
    named_in_full = named_in_full | {cid for _s, _e, cid in fulls}
    if shared is None:
        shared = shared_domains(children)
    for c in candidates:
        # a carer of the child's placement may use the first name alone; anyone may, once the
        # email has given the child's full name ("Re: Dominik Nowak (Dom) ... Dom returned")
        carer = writes_for_placement(c, address, shared)
        if not carer and c.child_id not in named_in_full:
            continue
        found += [(s, e, c.child_id) for n in given_names(c) for s, e in _spans(haystack, n)
                  if not any(fs <= s and e <= fe for fs, fe, _cid in fulls)]
    found += _initials_spans(text, children)
    return sorted(set(found))


def _mentions(
    text: str, children: Sequence[DirectoryChild], address: str,
    shared: frozenset[str] | None = None,
) -> dict[str, int]:
    """{child_id: first position} of the children ``text`` names."""
    out: dict[str, int] = {}
    for s, _e, cid in _mention_spans(text, children, address, shared=shared):
        out.setdefault(cid, s)
    return out


def children_named(
    subject: str,
    text: str,
    fields: ReportFields,
    sender: str | None,
    children: Sequence[DirectoryChild],
) -> list[DirectoryChild]:
    """The directory children the message names, in order of first mention."""
    whole = f"{subject}\n{text}"
    by_id = {c.child_id: c for c in children}
    found = _mentions(whole, children, (sender or "").lower())
    for c in initials_with_dob(whole, fields.date_of_birth, children):
        found.setdefault(c.child_id, len(whole))
    named = [by_id[cid] for cid, _pos in sorted(found.items(), key=lambda f: (f[1], f[0]))]
    if len(named) > 1:
        # "PC 21907 Aisha Rahman" signing from aisha.rahman@...: the writer, not a child the
        # email is about, when another child is named (a namesake in the directory)
        named = [c for c in named if not _is_the_sender(c, sender)]
    return named


def _is_the_sender(child: DirectoryChild, sender: str | None) -> bool:
    """The sender's address is the child's first and last name ("aisha.rahman@...")."""
    local = (sender or "").lower().partition("@")[0]
    words = {w for w in re.split(r"[._\-+]+", local) if w}
    return bool(words) and words == {fold(child.first_name), fold(child.last_name)}


# a piece naming no child that opens with a pronoun: "He is fine." after "Ellie still out."
_PRONOUN_LEAD = re.compile(r"^\W*(he|him|his|she|her|hers)\b", re.IGNORECASE)
_ANY_PRONOUN_LEAD = re.compile(
    r"^\W*(?:(?:and|but|so|then|now)\s+)?(?:he|she|they)\b",
    re.IGNORECASE)
# a name as the object of a preposition names a child the clause is not about
_OBJECT_BEFORE = re.compile(r"\b(?:with|about|against|than|like|over|to|for|by|behind|beside)\s+$|"
                            # "given the information about the car from Moatasim": a source
                            r"\b(?:information|info|details?|description|account|message|text)\s+"
                            r"(?:[\w']+\s+){0,4}from\s+$",
                            re.IGNORECASE)

# between two names said together: "Sam and Ellie", "Sam, Ellie & Jo", "Sam/Ellie", and a
# name given with its short form: "Callum (Cal) and Connor", 'Callum "Cal" and Connor'
_TOGETHER = re.compile(r"^[\s,&+/()\"'“”]*(?:and|or|n|&)?[\s,&+/()\"'“”]*$",
                       re.IGNORECASE)
_ALL_OF_THEM = re.compile(
    r"\b(?:both|all\s+(?:three|of\s+them|the\s+children)|neither|none\s+of)\b", re.IGNORECASE)


def _segments(clause: str, named: Sequence[DirectoryChild], address: str,
              has_current: bool = False, named_in_full: frozenset[str] = frozenset(),
              *, shared: frozenset[str],
              ) -> list[tuple[str, list[str]]]:
    """The clause cut where another child is named: [(text, the children named at its start)].

    Phone-typed text has no full stops ("ruby not back from school ... lily is here with me"),
    so a clause can hold two children's news; names said together stay one group.
    """
    spans = _mention_spans(clause, named, address, named_in_full, shared)
    groups: list[tuple[int, list[str]]] = []
    last_end = -1
    for s, e, cid in spans:
        if groups and (s < last_end or _TOGETHER.match(clause[last_end:s])):
            if cid not in groups[-1][1]:
                groups[-1][1].append(cid)
        elif (groups or has_current) and _OBJECT_BEFORE.search(clause[max(0, s - 60) : s]):
            pass  # "after a row with Sam", "while I was upstairs with Tia": not who it is about
        else:
            groups.append((s, [cid]))
        last_end = max(last_end, e)
    if not groups:
        return [(clause, [])]
    out: list[tuple[str, list[str]]] = []
    lead = clause[: groups[0][0]]
    if lead.strip() and _ANY_PRONOUN_LEAD.match(lead):
        out.append((lead, []))  # "She came back with ...": the child last named (a subject
        # pronoun; "Their dad dropped Lily back" is about Lily)
    elif lead.strip():
        # "Still nothing from Lily", "Police found Ruby at 9": the words before the clause's
        # first name are about that child, not the one named in an earlier sentence
        groups[0] = (0, groups[0][1])
    for i, (s, cids) in enumerate(groups):
        nxt = groups[i + 1][0] if i + 1 < len(groups) else len(clause)
        out.append((clause[s:nxt], cids))
    return out


# a thread's subject that says its children are missing ("Re: Alfie and Lexi missing")
_THREAD_SAYS_MISSING = re.compile(r"\s*(?:re|aw|sv)\s*:.*?(?<!not\s)(?<!no\s)\b(?:missing|"
                                  r"not\s+(?:back|home|returned)|awol|absconded)\b", re.IGNORECASE)


def _out_or_back(words: str) -> bool:
    """The child's own words say they are elsewhere ("Alfie is NOT with her", "Alfie got on the
    bus to Watton"), not that they are home ("Both children are having their tea")."""
    # (not "Alfie went to bed at 10")
    return bool(re.search(r"\b(?:not\s+with|got\s+(?:on|in(?:to)?)\s+(?:a|the)\b|"
                          r"went\s+(?:off|out|away)|gone\s+(?:off|out|again)|left\s+(?:with|on|in)|"
                          r"ran\s+off|took\s+off|"
                          r"walked\s+off|still\s+out)\b", words, re.IGNORECASE)
                and not PRESENT.search(words))


# a child said to be where they should be, in a report about another child
_RETURN_WORDS = re.compile(r"\b(?:back|home|came\s+in|walked\s+in|returned|found|turned\s+up)\b",
                           re.IGNORECASE)


def gender_of(child: DirectoryChild) -> str | None:
    """"m" or "f" from an optional ``gender`` (or ``sex``) directory column, else None."""
    attributes = getattr(child, "attributes", None) or {}
    raw = str(attributes.get("gender") or attributes.get("sex") or "").strip().lower()
    if raw in {"m", "male", "boy", "man"}:
        return "m"
    if raw in {"f", "female", "girl", "woman"}:
        return "f"
    return None


def _pronoun_owner(
    pronoun: str, current: list[str], named: Sequence[DirectoryChild], seen: set[str]
) -> tuple[list[str], str | None]:
    """Who "he"/"she" is: the child last named if the gender fits or is unknown; else the one
    other child named whose gender fits; else nobody sure (a doubt)."""
    want = "m" if pronoun.lower() in {"he", "him", "his"} else "f"
    by_id = {c.child_id: c for c in named}
    genders = {cid: gender_of(by_id[cid]) for cid in current if cid in by_id}
    if len(current) != 1 or genders.get(current[0]) == want:
        return current, None
    if genders.get(current[0]) is None and len(seen) < 2:
        return current, None  # only one child named so far: "Sam is back. He came in at 9."
    if genders.get(current[0]) is None:
        # the directory does not say: "he" is the child last named, unless another child named
        # is known to be of that gender
        others = [c.child_id for c in named if c.child_id not in current and gender_of(c) == want]
        if not others:
            return current, ("'" + pronoun + "' may not mean the child last named; the directory "
                             "does not record the children's gender")
        return current, (f"'{pronoun}' may mean another child named in the email")
    fits = [c.child_id for c in named if gender_of(c) == want]
    if len(fits) == 1:
        return fits, None
    return current, (f"'{pronoun}' follows a child of the other gender in the directory; "
                     "it is not clear which child the email means")


def _split(
    text: str, named: Sequence[DirectoryChild], sender: str | None,
    shared: frozenset[str] | None = None, subject: str = "",
) -> tuple[dict[str, list[str]], dict[str, list[str]], int]:
    """({child_id: the preamble's clauses, then the child's own}, doubts, the preamble's length).

    ``shared``: the whole directory's ``shared_domains``; without it, those of ``named``.
    ``subject``: a child it names in full ("Re: Kacey and Mason Rapley not home") may be named by
    first name alone in the body, whoever writes."""
    address = (sender or "").lower()
    if shared is None:
        shared = shared_domains(named)
    parts: dict[str, list[str]] = {c.child_id: [] for c in named}
    doubts: dict[str, list[str]] = {}
    current: list[str] = []
    seen: set[str] = set()
    preamble: list[str] = []
    haystack = _aligned_fold(text)
    headline = _aligned_fold(subject)
    in_full = frozenset(c.child_id for c in named
                        if any(_spans(haystack, n) or _spans(headline, n) for n in full_names(c))
                        or any(_sibling_spans(h, g, fold(c.last_name)) for h in (haystack, headline)
                               for g in given_names(c)))
    for clause in clauses(text):
        for piece, at_start in _segments(clause.text, named, address, bool(current), in_full,
                                         shared=shared):
            here = at_start
            seen.update(at_start)
            if _ALL_OF_THEM.search(piece) and not here and len(current) < 2:
                here = list(parts)  # "both of them": the children last named together, else all
            if not here and current and (lead := _PRONOUN_LEAD.match(piece)):
                # "Sam is back. Ellie still out. He is fine.": he is Sam when the directory
                # knows Sam is a boy and Ellie a girl
                owner, doubt = _pronoun_owner(lead.group(1), current, named, seen)
                # a doubt about whose return it is ("He came in at 9"), not whose absence ("He
                # has not come back" keeps someone open whoever he is)
                if doubt and _RETURN_WORDS.search(piece) and any(
                        a.said != "still_missing" for a in assertions(piece)):
                    for cid in owner:
                        doubts.setdefault(cid, []).append(doubt)
                here = owner
            if here:
                current = here
            if not current:
                preamble.append(piece.strip())
                continue
            for cid in current:
                parts[cid].append(piece.strip())
    return {cid: [*preamble, *lines] for cid, lines in parts.items()}, doubts, len(preamble)


def split_by_child(
    text: str, named: Sequence[DirectoryChild], sender: str | None
) -> dict[str, str]:
    """{child_id: the clauses about that child}, joined by new lines."""
    parts, _doubts, _preamble = _split(text, named, sender)
    return {cid: "\n".join(lines) for cid, lines in parts.items()}


def read_each_child(
    msg: ReadMessage,
    whole: ReportFields,
    *,
    sender: str | None,
    children: Sequence[DirectoryChild],
    tz: ZoneInfo,
    received_at: datetime,
) -> list[ChildReading] | None:
    """A reading per child when the message names two or more; None for a one-child message.

    Only children the message reports on (missing, returned, or report facts) are returned;
    "Connor settled, no issues" in a handover names Connor but reports nothing about him.
    """
    try:
        named = children_named(msg.subject, msg.text, whole, sender, children)
        if len(named) < 2:
            return None
        # the domains several placements share, of the whole directory (not of the few named)
        domains = shared_domains(children)
        split, doubts, preamble = _split(msg.text, named, sender, domains, msg.subject)
        texts = {cid: "\n".join(lines) for cid, lines in split.items()}
        in_subject = _mentions(msg.subject, named, (sender or "").lower(), domains)
        out: list[ChildReading] = []
        for child in named:
            subject = msg.subject if not in_subject or child.child_id in in_subject else ""
            own_words = "\n".join(split[child.child_id][preamble:])
            if not in_subject and not REPORTED_ON.search(own_words):
                # "Night handover - 2 YP missing ... Kacper in by 10, asleep by 11": a subject
                # that names nobody is not news of a child whose own words report nothing
                subject = ""
            # the quoted earlier message is the thread's, not this child's: its police reference
            # comes back below as a shared fact, for a child the new words report on
            own = replace(msg, text=texts[child.child_id], subject=subject, quoted_text="")
            fields = extract_fields(own, tz=tz, received_at=received_at)
            cls = classify(own, fields)
            if (cls.kind in ("info", "not_a_report") and child.child_id in in_subject
                    and _THREAD_SAYS_MISSING.match(msg.subject) and _out_or_back(own_words)
                    and not _RETURN_WORDS.search(own_words)):
                # "Re: URGENT Alfie and Lexi Quadling missing": "Lexi has just come back ...
                # Alfie is NOT with her": the thread's child with no return of their own is still
                # out (the safe state), whatever else this reply says of the other
                cls = Classification("missing", "still missing: the thread says so and this "
                                     "reply tells no return of this child", cls.doubts)
            if cls.kind not in REPORT_KINDS or (cls.kind == "info" and (
                    not fields.has_report_facts() or PRESENT.search(own.text))) or (
                    PRESENT.search(own_words) and not REPORTED_ON.search(own_words)) or (
                    _BARE_HOME.fullmatch(own_words)):
                continue  # named, but nothing reported about this child ("Con and Liyah are
                # both in their rooms": the police reference after it is the other child's)
            shared = {n: getattr(whole, n) for n in _SHARED
                      if getattr(fields, n) is None and getattr(whole, n) is not None}
            fields = replace(fields, child_id=child.child_id, **shared)
            if doubts.get(child.child_id):
                # which child a return is about is not settled: the safe state
                cls = replace(cls, kind="missing" if cls.kind == "returned" else cls.kind,
                              doubts=(*cls.doubts, *doubts[child.child_id]))
            out.append(ChildReading(child.child_id, own.text, fields, cls))
        return out
    except Exception:  # a reader must never raise: fall back to the one-child path, said aloud
        log.exception("reading each child of an email about several failed; it is read as "
                      "about one child")
        return None
