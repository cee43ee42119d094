"""A real Dovecot for the IMAP tests and the IMAP benchmark: unprivileged, on a free port.

Each run writes a minimal ``dovecot.conf`` into a fresh directory: IMAP only on 127.0.0.1, no
TLS, plain-text logins from a passwd-file, one maildir per user. Users ``u1@example.test`` …
are made up front so each test can have a mailbox of its own. As root (CI), the master runs as
root but logins and mail run as unprivileged users (Dovecot refuses uid 0 for mail); otherwise
everything runs as the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar, cast

from imapclient import IMAPClient

PASSWORD = "secret-Pa55"
USERS = 60


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    for candidate in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


D = TypeVar("D", bound="Dovecot")


def running(purpose: str, make: Callable[[str], D] | None = None) -> Iterator[D]:
    """A started server for a pytest fixture: skip when dovecot is absent, fail clearly when it
    is installed but will not start, clean up after. ``make(binary)`` builds another kind."""
    import pytest

    binary = dovecot_binary()
    if binary is None:
        pytest.skip(
            "dovecot is not installed (Debian: apt-get install dovecot-imapd; .ci/run does it); "
            f"{purpose} need a real IMAP server"
        )
    server = make(binary) if make is not None else cast(D, Dovecot(binary))
    try:
        server.start()
    except RuntimeError as exc:
        server.cleanup()
        pytest.fail(f"dovecot is installed but would not start: {exc}")
    yield server
    server.cleanup()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


class Dovecot:
    """``dovecot -F -c <conf>`` as a subprocess; start(), stop(), restart()."""

    def __init__(self, binary: str, root: Path | None = None, port: int | None = None) -> None:
        self.binary = binary
        self.root = root or Path(tempfile.mkdtemp(prefix="mb-dovecot-"))
        # Mail processes run as another user when we are root: they must reach their homes.
        self.root.chmod(0o755)
        self.port = port or free_port()
        self.conf = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._next_user = 0
        self._write_config()

    # -- configuration ---------------------------------------------------------------------
    def _write_config(self) -> None:
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        passwd = self.root / "passwd"
        passwd.write_text(
            "".join(f"u{i}@example.test:{{PLAIN}}{PASSWORD}\n" for i in range(1, USERS + 1)),
            encoding="utf-8",
        )
        if os.getuid() == 0:
            nobody = _user("nobody")
            assert nobody is not None, "running as root needs a 'nobody' user for mail"
            login = _user("dovenull") or nobody
            internal = _user("dovecot") or nobody
            mail_uid, mail_gid = nobody.pw_uid, nobody.pw_gid
            os.chown(home, mail_uid, mail_gid)
            chroot = ""
        else:
            me = pwd.getpwuid(os.getuid())
            login = internal = me
            mail_uid, mail_gid = os.getuid(), os.getgid()
            chroot = "  chroot =\n"
        self.mail_uid = mail_uid
        self.conf.write_text(
            f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log}
info_log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal.pw_name}
default_internal_group = {_group(internal.pw_gid)}
default_login_user = {login.pw_name}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
{chroot}}}
# No auth penalty (growing delays after failed logins from one IP): the wrong-password
# test must see the watcher's own backoff, not the server's.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{chroot}}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    port = 0
  }}
}}
protocol imap {{
  mail_plugins =
}}
""",
            encoding="utf-8",
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 15) -> Dovecot:
        with open(self.root / "stdio.log", "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own process group: stop() ends the master and every imap process with it,
                # as a crash or a reboot would (the master alone leaves sessions running).
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on port {self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Sessions that outlive the master would keep serving: wait until the group is gone.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        # The master is gone; wait until the port is free for a restart.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    pass
            except OSError:
                return
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in (self.log, self.root / "stdio.log"):
            if path.is_file():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts)

    # -- mailboxes -------------------------------------------------------------------------
    def new_user(self) -> str:
        self._next_user += 1
        if self._next_user > USERS:
            raise RuntimeError(f"only {USERS} test users are configured")
        return f"u{self._next_user}@example.test"

    def url(self, user: str, folder: str = "INBOX", password: str = PASSWORD) -> str:
        quoted = user.replace("@", "%40")
        return f"imap://{quoted}:{password}@127.0.0.1:{self.port}/{folder}"

    def client(self, user: str) -> Any:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        client.login(user, PASSWORD)
        return client

    def maildir(self, user: str) -> Path:
        return self.root / "home" / user / "Maildir"


def _group(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
