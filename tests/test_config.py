from __future__ import annotations

from pathlib import Path

import pytest

from mailbridge.cli import main
from mailbridge.errors import ConfigError
from mailbridge.settings.config import load_settings


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mb.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_any_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, {})
    assert settings.smtp.host == "127.0.0.1"
    assert settings.smtp.port == 8025
    assert settings.smtp.max_message_size == 25 * 1024 * 1024
    assert settings.database_url == "sqlite:///var/mailbridge.db"


def test_shipped_default_config_is_valid():
    root = Path(__file__).resolve().parents[1]
    settings = load_settings(str(root / "config" / "mailbridge.toml"), {})
    assert settings.smtp.addresses


def test_toml_values_and_environment_overrides(tmp_path):
    path = write(
        tmp_path, '[smtp]\nport = 2525\naddresses = ["a@x.example"]\n[service]\ntimezone = "UTC"\n'
    )
    settings = load_settings(
        path,
        {
            "MAILBRIDGE_SMTP_PORT": "2626",
            "MAILBRIDGE_SMTP_HOST": "0.0.0.0",
            "MAILBRIDGE_ADDRESSES": "missing@c.example, Other@C.example",
            "MAILBRIDGE_DATA_DIR": str(tmp_path / "d"),
            "MAILBRIDGE_RELAY_URL": "smtp://relay.example:25",
            "MAILBRIDGE_IMAP_URL": "imaps://u:p@imap.example/INBOX",
        },
    )
    assert settings.smtp.port == 2626
    assert settings.smtp.host == "0.0.0.0"
    assert settings.smtp.addresses == ["missing@c.example", "Other@C.example"]
    assert settings.accepts("<other@c.example>")
    assert not settings.accepts("a@x.example")
    assert settings.service.timezone == "UTC"
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'mailbridge.db'}"
    assert settings.relay.url == "smtp://relay.example:25"
    assert settings.imap.url.startswith("imaps://")


def test_config_chosen_by_environment_variable(tmp_path):
    path = write(tmp_path, "[smtp]\nport = 3000\n")
    assert load_settings(None, {"MAILBRIDGE_CONFIG": path}).smtp.port == 3000


def test_plain_postgresql_url_means_psycopg3(tmp_path):
    settings = load_settings(
        write(tmp_path, ""), {"MAILBRIDGE_DATABASE_URL": "postgresql://u@h/db"}
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_every_problem_is_reported_by_key(tmp_path):
    path = write(
        tmp_path,
        '[smtp]\nport = "x"\nprot = 1\naddresses = ["not-an-address"]\n'
        '[service]\ntimezone = "Mars/Olympus"\n[processing]\nmax_attempts = 0\n[nonsense]\na = 1\n',
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path, {"MAILBRIDGE_RELAY_URL": "http://nope"})
    text = "\n".join(err.value.problems)
    for key in (
        "smtp.port",
        "smtp.prot",
        "smtp.addresses",
        "service.timezone",
        "processing.max_attempts",
        "nonsense",
        "relay.url",
    ):
        assert key in text, key
    assert len(err.value.problems) >= 7


def test_environment_origin_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, ""), {"MAILBRIDGE_SMTP_PORT": "eighty"})
    assert "smtp.port (from MAILBRIDGE_SMTP_PORT)" in str(err.value)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "absent.toml"), {})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[smtp\nport=1"), {})


def test_passwords_are_not_echoed(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, ""), {"MAILBRIDGE_RELAY_URL": "ftp://user:s3cret@host"})
    assert "s3cret" not in str(err.value)


def test_check_config_command(tmp_path, capsys):
    good = write(tmp_path, '[smtp]\naddresses = ["missing@c.example"]\n')
    assert main(["--config", good, "check-config"]) == 0
    assert "configuration OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[smtp]\nport = 70000\n[service]\nlog_level = "LOUD"\n')
    assert main(["--config", str(bad), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "smtp.port" in err and "service.log_level" in err
    assert "Traceback" not in err


def test_check_config_renders_override_templates(tmp_path, capsys):
    override = tmp_path / "tpl" / "alerts"
    override.mkdir(parents=True)
    (override / "missing.txt").write_text("{{ no_such_field.x }}\n")
    cfg = write(tmp_path, f'[service]\ntemplates_dir = "{tmp_path / "tpl"}"\n')
    assert main(["--config", cfg, "check-config"]) == 2
    err = capsys.readouterr().err
    assert "service.templates_dir: alerts/missing" in err and "Traceback" not in err
    (override / "missing.txt").write_text("Missing: {{ reference }}\n")
    assert main(["--config", cfg, "check-config"]) == 0


def test_missing_templates_dir_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"service.templates_dir: .* is not a directory"):
        load_settings(write(tmp_path, '[service]\ntemplates_dir = "/no/such/dir"\n'), {})


def test_timer_and_reply_secret_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, '[processing]\ntimer_seconds = 0\n'
                                      '[service]\nreply_secret_file = "/no/such/secret"\n'), {})
    text = str(err.value)
    assert "processing.timer_seconds" in text and "service.reply_secret_file" in text


def test_tls_files_both_or_neither_readable_and_matching(tmp_path, tls_files):
    def problems(smtp: str) -> str:
        with pytest.raises(ConfigError) as err:
            load_settings(write(tmp_path, f"[smtp]\n{smtp}"), {})
        return str(err.value)

    assert "give both" in problems(f'tls_cert_file = "{tls_files.cert_file}"\n')
    assert "give both" in problems(f'tls_key_file = "{tls_files.key_file}"\n')
    text = problems(f'tls_cert_file = "{tmp_path}/no.pem"\ntls_key_file = "{tls_files.key_file}"\n')
    assert "smtp.tls_cert_file" in text and "no.pem" in text
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    assert "cannot use" in problems(
        f'tls_cert_file = "{garbage}"\ntls_key_file = "{tls_files.key_file}"\n'
    )
    assert "smtp.require_tls: needs" in problems("require_tls = true\n")
    settings = load_settings(write(tmp_path, f"[smtp]\n{tls_files.toml()}require_tls = true\n"), {})
    assert settings.smtp.require_tls


def test_auth_file_is_checked_without_echoing_hashes(tmp_path, tls_files):
    from mailbridge.ops.passwords import hash_password

    users = tmp_path / "users"
    users.write_text(f"relay:{hash_password('pw')}\nlegacy:clear-text-password\n")
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, f'[smtp]\nauth_file = "{users}"\n'), {})
    text = str(err.value)
    assert "smtp.auth_file: AUTH is offered only after STARTTLS" in text
    assert "line 2 (user 'legacy')" in text and "clear-text-password" not in text
    users.write_text(f"relay:{hash_password('pw')}\n")
    settings = load_settings(
        write(tmp_path, f'[smtp]\n{tls_files.toml()}auth_file = "{users}"\n'), {}
    )
    assert settings.smtp.auth_file == str(users)
    with pytest.raises(ConfigError, match=r"smtp\.auth_file: cannot read"):
        load_settings(
            write(tmp_path, f'[smtp]\n{tls_files.toml()}auth_file = "{tmp_path}/none"\n'), {}
        )


def test_limits_and_ca_files_are_checked(tmp_path, tls_files):
    with pytest.raises(ConfigError) as err:
        load_settings(
            write(
                tmp_path,
                "[smtp]\nmax_connections = 0\nmax_connections_per_ip = 0\nmax_header_bytes = 10\n"
                "rate_limit_per_sender = -1\nrate_window_seconds = 0\n"
                f'[relay]\nca_file = "{tmp_path}/none.pem"\n[imap]\nca_file = "{tmp_path}"\n',
            ),
            {},
        )
    text = str(err.value)
    for key in (
        "smtp.max_connections:",
        "smtp.max_connections_per_ip",
        "smtp.max_header_bytes",
        "smtp.rate_limit_per_sender",
        "smtp.rate_window_seconds",
        "relay.ca_file",
        "imap.ca_file",
    ):
        assert key in text
    settings = load_settings(
        write(
            tmp_path, f'[relay]\nca_file = "{tls_files.ca_file}"\n[smtp]\nrate_limit_per_ip = 0\n'
        ),
        {},
    )
    assert settings.relay.ca_file == tls_files.ca_file
    assert settings.smtp.max_header_bytes == 256 * 1024  # the default


def test_check_config_warns_about_unverified_tls_and_clear_text(tmp_path, capsys, tls_files):
    quiet = write(tmp_path, f"[smtp]\n{tls_files.toml()}")
    assert main(["--config", quiet, "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "STARTTLS offered, no AUTH" in out and "warning" not in err
    loud = write(
        tmp_path,
        '[smtp]\nhost = "0.0.0.0"\n[relay]\nverify_tls = false\n[imap]\nverify_tls = false\n',
    )
    assert main(["--config", loud, "check-config"]) == 0
    err = capsys.readouterr().err
    assert "warning: relay.verify_tls = false" in err
    assert "warning: imap.verify_tls = false" in err
    assert "offers no STARTTLS" in err
