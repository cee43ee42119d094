"""Which child a report is about, in order of trust, or honestly nobody.

Confusing two children is worse than matching none: any doubt gives an unmatched episode,
which the duty desk sees at once.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from email.utils import parseaddr
from typing import Protocol

from mailbridge.reading.fields import ReportFields
from mailbridge.reading.times import parse_date_only


class DirectoryChild(Protocol):
    @property
    def child_id(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def date_of_birth(self) -> date | None: ...
    @property
    def placement_name(self) -> str | None: ...
    @property
    def carer_emails(self) -> Sequence[str]: ...


def known_as(child: DirectoryChild) -> tuple[str, ...]:
    """The names the child goes by (the directory's optional known_as column), if any."""
    names = getattr(child, "known_as", ())
    return tuple(names) if isinstance(names, tuple | list) else ()


def full_names(child: DirectoryChild) -> list[str]:
    """Folded full names: "first last" and each known-as name with the surname."""
    return list(_folded(child.first_name, child.last_name, known_as(child))[0])


def given_names(child: DirectoryChild) -> list[str]:
    """Folded names used alone at home: the first name and the known-as names."""
    return list(_folded(child.first_name, child.last_name, known_as(child))[1])


@functools.lru_cache(maxsize=100_000)
def _folded(first: str, last: str, known: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """(full names, given names) folded once per name, not once per report: a directory of
    thousands of children is matched against every report."""
    full = [fold(f"{first} {last}")] + [fold(f"{n} {last}") for n in known if len(n) > 1]
    given = [fold(first)] + [fold(n) for n in known]
    return (tuple(n for n in dict.fromkeys(full) if n),
            tuple(n for n in dict.fromkeys(given) if len(n) > 1))


def named_candidates(
    children: Sequence[DirectoryChild], words: frozenset[str], *, given: bool = False
) -> list[DirectoryChild]:
    """The children, in directory order, for whom ``may_name`` holds: found through the
    directory's word index (``_index``), so a report costs the words it holds, not a subset test
    for each of thousands of children."""
    index = _index(children)
    table = index.given_word if given else index.full_word
    hits = sorted({i for w in words & table.keys() for i in table[w]})
    return [children[i] for i in hits if may_name(children[i], words, given=given)]


@dataclass(frozen=True)
class _DirectoryIndex:
    """One directory's first word of every name -> the positions of the children who bear it,
    and its ``shared_domains``. Holds the children themselves, so the ids that key the cache
    stay theirs while the entry lives (the records are frozen: the index cannot go stale)."""

    children: tuple[DirectoryChild, ...]
    full_word: dict[str, tuple[int, ...]]
    given_word: dict[str, tuple[int, ...]]
    shared: frozenset[str]


_INDEXES: dict[tuple[int, ...], _DirectoryIndex] = {}
_INDEXES_KEPT = 4


def _index(children: Sequence[DirectoryChild]) -> _DirectoryIndex:
    """The index of ``children``, built once per directory snapshot (processing loads one per
    report and reads it several times; the accuracy corpus reads one for every report)."""
    key = tuple(map(id, children))
    found = _INDEXES.get(key)
    if found is not None:
        return found
    full: dict[str, list[int]] = {}
    alone: dict[str, list[int]] = {}
    for i, c in enumerate(children):
        full_sets, given_sets = _name_words(c.first_name, c.last_name, known_as(c))
        for table, sets in ((full, full_sets), (alone, given_sets)):
            for first in {min(s) for s in sets if s}:
                table.setdefault(first, []).append(i)
    built = _DirectoryIndex(
        tuple(children),
        {w: tuple(v) for w, v in full.items()},
        {w: tuple(v) for w, v in alone.items()},
        _shared_domains(children),
    )
    while len(_INDEXES) >= _INDEXES_KEPT:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[key] = built
    return built


def may_name(child: DirectoryChild, words: frozenset[str], *, given: bool = False) -> bool:
    """Whether every word of one of the child's full (or, with ``given``, given) names is among
    ``words``, the folded words of a text: a set lookup that spares the text search for the
    thousands of children a report does not name."""
    full, alone = _name_words(child.first_name, child.last_name, known_as(child))
    return any(name <= words for name in (alone if given else full))


@functools.lru_cache(maxsize=100_000)
def _name_words(first: str, last: str, known: tuple[str, ...]) -> tuple[
        tuple[frozenset[str], ...], tuple[frozenset[str], ...]]:
    """The words of each name of ``_folded``, as sets, for ``may_name``'s subset test."""
    full, alone = _folded(first, last, known)
    return tuple(frozenset(n.split()) for n in full), tuple(frozenset(n.split()) for n in alone)


_INITIALS = re.compile(r"(?<![\w.])([A-Z])\.?\s?([A-Z])\.?(?![\w])")


# initials with the date of birth right after them: "E.O. (30/01/2013)", "K.M., DOB 02/09/2012"
_INITIALS_DATE = re.compile(
    r"(?<![\w.])([A-Z])\.?\s?([A-Z])\.?(?!\w)\s*[,(\-]?\s*(?:d\.?o\.?b\.?\s*:?\s*|born\s+)?"
    r"(\d{1,2}[/.]\d{1,2}[/.]\d{2,4})"
)


def initials_dated(
    text: str, children: Sequence[DirectoryChild]
) -> list[tuple[int, int, DirectoryChild]]:
    """(start, end, child) for each "K.M. (02/09/2012)" in ``text`` that fits one child."""
    out = []
    for m in _INITIALS_DATE.finditer(text[:20_000]):
        dob = parse_date_only(m.group(3))
        for c in initials_with_dob(f"{m.group(1)}.{m.group(2)}.", dob, children):
            out.append((m.start(), m.end(), c))
    return out


def initials_with_dob(text: str, dob: date | None, children: Sequence[DirectoryChild]) -> list[
        DirectoryChild]:
    """Children whose initials ("K.M.", "KM") are in ``text`` and whose date of birth is ``dob``."""
    if dob is None:
        return []
    pairs = {(m.group(1), m.group(2)) for m in _INITIALS.finditer(text[:20_000])}
    out = []
    for c in children:
        if c.date_of_birth != dob or not c.first_name or not c.last_name:
            continue
        firsts = {fold(c.first_name)[:1].upper()} | {fold(n)[:1].upper() for n in known_as(c)}
        if any(a in firsts and b == fold(c.last_name)[:1].upper() for a, b in pairs):
            out.append(c)
    return out


# two capitals that are a word of the trade, not a child: "SW and EDT informed", "YP"
_NOT_INITIALS = frozenset({"SW", "YP", "PC", "DC", "DS", "DI", "GP", "MP", "TV", "UK", "AM", "PM",
                           "ID", "OK", "RE", "FW", "CC", "NB", "PS", "SS", "TM", "IT", "HR", "KS",
                           "LA", "CP", "CE", "AE", "BT", "NI", "SG", "RM", "SM", "CT", "NA", "TL"})


def _initials_at_home(text: str, at_home: Sequence[DirectoryChild]) -> list[DirectoryChild]:
    """The children of the sender's placement whose initials the text writes ("JW", "K.M.")."""
    pairs = {(m.group(1), m.group(2)) for m in _INITIALS.finditer(text[:20_000])
             if m.group(1) + m.group(2) not in _NOT_INITIALS}
    if not pairs:
        return []
    return [c for c in at_home if c.first_name and c.last_name and any(
        a == fold(c.first_name)[:1].upper() and b == fold(c.last_name)[:1].upper()
        for a, b in pairs)]


@dataclass(frozen=True)
class Match:
    child_id: str | None
    method: str  # child_id, name_dob, full_name, initials_dob, first_name_placement, dob_placement,
    # initials_placement, ambiguous, none (processing adds named_among_several)
    confidence: float
    note: str


NO_MATCH = Match(None, "none", 0.0, "no child in the directory matches this report")


def fold(text: str) -> str:
    """Accents and case ignored: 'Chloé' is 'chloe'; punctuation becomes space."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare.casefold()).split())


def _has_words(haystack: str, words: str) -> bool:
    return bool(words) and f" {words} " in f" {haystack} "


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9][A-Za-z0-9_\-]*", text))


def match_child(
    *,
    subject: str,
    text: str,
    fields: ReportFields,
    sender: str | None,
    children: Sequence[DirectoryChild],
    forwarded_from: str | None = None,
) -> Match:
    """The one directory child the report is about, or why none (see the README's table).

    ``forwarded_from`` is the author of a forwarded report ("Fwd: Harvey home" from the duty
    desk, the carer's email attached): a first name counts when either address is a carer's.
    """
    by_id = {c.child_id: c for c in children}
    tokens = _tokens(subject) | _tokens(text)
    if fields.child_id:
        tokens.add(fields.child_id)
    ids = sorted(t for t in tokens if t in by_id)
    haystack = fold(f"{subject}\n{text}\n{fields.full_name or ''}")
    words = frozenset(haystack.split())
    named = [c for c in named_candidates(children, words)
             if any(_has_words(haystack, n) for n in full_names(c))]

    if len(ids) > 1:
        return Match(
            None, "ambiguous", 0.0, f"the report names several child IDs: {', '.join(ids)}"
        )
    if ids:
        child = by_id[ids[0]]
        others = [c for c in named if c.child_id != child.child_id]
        if others and child not in named:
            return Match(
                None,
                "ambiguous",
                0.0,
                f"child ID {child.child_id} and the name given belong to different children",
            )
        given = fold(fields.full_name or "")
        if (
            len(given.split()) > 1
            and given != fold(f"{child.first_name} {child.last_name}")
            and not _has_words(haystack, fold(child.first_name))
        ):
            # "Tyler Brooks (ID 100240)" when 100240 is Alex Morgan: a mistyped ID or a child
            # missing from the directory; either way not Alex's episode.
            return Match(
                None,
                "ambiguous",
                0.0,
                f"child ID {child.child_id} is not the child named in the report",
            )
        return Match(child.child_id, "child_id", 1.0, f"child ID {child.child_id} in the report")

    if named:
        if fields.date_of_birth is not None:
            with_dob = [c for c in named if c.date_of_birth == fields.date_of_birth]
            if len(with_dob) == 1:
                return Match(with_dob[0].child_id, "name_dob", 0.95, "full name and date of birth")
            if not with_dob:
                return Match(
                    None,
                    "ambiguous",
                    0.0,
                    "a directory name matches but the date of birth does not",
                )
        if len(named) == 1:
            return Match(named[0].child_id, "full_name", 0.8, "full name")
        return Match(
            None, "ambiguous", 0.0, f"{len(named)} children in the directory share the name given"
        )

    by_initials = initials_with_dob(f"{subject}\n{text}", fields.date_of_birth, children)
    if not by_initials:  # "M.A. (09/10/2010) - missing from placement": no DOB label
        dated = {c.child_id: c for _s, _e, c in initials_dated(f"{subject}\n{text}", children)}
        by_initials = list(dated.values())
    if len(by_initials) == 1:
        return Match(by_initials[0].child_id, "initials_dob", 0.9, "initials and date of birth")
    found = _by_first_name_at_sender_placement(haystack, fields, sender, children,
                                               f"{subject}\n{text}")
    if found is NO_MATCH and forwarded_from and forwarded_from.lower() != (sender or "").lower():
        return _by_first_name_at_sender_placement(haystack, fields, forwarded_from, children,
                                                  f"{subject}\n{text}")
    return found


# a child said only to be where they should be: "Ruby is in bed", "KL was in all night"
PRESENT = re.compile(
    r"(?:\b(?:is|are|was|were|has\s+been|have\s+been)|'s|'re|'s\s+been|'ve\s+been)\s+(?:both\s+|all\s+|still\s+|safely\s+)?"
    r"(?:(?:fine|ok|okay|well|safe|settled|calm)\s+and\s+)?"
    r"(?:in\s+(?:their|his|her)\s+(?:own\s+)?(?:rooms?|beds?)|accounted\s+for|in\s+bed|asleep|"
    r"in\s+the\s+(?:home|house|building)|(?:here\s+|at\s+home\s+)?with\s+(?:me|us)(?:\s+in\s+the\s+"
    r"car)?(?:\s+the\s+whole\s+time|\s+all\s+(?:night|evening|day))?(?=\s*(?:[.!,]|$))|"
    r"(?:at\s+)?home\s+with\s+(?:me|us)\b|here\s+with\s+(?:me|us)\b|"
    r"in\s+all\s+(?:night|evening|day)\b|(?:in|back)\s+and\s+settled\b|settled\s+(?:in\s+bed|"
    r"and\s+asleep)\b)|\b(?:in|back)\s+and\s+settled\b", re.IGNORECASE | re.MULTILINE)

# a child's own clauses that report an absence or a return (not "Ruby is in bed")
REPORTED_ON = re.compile(r"\b(?:missing|not\s+back|hasn't|has\s+not|not\s+come|out\b|gone|left|"
                          r"ran|back\b|returned|came\s+(?:in|home|back)|walked\s+in|found|"
                          r"located|police|last\s+seen)", re.IGNORECASE)

def _only_said_to_be_home(text: str, child: DirectoryChild) -> bool:
    """Every sentence that names the child says only where they are ("KL was in all night and
    is fine"): the email is about someone else."""
    if not text:
        return False
    names = [re.escape(n) for n in given_names(child)]
    if not names:
        return False
    said = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text[:20_000])
            if re.search(rf"\b(?:{'|'.join(names)})\b", fold(s))]
    return bool(said) and all(PRESENT.search(s) and not REPORTED_ON.search(s) for s in said)


def _one_letter_off(text: str, at_home: Sequence[DirectoryChild]) -> DirectoryChild | None:
    """The one child at the sender's placement whose given name (five letters or more) a
    capitalised word of the email misses by one letter after the first ("Jasmin" for Jasmine,
    "Kennzie" for Kenzie), when no word is any child's name there and no other child's name is
    as close ("place" is not "Grace")."""
    names = {n: c for c in at_home for n in given_names(c) if len(n) >= 5 and " " not in n}
    words = {fold(w) for w in re.findall(r"\b[A-Z][a-z'’-]{3,}\b", text[:20_000])}
    hits = {c.child_id: c for w in words if w not in names
            for n, c in names.items() if w[0] == n[0] and _one_edit(w, n)}
    return next(iter(hits.values())) if len(hits) == 1 else None


def _one_edit(a: str, b: str) -> bool:
    """One letter added, dropped, changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _by_first_name_at_sender_placement(
    haystack: str, fields: ReportFields, sender: str | None, children: Sequence[DirectoryChild],
    text: str = "",
) -> Match:
    if not sender:
        return NO_MATCH
    # a forward's author as its header wrote it: "Sharon Hume <sharon.hume@mailbox.example>"
    address = (parseaddr(sender)[1] or sender).lower()
    placements = {c.placement_name for c in children if address in _lower(c.carer_emails)}
    via = "a carer address of the child's placement"
    if not placements:
        # a member of a home's staff writing from their own address at the home's domain
        shared = shared_domains(children)
        placements = {c.placement_name for c in children
                      if writes_for_placement(c, address, shared)}
        via = "the domain of the child's placement's addresses"
    if not placements:
        return NO_MATCH
    at_home = [c for c in children if c.placement_name in placements]
    first = fold(fields.first_name or "")
    candidates = [
        c
        for c in at_home
        if ((first and first in given_names(c)) or any(_has_words(haystack, n)
                                                       for n in given_names(c)))
        and not _only_said_to_be_home(text, c)
    ]
    typo = _one_letter_off(text, at_home)
    if len(candidates) == 1 and typo is not None and typo.child_id != candidates[0].child_id:
        # "Kennzie came in at twenty to one ... Ethan was asleep": the name one letter off may
        # be the child the email is about, not the sibling named right
        return Match(None, "ambiguous", 0.0, f"{candidates[0].first_name} is named, and a name "
                     f"one letter off {typo.first_name}'s")
    if len(candidates) == 1:
        child = candidates[0]
        return Match(
            child.child_id,
            "first_name_placement",
            0.7,
            f"first name, sent from {via}",
        )
    if len(candidates) > 1:
        return Match(
            None,
            "ambiguous",
            0.0,
            f"{len(candidates)} children at the sender's placement match the name given",
        )
    by_initials = _initials_at_home(text, at_home)
    if len(by_initials) == 1:
        # "JW came back to Larkspur at about 10.30": homes write initials for the children
        return Match(by_initials[0].child_id, "initials_placement", 0.65,
                     f"initials, sent from {via}")
    if typo is not None:
        return Match(typo.child_id, "first_name_typo", 0.6,
                     f"a first name one letter off, sent from {via}")
    if fields.date_of_birth is not None and not fields.first_name:
        # "Young person (DOB 19/12/2008) is back": no name, but the date of birth of one child
        # at the sender's own placement
        born = [c for c in at_home if c.date_of_birth == fields.date_of_birth]
        if len(born) == 1:
            return Match(born[0].child_id, "dob_placement", 0.7,
                         f"date of birth, sent from {via}")
    return NO_MATCH


def _lower(values: Iterable[str]) -> set[str]:
    return {v.lower() for v in values}


# Mailboxes anyone can have: a domain here says nothing about where the sender works. The
# example.com/.net/.org names stand for such personal mailboxes in examples and test reports.
_PUBLIC_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com", "live.com",
    "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com",
    "mac.com", "aol.com", "aol.co.uk", "btinternet.com", "btopenworld.com", "sky.com",
    "virginmedia.com", "ntlworld.com", "talktalk.net", "tiscali.co.uk", "blueyonder.co.uk",
    "protonmail.com", "proton.me", "gmx.com", "gmx.co.uk", "mail.com", "zoho.com", "yandex.com",
    "example.com", "example.net", "example.org", "example.co.uk", "example.org.uk",
})


def writes_for_placement(
    child: DirectoryChild, address: str, shared: frozenset[str] = frozenset()
) -> bool:
    """The sender is a carer of the child's placement, or writes from that placement's own
    domain (a home's staff member from their own address: "m.zielinski@westburycourt..." when
    the home's addresses are office@ and nights@ there). Never for a public mailbox domain, nor
    for a domain ``shared`` by several placements (a council's own homes write from the
    council's domain, and so does its duty team: ``shared_domains``)."""
    address = address.strip().lower()
    if not address or "@" not in address:
        return False
    emails = _lower(child.carer_emails)
    if address in emails:
        return True
    domain = address.rpartition("@")[2]
    return (domain not in _PUBLIC_DOMAINS and domain not in shared
            and any(e.rpartition("@")[2] == domain for e in emails))


def shared_domains(children: Sequence[DirectoryChild]) -> frozenset[str]:
    """The domains of carer addresses that more than one placement uses: no home's own."""
    return _index(children).shared


def _shared_domains(children: Sequence[DirectoryChild]) -> frozenset[str]:
    seen: dict[str, str] = {}
    shared: set[str] = set()
    for c in children:
        place = c.placement_name or ""
        for e in c.carer_emails:
            domain = e.strip().lower().rpartition("@")[2]
            if seen.setdefault(domain, place) != place:
                shared.add(domain)
    return frozenset(shared)
