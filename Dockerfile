# mailbridge: SMTP intake for a council's missing-children address (docs/deploy.md#docker).
#
#   docker build -t mailbridge .
#   docker run -p 8025:8025 -p 127.0.0.1:9025:9025 -v mailbridge-data:/var/lib/mailbridge \
#     -e MAILBRIDGE_ADDRESSES=missing@council.example mailbridge
#
# Settings: /etc/mailbridge/mailbridge.toml (mount your own directory there: the settings,
# routing.yaml, templates/ and secrets) plus MAILBRIDGE_* variables. Data (SQLite, outbox,
# reply secret) lives in /var/lib/mailbridge. For PostgreSQL set
# MAILBRIDGE_DATABASE_URL=postgresql+psycopg://USER:PASS@HOST:5432/DB.

# -- build: the wheel and its dependencies in a virtualenv --------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY . /src
# templates/ may be missing from a fresh clone (git keeps no empty folders); the wheel needs it.
RUN mkdir -p /src/templates \
    && python -m venv /opt/mailbridge \
    && /opt/mailbridge/bin/pip install "/src[postgres]" \
    && sed -i 's|^file = ""|file = "/etc/mailbridge/routing.yaml"|' /src/config/mailbridge.toml

# -- run: the virtualenv, the default settings, a user that is not root -------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/mailbridge/bin:$PATH \
    MAILBRIDGE_CONFIG=/etc/mailbridge/mailbridge.toml \
    MAILBRIDGE_DATA_DIR=/var/lib/mailbridge \
    MAILBRIDGE_SMTP_HOST=0.0.0.0 \
    MAILBRIDGE_HTTP_ENABLED=true \
    MAILBRIDGE_HTTP_HOST=0.0.0.0

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/mailbridge \
        --shell /usr/sbin/nologin mailbridge \
    && mkdir -p /etc/mailbridge /var/lib/mailbridge \
    && chown mailbridge:mailbridge /var/lib/mailbridge

COPY --from=build /opt/mailbridge /opt/mailbridge
COPY --from=build /src/config/mailbridge.toml /src/config/routing.yaml /etc/mailbridge/
COPY docker/entrypoint.sh /usr/local/bin/mailbridge-entrypoint
COPY docker/healthcheck.py /usr/local/bin/mailbridge-healthcheck
RUN chmod 0755 /usr/local/bin/mailbridge-entrypoint /usr/local/bin/mailbridge-healthcheck

USER mailbridge
WORKDIR /var/lib/mailbridge
VOLUME ["/etc/mailbridge", "/var/lib/mailbridge"]
# 8025: the SMTP listener. 9025: /metrics and /healthz (publish it only to the monitoring host).
EXPOSE 8025 9025

# /healthz when [http] is enabled (the image enables it); healthy by default otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["mailbridge-healthcheck"]

# `serve` runs `mailbridge db upgrade` first (MAILBRIDGE_MIGRATE=0 to skip), then execs
# mailbridge as PID 1, so SIGTERM reaches it and it stops cleanly. Any other arguments run
# that command: `docker run … mailbridge status`.
ENTRYPOINT ["mailbridge-entrypoint"]
CMD ["serve"]
