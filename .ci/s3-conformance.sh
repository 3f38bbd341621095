#!/usr/bin/env bash
# Runs the journal's S3 conformance tests against moto (an S3-compatible server from
# PyPI) on a free loopback port. Installs moto if it is missing, starts it in the
# background, waits until it answers, creates the test bucket, runs the tests with the
# endpoint in the environment, and stops the server by its PID on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[s3]' flask flask-cors
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
endpoint="http://127.0.0.1:${port}"
bucket="hnswtune-test"
log=$(mktemp)

moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -fs -o /dev/null "${endpoint}/"; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited early:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS -o /dev/null "${endpoint}/" || { echo "moto_server did not answer on ${endpoint}" >&2; cat "$log" >&2; exit 1; }
curl -fsS -o /dev/null -X PUT "${endpoint}/${bucket}"

echo "moto_server (pid ${moto_pid}) on ${endpoint}, bucket ${bucket}"
# REQUIRED: a test that cannot reach the endpoint fails instead of skipping.
export HNSWTUNE_TEST_S3_REQUIRED=1 HNSWTUNE_TEST_S3_ENDPOINT="$endpoint" HNSWTUNE_TEST_S3_BUCKET="$bucket"
cargo test -p hnswtune-journal --test s3
# Several worker processes on one bucket, and a store outage in the middle of a run.
cargo test -p hnswtune-cli --test workers -- s3 outage
# `hnswtune serve` over a study on S3.
cargo test -p hnswtune-cli --test serve -- s3
