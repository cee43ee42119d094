"""Operating the service: health, metrics, the HTTP endpoint, logs, TLS, passwords."""
