#!/usr/bin/env bash
# The README's run command as a newcomer uses it on a fresh clone: `make run` creates its
# var/ directory, migrates, seeds the demo data and serves. A printed demo user logs in and
# lists batches through the API. Run a second time, it adds no batches and prints the users
# again. The server is stopped by its process group each time (runserver forks a reloader).
#
# Uses its own var/ directory (EBR_VAR_DIR, not yet existing) and port (SMOKE_PORT, 8765),
# on the default SQLite database: a developer's var/ and DATABASE_URL are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${SMOKE_PORT:-8765}
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
export EBR_VAR_DIR="$WORK/var"
unset DATABASE_URL CACHE_URL
PYTHON=.venv/bin/python
server=

fail() {
  echo "smoke: $*" >&2
  exit 1
}

stop() {
  [ -n "$server" ] || return 0
  kill -TERM -- "-$server" 2>/dev/null || true
  for _ in $(seq 1 20); do
    kill -0 -- "-$server" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
}
trap 'stop; rm -rf "$WORK"' EXIT

start() {
  local log=$1
  if curl -s -o /dev/null "$BASE/"; then
    fail "something already answers on port $PORT (set SMOKE_PORT)"
  fi
  # Its own session: the PID is the process group of make, runserver and its reloader.
  setsid make run PORT="$PORT" >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null "$BASE/admin/login/"; then
      return 0
    fi
    kill -0 "$server" 2>/dev/null || { cat "$log"; fail "make run exited before serving"; }
    sleep 1
  done
  cat "$log"
  fail "make run did not answer on $BASE within 10 minutes"
}

status_of() {
  curl -s -o /dev/null -w '%{http_code}' "$@"
}

# The password printed for `user` in the demo users list of the log.
printed_password() {
  sed -n '/Demo users (username \/ password):/,$p' "$1" | awk -v user="$2" '$1 == user { print $2; exit }'
}

# The number of batches the demo operator sees through the API, logged in with the printed password.
batches_seen() {
  local log=$1 password token body
  password=$(printed_password "$log" operator)
  [ -n "$password" ] || { cat "$log"; fail "no password printed for the demo operator"; }
  body=$($PYTHON -c 'import json, sys; print(json.dumps({"username": "operator", "password": sys.argv[1]}))' "$password")
  token=$(curl -sf -X POST "$BASE/api/auth/login/" -H 'Content-Type: application/json' -d "$body" |
    $PYTHON -c 'import json, sys; print(json.load(sys.stdin)["token"])') || fail "the demo operator cannot log in"
  curl -sf "$BASE/api/batch_records/batch-records/" -H "Authorization: Token $token" |
    $PYTHON -c 'import json, sys; print(json.load(sys.stdin)["count"])' || fail "the demo operator cannot list batches"
}

check_pages() {
  for page in /api/docs/ /admin/login/; do
    code=$(status_of "$BASE$page")
    [ "$code" = 200 ] || fail "GET $page answered $code"
    echo "  GET $page: 200"
  done
}

[ ! -e "$EBR_VAR_DIR" ] || fail "$EBR_VAR_DIR exists before the first run"

echo "-- first run: make run PORT=$PORT"
start "$WORK/first.log"
[ -d "$EBR_VAR_DIR" ] || fail "make run did not create $EBR_VAR_DIR"
check_pages
first=$(batches_seen "$WORK/first.log")
[ "$first" -gt 0 ] || fail "the first run seeded no batches"
echo "  the demo operator logs in with the printed password and sees $first batches"
stop

echo "-- second run: make run PORT=$PORT"
start "$WORK/second.log"
check_pages
second=$(batches_seen "$WORK/second.log")
[ "$second" = "$first" ] || fail "the second run changed the batches: $first, then $second"
echo "  users printed again; still $second batches"
stop
if curl -s -o /dev/null "$BASE/"; then
  fail "the server still answers after it was stopped"
fi
echo "-- make run works from a fresh clone, twice"
