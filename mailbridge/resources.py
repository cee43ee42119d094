"""Find shipped files (migrations, templates, default config) installed or in a source tree."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """A wheel carries them under ``mailbridge/_data``; an editable install reads the repo."""
    packaged = _PACKAGE / "_data" / name
    if packaged.exists():
        return packaged
    return _PACKAGE.parent / name
