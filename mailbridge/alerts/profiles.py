"""The Philomena profile of a child, read for the police alert, or the reason it is withheld.

The Philomena Protocol has the placement prepare a profile of a child who may go missing, so
the police can start searching without asking for it. When the directory names the document
(``profile_file``), the police alert carries it as its one attachment, on three conditions:

- the relay connection is encrypted and its certificate verified (``smtps://`` or
  ``?starttls=1``, with ``relay.verify_tls`` on): a profile is a child's special-category data;
- the recipient is an address in the authorities file (the police role is resolved from it);
- the file can be read and is no larger than ``authorities.max_profile_bytes``.

Otherwise the police alert still goes, at once, without the profile and saying so, and the duty
desk is told to send the profile by a secure route. A missing child's alert is never held back
for want of an attachment.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from mailbridge.delivery.transport import relay_is_secure
from mailbridge.settings.config import Settings


@dataclass(frozen=True)
class Profile:
    """What the police alert says of the profile, and its bytes when they may be sent."""

    note: str  # for the police alert: attached, or why not
    name: str | None = None
    content_type: str | None = None
    data: bytes | None = None
    withheld: str | None = None  # why it was not attached (the duty desk is told); None: sent


def profile_path(settings: Settings, given: str) -> Path:
    path = Path(given).expanduser()
    if not path.is_absolute() and settings.authorities.profiles_dir:
        path = Path(settings.authorities.profiles_dir) / path
    return path


def load_profile(settings: Settings, given: str | None) -> Profile | None:
    """The profile the directory names for a child (None: it names none)."""
    if not given:
        return None
    ask = "ask the contact at the placing council below for it"
    if not relay_is_secure(settings):
        why = (
            "the connection to the council's mail relay is not encrypted and verified "
            "(relay.url needs smtps:// or ?starttls=1, and relay.verify_tls on)"
        )
        return Profile(note=f"held by the placing council, not attached; {ask}.", withheld=why)
    path = profile_path(settings, given)
    limit = settings.authorities.max_profile_bytes
    try:
        size = path.stat().st_size
        if size > limit:
            raise ValueError(f"it is {size:,} bytes, more than authorities.max_profile_bytes")
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Profile(
            note=f"could not be attached; {ask}.",
            withheld=f"the file {path} could not be attached ({reason})",
        )
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Profile(
        note=f"attached ({path.name}).",
        name=path.name,
        content_type=content_type,
        data=data,
    )
