#!/usr/bin/env bash
# One command: set up, migrate, create the first operator (printed once), serve on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py bootstrap_operator
# Styled error pages as in production (DEBUG off: no debug 404 listing every URL), over plain http locally.
export DJANGO_DEBUG="${DJANGO_DEBUG:-0}" EFLUX_LOCAL_HTTP="${EFLUX_LOCAL_HTTP:-1}"
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
