# mailbridge: SMTP intake for a council's missing-children address.
#
#   docker build -t mailbridge .
#   docker run -p 8025:8025 -v mailbridge-var:/app/var \
#     -e MAILBRIDGE_ADDRESSES=missing@council.example mailbridge
#
# Settings: /app/config/mailbridge.toml (mount your own) plus MAILBRIDGE_* variables.
# For PostgreSQL set MAILBRIDGE_DATABASE_URL=postgresql+psycopg://USER:PASS@HOST:5432/DB.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Build and install the wheel (it carries the migrations and the default config), then drop
# the sources. templates/ may be missing from a fresh clone (git keeps no empty folders), and
# the wheel build needs it, so it is created if absent.
COPY . /src
RUN mkdir -p /src/templates \
    && pip install "/src[postgres]" \
    && mkdir -p /app/config /app/var \
    && cp /src/config/mailbridge.toml /app/config/mailbridge.toml \
    && rm -rf /src \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mailbridge \
    && chown -R mailbridge:mailbridge /app

USER mailbridge

# Listen on every interface inside the container; data (SQLite, outbox) lives in /app/var.
ENV MAILBRIDGE_SMTP_HOST=0.0.0.0 \
    MAILBRIDGE_DATA_DIR=/app/var
EXPOSE 8025
VOLUME ["/app/var", "/app/config"]

# Migrate first (required on PostgreSQL, harmless on SQLite), then serve as PID 1 so SIGTERM
# reaches mailbridge and it stops cleanly.
CMD ["sh", "-c", "mailbridge db upgrade && exec mailbridge serve"]
