"""The ``command`` OAuth2 provider: a program the operator names prints a token.

Why a module of its own: it serves any identity provider that mailbridge has no client for
(the convention of mutt's, aerc's and isync's oauth2 helpers), and what it must get right is its
own: run the program without a shell, read a bare token or an OAuth2 token endpoint's JSON,
work out how long the token lives, and turn every way the program can fail into one line that
names ``oauth2.token_command`` (never the token). The choice among the providers is in
``oauth2_providers.py``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable

from mailbridge.ops.oauth2 import OAuth2Error, Token, token_roles, unverified_claims

# A command's token whose lifetime is unknown is reused for this long (a refusal renews it).
COMMAND_TOKEN_SECONDS = 600.0
COMMAND_TIMEOUT_SECONDS = 60.0


class CommandProvider:
    """Runs ``token_command`` (split like a shell would, but no shell) and reads its stdout.

    The first line of stdout is the token; or stdout is JSON with ``access_token`` and
    ``expires_in`` (what an OAuth2 token endpoint returns). The command learns the mailbox user
    from the environment variable ``MAILBRIDGE_OAUTH2_USER``.
    """

    name = "command"

    def __init__(
        self,
        command: str,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = COMMAND_TIMEOUT_SECONDS,
    ) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise OAuth2Error(f"oauth2.token_command: cannot split it into words ({exc})") from exc
        if not self.argv:
            raise OAuth2Error("oauth2.token_command is empty")
        self.clock = clock
        self.timeout = timeout

    def fetch(self, user: str) -> Token:
        program = self.argv[0]
        env = {**os.environ, "MAILBRIDGE_OAUTH2_USER": user}
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own command, no shell
                self.argv,
                capture_output=True,
                timeout=self.timeout,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError as exc:
            raise OAuth2Error(f"oauth2.token_command: {program} not found") from exc
        except PermissionError as exc:
            raise OAuth2Error(f"oauth2.token_command: {program} is not executable") from exc
        except subprocess.TimeoutExpired as exc:
            raise OAuth2Error(
                f"oauth2.token_command: {program} did not finish in {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise OAuth2Error(f"oauth2.token_command: {program}: {exc.strerror}") from exc
        if done.returncode != 0:
            # stderr is the helper's own message: its last line, short. stdout may hold a token.
            said = done.stderr.decode(errors="replace").strip().splitlines()
            reason = f": {said[-1][:200]}" if said else ""
            raise OAuth2Error(
                f"oauth2.token_command: {program} exited with {done.returncode}{reason}"
            )
        out = done.stdout.decode(errors="replace").strip()
        now = self.clock()
        if out.startswith("{"):
            try:
                data = json.loads(out)
            except ValueError as exc:
                raise OAuth2Error(
                    f"oauth2.token_command: {program} printed JSON that does not parse"
                ) from exc
            value = str(data.get("access_token") or "") if isinstance(data, dict) else ""
            if not value:
                raise OAuth2Error(
                    f"oauth2.token_command: {program} printed JSON without access_token"
                )
            expires_in = data.get("expires_in")
            lifetime = (
                float(expires_in)
                if isinstance(expires_in, int | float | str) and str(expires_in).isdigit()
                else COMMAND_TOKEN_SECONDS
            )
            return Token(value, now + lifetime, token_roles(value))
        value = out.splitlines()[0].strip() if out else ""
        if not value:
            raise OAuth2Error(f"oauth2.token_command: {program} printed no token")
        exp = unverified_claims(value).get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else now + COMMAND_TOKEN_SECONDS
        return Token(value, expires_at, token_roles(value))
