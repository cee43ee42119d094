"""Messages from .eml files, mbox files or stdin, for `mailbridge inject`."""

from __future__ import annotations

import mailbox
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailbridge.errors import FileAccessError


@dataclass(frozen=True)
class FileMessage:
    label: str  # where it came from, for messages to the operator
    raw: bytes


def looks_like_mbox(data: bytes) -> bool:
    """An mbox starts with a 'From ' separator line; an .eml starts with a header."""
    return data.startswith(b"From ")


def read_messages(path: str, *, stdin: bytes | None = None) -> Iterator[FileMessage]:
    """Yield every message in one source; raise MailbridgeError naming the file if unreadable."""
    if path == "-":
        data = stdin if stdin is not None else b""
        label = "stdin"
    else:
        try:
            data = Path(path).read_bytes()
        except IsADirectoryError as exc:
            raise FileAccessError(f"{path}: is a directory, not a message file") from exc
        except OSError as exc:
            raise FileAccessError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        label = path
    if not looks_like_mbox(data):
        yield FileMessage(label, data)
        return
    yield from _split_mbox(label, data)


def _split_mbox(label: str, data: bytes) -> Iterator[FileMessage]:
    # mailbox.mbox wants a path; stdin has none, so give it a private temporary file.
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "in.mbox"
        copy.write_bytes(data)
        box = mailbox.mbox(copy, create=False)
        try:
            for index, key in enumerate(box.iterkeys(), start=1):
                yield FileMessage(f"{label}#{index}", box.get_bytes(key))
        finally:
            box.close()
