"""Who a report is about and who sent it: the child's name and ID from subject and body, the
reporter from a sign-off or display name, and a UK phone number.

Names are candidates for matching against the directory, not facts: a capitalised word at the
start of a clause is only a guess, and the stop-word list is the guard.
"""

from __future__ import annotations

import re

from mailbridge.reading.phrases import MAX_SCAN

# ---------------------------------------------------------------------------------------------
# free-text rules

_NAME_WORD = r"(?<![\w'’-])[^\W\d_][\w'’-]{0,30}(?![\w'’-])"  # whole words only: no backtracking
_NAME = rf"{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,3}}"
_STOP_WORDS = (
    """i we he she they it you our my his her their the this that there these those a an and or
    but hi hello dear morning afternoon evening good hope please thanks thank regards kind best
    police missing child children young person yp urgent report update returned return found
    re fw fwd fwd: today tonight yesterday last night monday tuesday wednesday thursday friday
    saturday sunday january february march april may june july august september october november
    december just also still then when where what who why how as at in on of to for from with
    sorry ok okay yes no not all both carer carers foster placement home house staff team duty
    social worker manager email mail call phone mobile id ref dob name subject sent date wrote
    absent awol absconded back safe well has have had is was were been being did does do will
    would can could should must mum dad mother father sister brother nan gran grandma aunt uncle
    hasnt havent didnt isnt wasnt went left gone came ran risk high medium low nothing none
    officers officer out of office automatic reply auto"""
)
_STOP = frozenset(_STOP_WORDS.split())


def _clean_name(candidate: str | None) -> str | None:
    if not candidate:
        return None
    words = [w.strip("'’-") for w in candidate.split()]
    while words and (words[0].lower() in _STOP or not words[0][:1].isupper()):
        words.pop(0)
    kept: list[str] = []
    for w in words:
        if w.lower() in _STOP or not w[:1].isupper() or len(w) > 30:
            break
        kept.append(w)
    if not kept or len(kept) > 4:
        return None
    if all(w.isupper() and len(w) > 1 for w in kept) and len(kept) == 1:
        return None  # "URGENT", "CSE"
    return " ".join(w if not w.isupper() else w.title() for w in kept)


def _strip_subject(subject: str) -> str:
    s = subject
    for _ in range(5):
        s2 = re.sub(r"^\s*(?:re|fw|fwd|aw|wg|sv)\s*(?:\[\d+\])?\s*:\s*", "", s, flags=re.IGNORECASE)
        s2 = re.sub(r"^\s*\[[^\]]*\]\s*", "", s2)
        if s2 == s:
            break
        s = s2
    return s.strip()


_SUBJ_KEY = (r"missing|absent|returned|return|found|update|report|awol|absconded|"
             r"missing from (?:care|home|placement)|is back|back home|back|has returned|safe")


def _name_from_subject(subject: str) -> str | None:
    s = _strip_subject(subject)
    s = re.sub(r"[\(\[]\s*(?:id\s*)?\d{4,9}\s*[\)\]]", " ", s, flags=re.IGNORECASE)
    s = re.sub(r"\b(?:child\s*)?id\s*:?\s*\d{4,9}\b", " ", s, flags=re.IGNORECASE)
    s = re.sub(r"\bMB-\d{4}-\d+\b", " ", s)
    s = re.sub(r"(?<![\d/])\d{5,8}(?![\d/])", " ", s)
    patterns = [
        rf"(?:{_SUBJ_KEY})\s*(?:child|young person|yp|person)?\s*(?:[:\-–—]|-\s)\s*(?P<n>{_NAME})",
        rf"(?:missing|returned|found)\s+(?!from\b|since\b|again\b|from\s)(?:child|young person|yp)?"
        rf"\s*(?P<n>{_NAME})",
        rf"(?P<n>{_NAME})\s*[:\-–—,]?\s*(?:is|has|now)?\s*(?:{_SUBJ_KEY})\b",
        rf"^\W*(?:urgent|important|re)?\W*(?P<n>{_NAME})\W*$",  # the subject is just the name
    ]
    for p in patterns:
        for m in re.finditer(p, s, re.IGNORECASE):
            name = _clean_name(m.group("n"))
            if name:
                return name
    return None


_BODY_NAME_PATTERNS = (
    rf"(?P<n>{_NAME})\s*\(\s*(?:id\s*:?\s*)?\d{{5,8}}\s*\)",
    rf"\b(?:called|named|known as)\s+(?P<n>{_NAME})",
    rf"(?:child(?:'s|s)?|young person(?:'s|s)?|yp(?:'s)?)\s+name\s*(?:is|:|-)\s*(?P<n>{_NAME})",
    rf"\b(?:foster (?:child|son|daughter|placement)|young person|child|yp|our|my)\s+"
    rf"(?P<n>{_NAME})\s+(?:\(|has|hasn|is|was|went|left|did|didn|ran|absconded|failed|never|"
    rf"came|returned|walked|got|arrived|isn|wasn|hasn't|didn't)",
    rf"(?P<n>{_NAME})\s*\(?\s*(?:dob|d\.o\.b|born|date of birth)\b",
    rf"(?:^|[.!?,;]\s+|\n)\s*(?P<n>{_NAME})(?:\s*\([^)\n]{{0,30}}\))?,?\s+"
    rf"(?:has(?:n't| not)?|is(?:n't| not)?|was(?:n't| not)?|went|left|did(?:n't| not)|ran|"
    rf"absconded|failed|never|came|returned|walked|got|arrived|still|hasnt|didnt|isnt|who)\b",
)


def _name_from_text(text: str) -> str | None:
    for p in _BODY_NAME_PATTERNS:
        for m in re.finditer(p, text[:MAX_SCAN], re.IGNORECASE | re.MULTILINE):
            name = _clean_name(m.group("n"))
            if name:
                return name
    return None


_CHILD_ID = (
    re.compile(r"\b(?:child(?:'s)?|young person(?:'s)?|yp|mosaic|lcs|client)\s*"
               r"(?:id|ref(?:erence)?|number|no\.?)\s*(?:no\.?|number|#)?\s*[:#\-]?\s*(\d{5,8})\b",
               re.IGNORECASE),
    re.compile(r"(?<![\w/-])id\s*(?:no\.?|number|#)?\s*[:#\-]?\s*(\d{5,8})\b", re.IGNORECASE),
)


def _child_id(subject: str, text: str, form_value: str | None) -> str | None:
    if form_value:
        m = re.search(r"\d{4,9}", form_value)
        if m:
            return m.group(0)
    for rx in _CHILD_ID:
        for source in (subject, text[:MAX_SCAN]):
            m = rx.search(source)
            if m:
                return m.group(1)
    m = re.search(r"[\(\[]\s*(\d{5,8})\s*[\)\]]", subject) or re.search(
        r"[\(\[]\s*(\d{6})\s*[\)\]]", text[:MAX_SCAN])
    if m:
        return m.group(1)
    bare = re.findall(r"(?<![\d/.:-])(\d{6})(?![\d/.:-])", _strip_subject(subject))
    if len(bare) == 1 and not re.search(r"\b(?:log|cad|ref|crime|incident)\b", subject, re.I):
        return str(bare[0])
    return None


_PHONE = re.compile(r"(?<![\d+])(?:\+44\s?\(?0?\)?\s?|\(?0)\d(?:[\s-]?\(?\)?\d){8,9}(?!\d)")


def _phone(text: str) -> str | None:
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if digits.startswith("44"):
            digits = "0" + digits[2:].lstrip("0")
        if len(digits) in (10, 11) and digits.startswith("0"):
            return re.sub(r"\s+", " ", m.group(0)).strip()
    return None


_SIGNOFF = re.compile(
    r"^\s*(?:many\s+thanks|thanks(?:\s+again)?|thank\s+you|kind\s+regards|best\s+regards|"
    r"warm\s+regards|regards|best\s+wishes|best|cheers|yours\s+sincerely|yours\s+faithfully|"
    r"thx|ta|speak\s+soon|with\s+thanks|take\s+care|merry\s+christmas|happy\s+christmas|"
    r"happy\s+new\s+year|season'?s\s+greetings|have\s+a\s+(?:good|nice|lovely)\s+\w+)\s*[,.!]*\s*"
    r"(?P<same>[^\W\d_][\w'’ -]{0,40}(?:\s*\([^()\n]{0,40}\))?)?$",
    re.IGNORECASE | re.MULTILINE,
)


def _reporter_from_signoff(text: str) -> str | None:
    """The name on or after a closing word ("Thanks, Bev (night staff)", "Regards" over a role
    line and then "Liam Ferris", "Kind regards," over a "--" separator)."""
    lines = text[:MAX_SCAN].split("\n")
    for i, line in enumerate(lines):
        m = _SIGNOFF.match(line)
        if not m:
            continue
        if m.group("same"):
            name = _person_in(m.group("same"), alone=True)
            if name:
                return name
        tried = 0
        for nxt in lines[i + 1 : i + 7]:
            if not nxt.strip() or _SIG_SEPARATOR.match(nxt):
                continue
            name = _person_in(nxt.strip(), alone=True)
            if name:
                return name
            tried += 1
            if tried == 2:
                break
    return None


def is_team_name(name: str | None) -> bool:
    """"Ashgrove Nights", "Willow Court Support": a shared mailbox's name, not a person's."""
    words = [w.lower().strip(".'") for w in (name or "").split()]
    return any(w in _ROLE_WORDS for w in words)


def _last_block(text: str) -> tuple[list[str], list[str]]:
    """(the email's lines, its last block of non-blank lines), the phone's own "Sent from my
    iPhone" left out: where a signature is."""
    lines = [line.strip() for line in text[:MAX_SCAN].rstrip().split("\n")]
    for _ in range(4):
        while lines and (not lines[-1] or _DEVICE_LINE.match(lines[-1])):
            lines.pop()
        block: list[str] = []
        for line in reversed(lines):
            if not line:
                break
            block.insert(0, line)
        if len(block) < len(lines) and (_LEGAL_FOOTER.search(" ".join(block))
                                        or all(_CONTACT_LINE.match(line) for line in block)):
            # a disclaimer under the signature ("This email and any files transmitted with it
            # are confidential ..."), or the contact lines set apart below it ("Email: ..."):
            # the name is in the block above
            del lines[len(lines) - len(block):]
            continue
        break
    return lines, block


# the firm's small print under a signature
_LEGAL_FOOTER = re.compile(
    r"\b(?:confidential(?:ity)?|intended\s+(?:solely|only)\s+for|privileged|if\s+you\s+have\s+"
    r"received\s+this|disclaimer|views\s+(?:or\s+opinions\s+)?expressed|registered\s+(?:in\s+"
    r"england|office|company|charity|with\s+ofsted)|company\s+(?:registration|no\.?|number)|"
    r"think\s+before\s+you\s+print|scanned\s+for\s+viruses|intended\s+recipient|"
    r"official[\s-]+sensitive|monitor(?:s|ed)?\s+(?:all\s+)?e-?mail|"
    # "OFFICIAL. This email is intended for the named recipient only."
    r"intended\s+for\s+the\s+(?:named\s+)?(?:recipient|addressee)s?)\b",
    re.IGNORECASE,
)


def first_name_signed(text: str) -> str | None:
    """A first name alone at the foot of the email ("Dev", or "Dev" over "Night waking staff"),
    for mail from a shared mailbox whose own name is a team's: the person on shift who wrote it."""
    lines, block = _last_block(text)
    dashed = _NAME_DASH_ROLE.match(block[-1]) if block else None
    if dashed and len(lines) > 1:
        return dashed.group(1)  # "Jo - nights" as the email's last line
    if not 1 <= len(block) <= 2 or len(lines) <= len(block):
        return None
    if len(block) == 2 and not ({w.lower().strip(".,") for w in re.split(r"[\s,/-]+", block[1])}
                                & (_ROLE_WORDS | _JOB_WORDS)):
        return None  # the line under the name must be a role ("Night waking staff")
    name = block[0].rstrip(".,!")
    if (re.fullmatch(r"[A-Z][a-z'’]{1,14}(?:-[A-Z][a-z]{1,14})?", name)
            and name.lower() not in _ROLE_WORDS and not _SIGNOFF.match(name)
            and name.lower() not in _NOT_NAMES):
        return name
    return None


def signed_in_full(first: str, text: str, from_name: str | None, from_addr: str | None) -> str:
    """A first name signed alone ("Nathan", "Des"), named in full where the email itself says
    who that is: the sender's display name ("Thanks, Alison" from "Alison Colquhoun"), the
    signature block under it ("Nathan" over "Nathan Coupe / Shift Leader"), or the sender's own
    address (``des.mulcahy@…``). A different first name never widens; nor does a team's name."""
    key = first.strip().casefold()
    if not key or " " in key:
        return first
    shown = _display_name(from_name)
    if (shown and not is_team_name(shown) and len(shown.split()) >= 2
            and shown.split()[0].casefold() == key):
        return shown
    lines = [line.strip() for line in text[:MAX_SCAN].split("\n")]
    signed = [i for i, line in enumerate(lines) if line.rstrip(".,!").casefold() == key]
    if signed:
        following = [line for line in lines[signed[-1] + 1 :] if line][:3]
        for line in following:
            m = _FULL_NAME_LINE.fullmatch(line)
            if m and m.group(1).casefold() == key and not is_team_name(line):
                return line
    local = (from_addr or "").partition("@")[0].casefold()
    parts = re.split(r"[._]", local)
    if (len(parts) == 2 and parts[0] == key and re.fullmatch(r"[a-z][a-z'-]{1,24}", parts[1])
            and parts[1].rstrip("-") == parts[1]):
        return f"{first.strip()} {parts[1].title()}"
    return first


# "Nathan Coupe", "Stacey-Jo Fenwick", "Anwen ap Rhys": a name alone on a signature line
_FULL_NAME_LINE = re.compile(
    r"([A-Z][a-z'’]{1,14}(?:-[A-Z][a-z]{1,14})?)\s+(?:(?:van|de|ap|le|la|o')\s*)?"
    r"[A-Z][A-Za-z'’]{1,24}(?:-[A-Z][a-z]{1,24})?"
)


# a contact line at the foot of a signature: a phone number, an address, a web page
_CONTACT_LINE = re.compile(
    r"^\s*(?:(?:tel|telephone|phone|mob|mobile|m|t|e|e-?mail|direct|office|fax|out\s+of\s+hours|ooh|"
    r"(?:24\s*(?:hr|hour)\s+|duty\s+|on-?call\s+|help)?line|switchboard)\b\.?\s*"
    r"[:.]?\s*)?(?:\+?[\d ()-]{9,}|[\w.+-]+@[\w.-]+|(?:https?://|www\.)\S+)(?:\s*[|,]\s*.{0,60})?\.?$",
    re.IGNORECASE)

_NAME_DASH_ROLE = re.compile(r"^([A-Z][a-z'’]{1,14})\s*(?:-|–|,|/)\s*((?:waking\s+|sleep-?in\s+)?"
                             r"(?:nights?|night\s+staff|days?|rsw|staff|duty|on\s+shift|"
                             r"night\s+worker|support\s+worker|carer))\.?$", re.IGNORECASE)

_NOT_NAMES = frozenset({"thanks", "thank", "regards", "cheers", "best", "ta", "thx", "sorry",
                        "urgent", "update", "police", "monday", "tuesday", "wednesday",
                        "thursday", "friday", "saturday", "sunday", "today", "tonight", "x", "xx"})


def reporter_from_signature(quoted: str) -> str | None:
    """The name at the top of a "-- " signature block, which reading set apart from the new
    text with the quotes: "--" then "Priya Sandhu" then "Supervising Social Worker (Duty)"."""
    lines = quoted[:MAX_SCAN].split("\n")
    if not lines or not _SIG_SEPARATOR.match(lines[0]):
        return None
    for line in [x.strip() for x in lines[1:6] if x.strip()][:3]:
        name = _person_in(line)
        if name is not None:
            return name
    return None


_SIG_SEPARATOR = re.compile(r"^\s*(?:--\s*|—|_{3,}|-{3,})\s*$")
# the phone's own line under a message: "Sent from my iPhone", "Get Outlook for Android"
_DEVICE_LINE = re.compile(r"^\s*(?:sent\s+from\s+my\b|sent\s+from\s+(?:outlook|mail)\s+for\b|"
                          r"get\s+outlook\s+for\b|sent\s+via\b)", re.IGNORECASE)
# where a signature line puts a role beside the name: "Senior RSW - Darren Kellett",
# "Support Worker: Aisha Begum", "Res Support Worker | Glenview"
_SIG_PIECES = re.compile(r"\s*(?:\||\s[-–—]\s|:|,|\t)\s*")


# words of a job, not a place, that may follow a first name: "Agnieszka night worker"
_JOB_WORDS = frozenset({
    "night", "nights", "day", "days", "worker", "staff", "carer", "rsw", "manager", "support",
    "waking", "relief", "duty", "senior", "deputy", "officer", "key", "keyworker", "team",
    "leader", "lead", "residential", "sw"})


def _person_in(line: str, *, alone: bool = False) -> str | None:
    """A person's name in one signature line, beside a role or a place, else None. A single
    word counts after a closing word (``alone``) or with a role in brackets ("Tom (waking
    nights)"); otherwise a name is two or three capitalised words."""
    # a police officer signs with rank and collar number: "PC 2231 Hannah Lowe"
    line = re.sub(r"^\s*(?:A/|T/)?(?:PCSO|PC|PS|DC|DS|DI|DCI|Sgt\.?|Sergeant|Insp\.?|Inspector|"
                  r"Constable)\s+(?:\d{2,6}\s+)?(?=[A-Z])", "", line)
    role = re.search(r"\(([^()]{1,40})\)", line)
    with_role = bool(role and {w.lower().strip(".'") for w in role.group(1).split()} & _ROLE_WORDS)
    line = re.sub(r"\s*\([^()]*\)", "", line)
    for piece in _SIG_PIECES.split(line):
        words = piece.split()
        if (len(words) >= 2 and words[0][:1].isupper() and words[0].isalpha()
                and words[0].lower() not in _ROLE_WORDS
                and all(w.lower() in _JOB_WORDS for w in words[1:])):
            words, with_role = words[:1], True  # "Agnieszka night worker"
        name = _clean_reporter(" ".join(words))
        if name is None:
            continue
        words = [w.lower().strip(".'") for w in name.split()]
        if any(w in _ROLE_WORDS for w in words):
            continue
        if len(words) >= 2 or alone or with_role:
            return name
    return None


# words that make a closing line a place, a team or a job, not a person: "Glenview Children's
# Home", "Team Leader, Ashgrove", "Cedar Lodge Nights"
_NOT_A_PERSON = frozenset({
    "house", "home", "homes", "team", "staff", "night", "nights", "day", "days", "duty", "office",
    "fostering", "foster", "care", "carers", "council", "services", "service", "support", "lodge",
    "court", "view", "lane", "manager", "leader", "worker", "officer", "ltd", "limited", "agency",
    "children's", "childrens", "residential", "unit", "shift", "north", "south", "east", "west",
    "social", "placement", "placements", "hall", "farm", "road", "street", "close", "the", "and",
    "of"})


def _reporter_from_last_lines(text: str) -> str | None:
    """A name signed with no closing word, in the email's last short block (the phone's "Sent
    from my iPhone" left out): "Nick Osei" above "Glenview Children's Home", "Sean McCarthy
    (RSW)" below "Nights - Ashgrove", "Support Worker: Aisha Begum"."""
    lines, block = _last_block(text)
    while len(block) > 1 and _CONTACT_LINE.match(block[-1]):
        block = block[:-1]  # "01632 960 418", "Tel: ...", an address under the name
    # a signature of short lines may run to five: "DC Aaron Fletcher / Missing Persons Unit /
    # Central South BCU / Metropolitan Police Service"
    card = 3 < len(block) <= 5 and all(len(line) <= 45 for line in block)
    if not block or len(lines) < 2 or (len(block) > 3 and len(lines) > len(block) and not card):
        return None
    for signed in block if card else block[-3:]:
        # "Handover completed by: Wes Okonjo", "Written by Ann Lee"
        line = re.sub(r"^[\w ]{0,25}?\b(?:completed|written|reported|prepared|signed|submitted)"
                      r"\s+by\s*:?\s*", "", signed, flags=re.IGNORECASE)
        name = _person_in(line)
        if name is not None and len(name.split()) <= 3:
            return name
    return None


_ROLE_WORDS = _NOT_A_PERSON | frozenset({
    "rsw", "senior", "deputy", "carer", "sw", "keyworker", "key", "lead", "practitioner",
    "coordinator", "co-ordinator", "assistant", "nurse", "warden", "host", "relief", "waking",
    "res", "rcw", "csw", "tsw", "pcso"})


# a kinship carer's relation to the child, written beside the name: "Brenda Allonby (nana)"
_KIN_WORDS = frozenset({
    "nan", "nana", "nanna", "gran", "granny", "grandma", "grandmother", "grandad", "grandpa",
    "grandfather", "grandparent", "grandparents", "aunt", "auntie", "aunty", "uncle", "mum",
    "dad", "mother", "father", "stepmum", "stepdad", "sister", "brother", "cousin", "kinship"})


def name_without_role(value: str) -> str:
    """"Marcia Thompson, Senior RSW" -> "Marcia Thompson": a form's "Reported by" often carries
    the writer's job after a comma, a dash or in brackets; a name with no role is kept whole."""
    m = re.match(r"\s*(?P<name>[^,(]+?)\s*(?:,|\(|\s[-–]\s)\s*(?P<role>.+)$", value)
    if m and {w.lower().strip(".()'") for w in re.split(r"[\s/]+", m["role"])} & (
            _ROLE_WORDS | _KIN_WORDS):
        return m["name"]
    return value.strip()


def _clean_reporter(value: str) -> str | None:
    value = re.sub(r"\s*[\(,].*$", "", value.strip())
    # a title, or a police rank before the name: "DC Aaron Fletcher", "PS 1234 Jo Hart"
    value = re.sub(r"^(?:mrs|mr|ms|miss|mx|dr|pc|dc|ds|ps|di|dci|sgt|insp|det|pcso)\.?\s+"
                   r"(?:\d{2,6}\s+)?(?=\S+\s+\S)", "", value, flags=re.IGNORECASE)
    words = value.split()
    if not 1 <= len(words) <= 4 or not all(w[:1].isupper() for w in words):
        return None
    if any(w.lower() in {"police", "missing", "urgent", "sent", "from"} for w in words):
        return None
    return value


def _display_name(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().strip('"')
    if "," in name:  # "Carter, Sue" from Outlook address books
        last, _, first = name.partition(",")
        name = f"{first.strip()} {last.strip()}"
    if name.islower() and re.fullmatch(r"[a-z'-]+(?:\s+[a-z'-]+){1,3}", name):
        name = name.title()  # "brenda shipley", as a phone's mail app was set up
    return _clean_reporter(name)
