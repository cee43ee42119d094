"""Is the sender who the From header says? Evidence from our upstream mail server, or DKIM.

Anyone can write any From address, and anyone can write an ``Authentication-Results`` header
into the mail they send. So only the header that our own upstream MTA adds counts, and only one:
the TOPMOST ``Authentication-Results`` header whose authserv-id is in ``trust.authserv_ids``.
Headers are prepended on the way, so the upstream's is above anything the sender wrote; a
forged header carrying our upstream's id sits below it and is never read. Headers with any other
authserv-id are skipped. (When the upstream stamps nothing, the topmost trusted header may be a
forgery: the upstream must stamp every message, and should remove incoming headers that carry
its id, RFC 8601 section 5. docs/trust.md.)

From that one header the sender is verified when, for the single From address:

- ``dmarc=pass`` (and any ``header.from`` is the From domain), or
- ``dkim=pass`` with ``header.d`` (else the domain of ``header.i``) *aligned*, or
- ``spf=pass`` with the domain of ``smtp.mailfrom`` aligned,

unless the same header says ``dmarc=fail``. Aligned means the From domain itself or a parent
domain of it (d=council.example for carer@mail.council.example), never a sibling or a child:
whoever holds a parent zone holds the From domain, so no public-suffix list is needed.

With ``trust.dkim_verify`` the DKIM signatures (the first three) are also verified here with
dkimpy; one that is valid, signs the From header, has no ``l=`` (a length limit would let text
be appended) and is aligned verifies the sender too. Only that path does I/O (DNS TXT lookups,
through the injectable ``dnsfunc``), and ``assess`` runs outside any transaction.
"""

from __future__ import annotations

import email.policy
import email.utils
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

import authres
import dkim

__all__ = ["NOT_CHECKED", "DnsFunc", "Verdict", "aligned", "assess", "trusted_results"]

log = logging.getLogger(__name__)

DnsFunc = Callable[..., bytes | None]
MAX_SIGNATURES = 3  # DKIM signatures verified per message: each may cost a DNS lookup
MAX_HEADER = 8000  # characters of one Authentication-Results header read
MAX_REASON = 300  # a reason quotes header values: keep what reaches an alert short
DNS_TIMEOUT = 5
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class Verdict:
    """Whether the sender is verified, by what, and why, in words fit for an alert."""

    verified: bool
    method: str | None  # "dmarc", "dkim", "spf", "dkim (checked here)"; None when not verified
    reason: str


NOT_CHECKED = Verdict(False, None, "the sender was not checked")


def aligned(domain: str | None, from_domain: str) -> bool:
    """``domain`` is ``from_domain`` or a parent of it, and is more than a bare top level."""
    if not domain:
        return False
    d = domain.strip().strip(".").lower()
    f = from_domain.strip().strip(".").lower()
    if "." not in d or not f:
        return False
    return f == d or f.endswith("." + d)


def _domain_of(value: str | None) -> str | None:
    if not value:
        return None
    return value.strip().rpartition("@")[2].strip().strip("<>").lower() or None


def _headers(raw: bytes) -> Message:
    found = _HEADER_END.search(raw)
    head = raw[: found.end()] if found is not None else raw
    return BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)


def _from_domain(head: Message) -> tuple[str | None, str | None]:
    """(domain of the single From address, problem). Several From addresses verify nothing."""
    values = [str(v) for v in head.get_all("From") or []]
    if not values:
        return None, "no From address"
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        pairs = []
    addresses = [a for _, a in pairs if a and "@" in a]
    if len(values) > 1 or len(addresses) != 1:
        return None, "more than one From address, or none readable"
    return _domain_of(addresses[0]), None


def _authserv_id(value: str) -> str:
    return value.strip().split(";", 1)[0].strip().split()[0].lower() if value.strip() else ""


def trusted_results(raw_values: Sequence[str], authserv_ids: Sequence[str]) -> tuple[str, object]:
    """The one header that counts: (its authserv-id, parsed header), or ("", reason).

    ``raw_values`` are the Authentication-Results values, topmost first.
    """
    trusted = {a.strip().lower() for a in authserv_ids if a.strip()}
    if not trusted:
        return "", "no trusted mail server is configured (trust.authserv_ids)"
    for value in raw_values:
        text = re.sub(r"\r?\n[ \t]*", " ", value)[:MAX_HEADER]
        server = _authserv_id(text)
        if server not in trusted:
            continue  # someone else's opinion
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(text)
        except Exception as exc:
            # The topmost trusted header is unreadable: those below it may be forged, so stop.
            return "", f"the Authentication-Results header of {server} is unreadable ({exc!s:.60})"
        return server, parsed
    return "", "no Authentication-Results header from a trusted mail server"


def _prop_key(prop: object) -> str:
    """ "header.d", "smtp.mailfrom": an authres property's type and name."""
    return f"{getattr(prop, 'type', '')}.{getattr(prop, 'name', '')}".lower()


def _verdict_from(server: str, parsed: object, from_domain: str) -> Verdict:
    results = list(getattr(parsed, "results", []) or [])
    seen: list[str] = []
    found: Verdict | None = None
    dmarc_fail = False
    for result in results:
        method = str(getattr(result, "method", "")).lower()
        outcome = str(getattr(result, "result", "")).lower()
        props = {
            _prop_key(p): str(getattr(p, "value", ""))
            for p in getattr(result, "properties", None) or []
        }
        seen.append(f"{method}={outcome}")
        if outcome != "pass":
            dmarc_fail = dmarc_fail or (method == "dmarc" and outcome == "fail")
            continue
        if method == "dmarc":
            header_from = props.get("header.from")
            if header_from is None or header_from.strip().lower() == from_domain:
                found = found or Verdict(True, "dmarc", f"dmarc=pass reported by {server}")
        elif method == "dkim":
            d = props.get("header.d") or _domain_of(props.get("header.i"))
            if aligned(d, from_domain):
                found = found or Verdict(True, "dkim", f"dkim=pass for {d} reported by {server}")
            else:
                seen[-1] = f"dkim=pass for {d or 'an unnamed domain'} (not the From domain)"
        elif method == "spf":
            mailfrom = _domain_of(props.get("smtp.mailfrom"))
            if aligned(mailfrom, from_domain):
                why = f"spf=pass for {mailfrom} reported by {server}"
                found = found or Verdict(True, "spf", why)
            else:
                seen[-1] = f"spf=pass for {mailfrom or 'an unnamed domain'} (not the From domain)"
    if dmarc_fail:
        return Verdict(False, None, f"dmarc=fail reported by {server}")
    if found is not None:
        return found
    summary = ", ".join(seen[:4]) or "no results"
    return Verdict(False, None, f"{server} reported {summary}")


def _dkim_here(raw: bytes, from_domain: str, dnsfunc: DnsFunc | None) -> Verdict | None:
    """A valid, aligned DKIM signature verified on this host, or None."""
    try:
        checker = dkim.DKIM(raw, logger=log, timeout=DNS_TIMEOUT)
        count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    except Exception:
        return None
    for index in range(min(count, MAX_SIGNATURES)):
        try:
            checker = dkim.DKIM(raw, logger=log, timeout=DNS_TIMEOUT)
            ok = (
                checker.verify(idx=index, dnsfunc=dnsfunc)
                if dnsfunc is not None
                else checker.verify(idx=index)
            )
        except Exception as exc:  # a malformed signature or key: this one proves nothing
            log.debug("dkim signature %d not verified: %s", index, type(exc).__name__)
            continue
        fields = checker.signature_fields or {}
        signed = getattr(checker, "include_headers", ()) or ()
        domain = (checker.domain or b"").decode("ascii", "replace")
        if ok and b"l" not in fields and b"from" in signed and aligned(domain, from_domain):
            return Verdict(True, "dkim (checked here)", f"valid DKIM signature of {domain}")
    return None


def assess(
    raw: bytes,
    *,
    authserv_ids: Sequence[str],
    dkim_verify: bool = False,
    dnsfunc: DnsFunc | None = None,
) -> Verdict:
    """The verdict on one stored message. Never raises: any failure is "not verified"."""
    verdict = _assess(raw, authserv_ids, dkim_verify, dnsfunc)
    if len(verdict.reason) > MAX_REASON:
        return Verdict(verdict.verified, verdict.method, verdict.reason[: MAX_REASON - 3] + "...")
    return verdict


def _assess(
    raw: bytes, authserv_ids: Sequence[str], dkim_verify: bool, dnsfunc: DnsFunc | None
) -> Verdict:
    try:
        head = _headers(raw)
        from_domain, problem = _from_domain(head)
        if from_domain is None:
            return Verdict(False, None, problem or "no From address")
        values = [str(v) for v in head.get_all("Authentication-Results") or []]
        server, parsed = trusted_results(values, authserv_ids)
        verdict = (
            _verdict_from(server, parsed, from_domain)
            if server
            else Verdict(False, None, str(parsed))
        )
        if verdict.verified or not dkim_verify:
            return verdict
        here = _dkim_here(raw, from_domain, dnsfunc)
        if here is not None:
            return here
        return Verdict(False, None, f"{verdict.reason}; no valid DKIM signature of the From domain")
    except Exception as exc:
        return Verdict(False, None, f"the sender could not be checked ({type(exc).__name__})")
