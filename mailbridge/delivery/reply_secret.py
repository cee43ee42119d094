"""The key that signs alert Reply-To tokens, kept with the data so restarts keep it valid."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mailbridge.errors import MailbridgeError
from mailbridge.settings.config import Settings


def reply_secret(settings: Settings) -> bytes:
    """``service.reply_secret_file``, else DATA_DIR/reply-secret, made (0600) on first use.

    Several instances sharing PostgreSQL must be given the same file, or each signs with
    its own key and rejects the others' tokens.
    """
    path = Path(settings.service.reply_secret_file or settings.data_dir / "reply-secret")
    try:
        if not path.exists() and not settings.service.reply_secret_file:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        value = path.read_text(encoding="utf-8").strip()
    except FileExistsError:  # another process made it first
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MailbridgeError(f"service.reply_secret_file: cannot read {path}: {exc}") from exc
    if len(value) < 16:
        raise MailbridgeError(f"service.reply_secret_file: {path} holds no usable secret")
    return value.encode()
