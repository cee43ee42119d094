"""Operating the service: health, metrics, the HTTP endpoint, logs, TLS, passwords, OAuth2
access tokens for the mailbox and the relay."""
