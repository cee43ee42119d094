"""The sections of the settings file, one frozen dataclass each, with their defaults.

A field's type is what the loader (config.py) coerces its value to, and its comment is what the
README's settings table says of it (reference.py). Also the helpers that read a section's URL
values, which the validation, the CLI and the relay share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class ServiceSettings:
    data_dir: str = "var"
    database_url: str = ""
    timezone: str = "Europe/London"
    log_level: str = "INFO"
    # "plain" (time level logger [msg N REF]: text) or "json" (one object a line).
    log_format: str = "plain"
    # Per-logger levels beside log_level, e.g. ["mailbridge.ingress.imap=DEBUG"].
    log_levels: list[str] = field(default_factory=list)
    # A directory whose templates override the packaged ones (alerts/<event>.*); empty: none.
    templates_dir: str = ""
    # The key signing alert Reply-To tokens; empty: DATA_DIR/reply-secret, made on first use.
    reply_secret_file: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 8025
    addresses: list[str] = field(default_factory=lambda: ["missing@localhost"])
    max_message_size: int = 25 * 1024 * 1024
    max_recipients: int = 50
    idle_timeout: int = 300
    max_commands: int = 200
    # STARTTLS: PEM certificate chain and key; both or neither (docs/tls.md).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Refuse MAIL with 530 until the client has done STARTTLS.
    require_tls: bool = False
    # user:HASH lines for SMTP AUTH (offered only after STARTTLS); empty: no AUTH.
    auth_file: str = ""
    # Open connections, in total and from one IP address; more get 421 and are closed.
    max_connections: int = 100
    max_connections_per_ip: int = 20
    # A message whose header block is larger gets 552 5.3.4 and is not stored.
    max_header_bytes: int = 256 * 1024
    # Messages per MAIL FROM address and per client IP in a sliding window; excess gets 451 4.7.1.
    # 0 turns a limit off. A sender with nothing in its window always passes.
    rate_limit_per_sender: int = 30
    rate_limit_per_ip: int = 120
    rate_window_seconds: float = 3600.0
    # 5xx refusals of mail to our own domain (a misspelt or unlisted address) in one clock hour
    # from which the duty desk is told, once that hour; 0: never.
    refusal_alert_threshold: int = 10


@dataclass(frozen=True)
class ProcessingSettings:
    max_attempts: int = 3
    lease_seconds: int = 60
    retry_delay_seconds: int = 10
    batch_size: int = 10
    poll_seconds: float = 2.0
    # How often the scheduler looks for due escalations and reminders.
    timer_seconds: float = 15.0
    # Mail received this many hours or more after its Date (an IMAP backfill, a replayed
    # archive) is late: recorded, no receipt to the carer, and its alerts say how late.
    late_mail_hours: float = 24.0
    # Not-a-report mail from unknown senders goes to the triage list and to one summary for the
    # duty desk every this many minutes; 0: an alert for each message, at once.
    triage_summary_minutes: int = 60
    # `serve` reads and renders in this many worker processes, off the listener's
    # interpreter (issue 18); 0: one worker thread in serve's own process, as before.
    worker_processes: int = 1
    # Mail whose Date is this many minutes or more before its arrival goes in the backlog
    # lane (3), after known carers (1) and other new mail (2).
    backlog_minutes: int = 60


@dataclass(frozen=True)
class RelaySettings:
    # smtp://[user[:pass]@]host:port (smtps:// or ?starttls=1 for TLS); empty: .eml files.
    url: str = ""
    # password (the one in the URL, if any) or xoauth2 (a token from [oauth2] for the URL's user).
    auth: str = "password"
    # From: of alerts and receipts; empty means the first of smtp.addresses.
    from_address: str = ""
    verify_tls: bool = True
    # A PEM bundle of extra CAs (a private CA) trusted besides the system's; empty: none.
    ca_file: str = ""
    timeout_seconds: float = 30.0
    max_attempts: int = 12
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    batch_size: int = 50


@dataclass(frozen=True)
class ImapSettings:
    # imap://user:pass@host[:port]/FOLDER (STARTTLS when offered) or imaps://...; empty: no watcher.
    url: str = ""
    # password (imap.password_file or the URL's) or xoauth2 (a token from [oauth2] for the URL's
    # user; the URL then carries no password).
    auth: str = "password"
    # A file holding the password (first line); overrides a password in the URL.
    password_file: str = ""
    # The folder to watch; empty: the URL's path, else INBOX.
    folder: str = ""
    # Where stored messages are moved (created if absent).
    processed_folder: str = "Processed"
    # Where a message the server cannot deliver whole is moved; empty: it stays where it is.
    failed_folder: str = ""
    # Polling interval when the server has no IDLE.
    poll_seconds: float = 30.0
    # IDLE is re-issued after this long; servers may drop an IDLE after 29 minutes (RFC 2177).
    idle_seconds: float = 25 * 60
    # UIDs fetched (BODY.PEEK[]) and committed per round trip (and at most 32 MB of mail).
    batch_size: int = 200
    # Check the server's certificate and name; false is for test servers only.
    verify_tls: bool = True
    # A PEM bundle of extra CAs (a private CA) trusted besides the system's; empty: none.
    ca_file: str = ""
    timeout_seconds: float = 60.0
    # Reconnect backoff: doubles from backoff_seconds up to max_backoff_seconds.
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    # Fetches of a message the server cannot deliver whole before it is set aside.
    fetch_attempts: int = 3
    # How often a standby instance (PostgreSQL) tries for the mailbox's advisory lock.
    lock_retry_seconds: float = 5.0


@dataclass(frozen=True)
class GraphSettings:
    """The Microsoft Graph reader, for tenants where IMAP is switched off (docs/m365.md)."""

    # The mailbox (user principal name) read through Graph; empty: no Graph reader. Its token
    # comes from [oauth2] (provider microsoft, application permission Mail.ReadWrite).
    mailbox: str = ""
    # The folder read: a well-known folder name (inbox, archive...), a display name, a path of
    # display names ("Inbox/Missing reports"), or a folder id (ingress/graph_folders.py).
    folder: str = "inbox"
    # Stored messages are moved here, named the same ways; its last level created if absent.
    processed_folder: str = "Processed"
    # Where a message goes whose MIME Graph will not hand over (after fetch_attempts rounds),
    # named the same ways, its last level created if absent. Empty: it stays in the folder read.
    failed_folder: str = ""
    base_url: str = "https://graph.microsoft.com/v1.0"
    # Delta rounds this often (a round also follows each stored batch at once).
    poll_seconds: float = 30.0
    # Messages fetched ($value) and committed per transaction.
    batch_size: int = 25
    # Rounds in which a message's $value may fail before it is set aside (a placeholder stored,
    # the duty desk told).
    fetch_attempts: int = 3
    # Longest Retry-After (429, 503) waited out before the round is given up and retried later.
    max_retry_after_seconds: float = 120.0
    timeout_seconds: float = 60.0
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 300.0
    # How often a standby instance (PostgreSQL) tries for the mailbox's advisory lock.
    lock_retry_seconds: float = 5.0


@dataclass(frozen=True)
class OAuth2Settings:
    """Where OAuth2 access tokens come from when imap.auth or relay.auth is xoauth2."""

    # microsoft (Entra ID app, client credentials), google (service account with domain-wide
    # delegation) or command (a program that prints a token).
    provider: str = ""
    # microsoft: the Directory (tenant) ID and the Application (client) ID.
    tenant_id: str = ""
    client_id: str = ""
    # microsoft: a file with the client secret's value, or a PEM file with the certificate and
    # its private key (one of the two).
    client_secret_file: str = ""
    certificate_file: str = ""
    # google: the service account's JSON key file.
    service_account_file: str = ""
    # command: run without a shell; the token is the first line of its stdout (or JSON with
    # access_token and expires_in). MAILBRIDGE_OAUTH2_USER names the mailbox.
    token_command: str = ""
    # microsoft: the sign-in host; another only for a national cloud (or a test provider).
    authority: str = "https://login.microsoftonline.com"
    # false only for a test provider that is not Microsoft's: MSAL then trusts the authority.
    validate_authority: bool = True
    # empty: https://outlook.office365.com/.default (microsoft; a scope given must end in
    # /.default), https://mail.google.com/ (google).
    scope: str = ""
    # A PEM bundle of extra CAs for the token endpoint (a TLS-inspecting proxy); empty: none.
    ca_file: str = ""
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class HttpSettings:
    # /metrics (Prometheus) and /healthz for `serve`; off unless asked for.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 9025


@dataclass(frozen=True)
class WebSettings:
    # The staff web app (docs/web.md) inside `serve`; off unless asked for.
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    # A session ends this many hours after sign-in, or after this many idle minutes.
    session_hours: int = 12
    idle_minutes: int = 60
    # Secure flag on cookies: "auto" (when the request came over https), "always" or "never".
    cookie_secure: str = "auto"
    # Proxies trusted for X-Forwarded-For/-Proto (comma-separated IPs); empty: none.
    forwarded_allow_ips: str = ""
    # OpenID Connect (Microsoft Entra ID or any provider); off while issuer or client_id is empty.
    # Entra ID: https://login.microsoftonline.com/TENANT/v2.0
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_label: str = "Sign in with your organisation account"
    # The claim matched to an account's username when no account has the email claim's address.
    oidc_username_claim: str = "preferred_username"


@dataclass(frozen=True)
class RoutingSettings:
    # Empty: config/routing.yaml in the start directory, else the packaged copy.
    file: str = ""


@dataclass(frozen=True)
class AuthoritiesSettings:
    # Who is told of a child placed in another council's area (docs/out-of-area.md). Empty:
    # config/authorities.yaml in the start directory if it is there, else no authorities.
    file: str = ""
    # Where relative profile_file paths of the directory are read from; empty: the start
    # directory.
    profiles_dir: str = ""
    # Largest Philomena profile attached to a police alert, in bytes; a larger one is not
    # attached and the alert says so.
    max_profile_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class RetentionSettings:
    # Raw mail and free-text details older than this many days are purged; the facts stay.
    days: int = 365
    # `serve` runs the purge daily at this hour (0-23) in service.timezone; -1: never (CLI only).
    hour: int = 3
    # Rows purged per transaction, so a first run over years of data never holds a long lock.
    batch_size: int = 500


@dataclass(frozen=True)
class DigestSettings:
    # Which digests are sent: "weekly" (Monday to Sunday) and/or "monthly"; empty: none.
    periods: list[str] = field(default_factory=lambda: ["weekly", "monthly"])
    # Roles from the routing file's roles: section, "team_manager" (every team manager on
    # record in the directory), or email addresses.
    recipients: list[str] = field(default_factory=lambda: ["apprentice", "team_manager"])
    # Local hour (service.timezone) from which the digest of a finished period is sent.
    send_hour: int = 7


@dataclass(frozen=True)
class TrustSettings:
    # authserv-ids of the upstream MTA(s) whose Authentication-Results headers we believe;
    # empty: no such header is believed (docs/trust.md).
    authserv_ids: list[str] = field(default_factory=list)
    # Verify DKIM signatures here as well (DNS lookups from this host).
    dkim_verify: bool = False


@dataclass(frozen=True)
class ReadingSettings:
    # MIME nesting followed; deeper parts are not read (the raw mail is kept whole).
    max_mime_depth: int = 20
    # MIME parts read per message; the rest are not read.
    max_parts: int = 500
    # Largest attachment decoded (to measure it); larger ones are listed, never decoded.
    max_attachment_bytes: int = 25 * 1024 * 1024
    # An episode open longer than this is stale: a new report about the child opens a new
    # episode (MISSING alerts again) and staff are told the old one was still open (issue 13).
    stale_episode_days: int = 7


def is_graph_url(url: str) -> bool:
    """``relay.url = graph://mailbox@domain``: alerts go through Microsoft Graph, not SMTP."""
    return urlsplit(url).scheme == "graph"


def graph_mailbox(url: str) -> str:
    """The sending mailbox of ``relay.url = graph://user@domain``; empty when it names none."""
    parts = urlsplit(url)
    return f"{unquote(parts.username)}@{parts.hostname}" if parts.username else ""



def redact_url(url: str) -> str:
    """Never echo a password back into a terminal or a log."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
