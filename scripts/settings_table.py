#!/usr/bin/env python3
"""Regenerate the README's configuration table from the settings model.

    .venv/bin/python scripts/settings_table.py          # print the table
    .venv/bin/python scripts/settings_table.py --write  # rewrite it in README.md

The keys, defaults and environment overrides come from mailbridge/settings/sections.py and
config.py, the words from mailbridge/settings/reference.py; tests/test_docs.py fails when
README.md is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mailbridge.settings import reference

README = Path(__file__).resolve().parent.parent / "README.md"


def main(argv: list[str]) -> int:
    if argv[1:] == ["--write"]:
        README.write_text(reference.replace_in(README.read_text(encoding="utf-8")), "utf-8")
        print(f"rewrote the settings table in {README}")
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    print(reference.table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
