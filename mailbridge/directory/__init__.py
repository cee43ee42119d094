"""The directory: who each child is, where they live, who cares for them, who must be told.

Parsing is pure and separate from applying, so a file with a fatal problem never touches the
database, while a file with a few bad rows still brings in the good ones (each bad row is
reported by its line number). Applying runs in the caller's transaction and is idempotent.
Allocations are never overwritten: a change closes the old row and opens a new one, because an
episode must be able to say who was allocated when it opened.
"""
