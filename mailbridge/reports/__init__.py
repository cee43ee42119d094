"""Figures and returns: stats, the report, the digest, SSDA903, subject access, retention."""
