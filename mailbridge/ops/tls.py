"""TLS contexts for every network hop: the listener's STARTTLS, the relay and the IMAP watcher.

One place decides the protocol floor and how a private CA is trusted, so the three hops cannot
drift apart (invariant 8: TLS is available on every network hop).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl

log = logging.getLogger(__name__)


def _no_password() -> bytes:
    """An encrypted key must fail at start, not stop `serve` at a terminal prompt."""
    return b""


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The listener's context for STARTTLS: our certificate chain, TLS 1.2 or later.

    Clients are not asked for a certificate: carers' mail servers do not have one to give.
    Raises OSError/ssl.SSLError when the files are missing, unreadable or do not match.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file, password=_no_password)
    return context


def client_context(*, verify: bool, ca_file: str = "") -> ssl.SSLContext:
    """A context for connecting out (relay, IMAP): system CAs plus ``ca_file``, names checked.

    ``verify=False`` turns certificate and name checks off; callers log that loudly.
    """
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check_server_files(cert_file: str, key_file: str) -> str | None:
    """Why the listener could not use this pair, or None when it can."""
    try:
        server_context(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        return _describe(exc)
    return None


def check_ca_file(ca_file: str) -> str | None:
    """Why this CA bundle could not be loaded, or None when it can."""
    try:
        client_context(verify=True, ca_file=ca_file)
    except (OSError, ssl.SSLError) as exc:
        return _describe(exc)
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def insecure_warning(key: str, what: str) -> str:
    """The one wording for a hop whose certificate is not checked (logged and printed)."""
    return (
        f"{key} = false: the certificate of {what} is NOT checked; anyone on the network path "
        "can read the password and children's data. Use only for tests."
    )


def is_loopback(host: str) -> bool:
    """Traffic to this host never leaves the machine, so clear text on it is no exposure."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
