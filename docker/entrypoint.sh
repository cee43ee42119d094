#!/bin/sh
# The image's entrypoint: migrate, then serve as PID 1; or run any other mailbridge command.
#
#   serve            `mailbridge db upgrade` (unless MAILBRIDGE_MIGRATE=0), then `mailbridge serve`
#   anything else    `mailbridge ARGS…` (e.g. status, db current, directory import FILE)
#
# Several instances may migrate at once: `db upgrade` holds a PostgreSQL advisory lock, so
# one migrates and the others find the schema at head.
set -eu

[ "$#" -gt 0 ] || set -- serve
if [ "$1" = "serve" ] && [ "${MAILBRIDGE_MIGRATE:-1}" != "0" ]; then
    mailbridge db upgrade
fi
exec mailbridge "$@"
