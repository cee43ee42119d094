"""Salted hashes for smtp.auth_file, and the `mailbridge smtp hash-password` command."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest

from mailbridge.cli import main
from mailbridge.ops import passwords


def test_hash_then_verify():
    stored = passwords.hash_password("s3cret pass")
    assert stored.startswith("scrypt$16384$8$1$")
    assert passwords.verify_password("s3cret pass", stored)
    assert not passwords.verify_password("s3cret pasS", stored)
    assert passwords.hash_password("s3cret pass") != stored  # salted


def test_pbkdf2_hashes_made_elsewhere_verify():
    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 1000)
    enc = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")  # noqa: E731
    stored = f"pbkdf2_sha256$1000${enc(salt)}${enc(digest)}"
    passwords.check_hash(stored)
    assert passwords.verify_password("pw", stored)
    assert not passwords.verify_password("pW", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "plaintext",
        "scrypt$16384$8$1$c2FsdA",
        "scrypt$1000$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # N not a power of two
        "scrypt$2147483648$8$1$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGlnZXN0",  # gigabytes at login
        "pbkdf2_sha256$10$c2FsdHNhbHQ$ZGlnZXN0ZGlnZXN0ZGlnZXN0",
        "md5$abc",
    ],
)
def test_malformed_hashes_never_match(stored):
    with pytest.raises(passwords.BadHash):
        passwords.check_hash(stored)
    assert not passwords.verify_password("anything", stored)


def test_auth_file_problems_name_the_line_never_the_hash():
    good = passwords.hash_password("pw")
    text = f"# systems\n\nrelay:{good}\nbroken\nother:plaintext-password\nrelay:{good}\n"
    users, problems = passwords.parse_auth_file(text)
    assert users == {"relay": good}
    assert [p.split(":")[0].split(" (")[0] for p in problems] == ["line 4", "line 5", "line 6"]
    assert not any("plaintext-password" in p for p in problems)


def test_hash_password_command_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("from stdin\n"))
    assert main(["smtp", "hash-password", "--user", "relay-1"]) == 0
    line = capsys.readouterr().out.strip()
    user, _, stored = line.partition(":")
    assert user == "relay-1" and passwords.verify_password("from stdin", stored)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["smtp", "hash-password"]) == 1
    assert "empty password" in capsys.readouterr().err
