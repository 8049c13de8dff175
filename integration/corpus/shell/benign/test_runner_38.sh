#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "$0")"
export DATABASE_URL=${DATABASE_URL:-postgres://test:test@localhost:5432/test}
echo "--- waiting for the test database"
for i in $(seq 1 30); do
  pg_isready -d "$DATABASE_URL" && break
  sleep 1
done
echo "--- migrations"
./manage.py migrate --noinput
echo "--- tests"
pytest -q --junitxml=reports/junit.xml --cov=app --cov-report=xml "$@"
status=$?
echo "--- done ($status)"
exit $status
