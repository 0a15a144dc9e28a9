#!/usr/bin/env bash
# Every test: the embedded suite (SQLite, in-memory layer, in-process jobs), then the suites that need
# PostgreSQL and Redis against the real servers. With CI=true the latter fail if the servers are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/install-browser.sh
scripts/install-haproxy.sh  # Debian haproxy for the load-balancer tests (tests/faults/test_load_balancer.py)
scripts/install-pdf-libs.sh
export PYTHONUNBUFFERED=1
# The test process itself keeps no idle database connections (threads would hold the test database open at
# teardown); server processes started by tests get persistent connections, as in production (tests/conftest.py).
export DB_CONN_MAX_AGE=0
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # the files listed in pyproject.toml's [tool.mypy]
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
.venv/bin/python scripts/check_imports.py  # no import circles, function-level imports included
# Django's deployment checklist with production-like settings (eflux/settings.py: a secret key switches
# DEBUG off and turns on HTTPS redirects, secure cookies and HSTS); any warning fails.
env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=0 DJANGO_ALLOWED_HOSTS=csms.example.com \
  DJANGO_SECRET_KEY="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
  .venv/bin/python manage.py check --deploy --fail-level WARNING

REPORTS=test-artifacts/junit
LOGS=test-artifacts/logs
rm -rf "$REPORTS" "$LOGS" test-artifacts/embedded test-artifacts/postgresql && mkdir -p "$REPORTS" "$LOGS"

# Coverage ([tool.coverage] in pyproject.toml) of the embedded suite includes the daphne and simulator processes
# the tests start; the report is printed at the end.
export COVERAGE_FILE=$PWD/test-artifacts/coverage/.coverage
rm -rf "$(dirname "$COVERAGE_FILE")" && mkdir -p "$(dirname "$COVERAGE_FILE")"

PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/eflux}
RD_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

embedded() {
  # SQLite (a file per pytest process, eflux/settings.py), in-memory channel layer, in-process jobs.
  TEST_ARTIFACTS_DIR=$PWD/test-artifacts/embedded env -u DATABASE_URL -u REDIS_URL .venv/bin/pytest \
    -m "not services" --junitxml="$REPORTS/embedded.xml" --cov --cov-report= "$@"
}

on_servers() {
  if [ "${CI:-}" = "true" ] || { pg_isready -q -h 127.0.0.1 2>/dev/null && redis-cli -u "$RD_URL" ping >/dev/null 2>&1; }; then
    # The same suite again on PostgreSQL and the Redis channel layer (jobs in-process: those tests start no
    # worker), no coverage (COVERAGE_FILE unset: nothing of this stage mixes into the embedded suite's data).
    # Then production mode end to end: several daphne processes and real Celery workers. Both use the same test
    # database (test_<name of PG_URL>) and Redis db, so they run one after the other.
    env -u COVERAGE_FILE TEST_ARTIFACTS_DIR=$PWD/test-artifacts/postgresql JOBS_IN_PROCESS=1 \
      DATABASE_URL=$PG_URL REDIS_URL=$RD_URL .venv/bin/pytest -m "not services" \
      --junitxml="$REPORTS/postgresql.xml" "$@" || return
    env -u COVERAGE_FILE TEST_ARTIFACTS_DIR=$PWD/test-artifacts/postgresql \
      DATABASE_URL=$PG_URL REDIS_URL=$RD_URL .venv/bin/pytest -m services --junitxml="$REPORTS/services.xml" "$@"
  else
    echo "PostgreSQL or Redis not reachable: services suite skipped (CI=true makes this a failure)"
    env -u COVERAGE_FILE .venv/bin/pytest -m services "$@"
  fi
}

if [ "${TEST_PARALLEL:-}" = "1" ]; then
  # The two lines at the same time (about 11 and 11 minutes one after the other; they share no database, Redis
  # db, port, file or screenshot directory: pytest's tmp_path is per process, ports are free ones). Each one's
  # output goes to its log and is printed whole when it ends, the embedded suite's first. Not the default:
  # the doubled load makes the timing-sensitive fault tests (a killed job runner's lease, handshake
  # deadlines) fail on a busy 2-core machine (tests/stations/test_job_recovery.py was seen failing so).
  echo "== embedded suite (SQLite, in-memory channel layer, in-process jobs), measuring coverage; at the same time"
  echo "== the same suite on PostgreSQL + Redis, then the services suites (several processes, Celery workers)"
  echo "   (output: $LOGS/embedded.log and $LOGS/servers.log, printed below as each line ends)"
  embedded "$@" >"$LOGS/embedded.log" 2>&1 &
  embedded_pid=$!
  on_servers "$@" >"$LOGS/servers.log" 2>&1 &
  servers_pid=$!
  embedded_rc=0 && wait "$embedded_pid" || embedded_rc=$?
  echo "== embedded suite (exit $embedded_rc)" && cat "$LOGS/embedded.log"
  servers_rc=0 && wait "$servers_pid" || servers_rc=$?
  echo "== PostgreSQL + Redis and services suites (exit $servers_rc)" && cat "$LOGS/servers.log"
else
  # One after the other (the default, and what CI runs); a failing stage does not stop the next one.
  echo "== embedded suite (SQLite, in-memory channel layer, in-process jobs), measuring coverage"
  embedded_rc=0 && embedded "$@" || embedded_rc=$?
  echo "== on PostgreSQL + Redis, then the services suites (several processes, Celery workers)"
  servers_rc=0 && on_servers "$@" || servers_rc=$?
fi

echo "== coverage of the embedded suite (fully covered files not listed)"
# (After a failed embedded suite the data may be partial or missing: the report is then not what fails the run.)
.venv/bin/coverage report || [ "$embedded_rc" != 0 ]

# One closing line for all stages together.
.venv/bin/python - "$REPORTS" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.xml")):
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"total: {passed} passed, {failed} failed, {totals['skipped']} skipped")
PY
if [ "$embedded_rc" != 0 ] || [ "$servers_rc" != 0 ]; then
  echo "FAILED: embedded suite exit $embedded_rc, PostgreSQL + Redis / services exit $servers_rc"
  exit 1
fi
