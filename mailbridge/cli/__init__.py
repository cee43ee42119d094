"""The `mailbridge` command line: one module per command group, wired in ``root``."""

from mailbridge.cli.root import main

__all__ = ["main"]
