"""The corpus layer: every fixture report in ``tests/fixtures/reports`` and every message of
``../shared/corpus`` through the pure reader (read, fields, classify, each child).

Pure like the unit layer, no database and no server, but sized by the data: it grows with every
batch of held-out reports, so it runs on its own (``scripts/test --corpus``) and in the full
suite, and the unit layer (``scripts/test --unit``) stays the seconds-long edit loop.
"""
