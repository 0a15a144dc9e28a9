#!/usr/bin/env bash
# One command: set up, migrate, create the first operator (printed once), serve on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py bootstrap_operator
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
