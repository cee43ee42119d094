"""Operations: health, metrics, HTTP, logs, TLS, passwords and OAuth2 access tokens."""
