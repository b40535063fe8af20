#!/usr/bin/env bash
# `make demo`: the local office hub (127.0.0.1:HUB_PORT, SQLite) in the background, then the sim
# kiosk (127.0.0.1:PORT) in the foreground, uploading to the hub with its registered token.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-8080}
hub_port=${2:-8090}
state=.state
# The sim kiosk's signing key first, so that the hub can register it before the kiosk starts.
.venv/bin/appliance keys device --profile sim --state-dir "$state" --json >/dev/null
.venv/bin/appliance hub demo --kiosk-state "$state" --port "$hub_port" &
hub=$!
trap 'kill "$hub" 2>/dev/null || true; wait "$hub" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$hub_port/healthz" >/dev/null 2>&1 && break
  kill -0 "$hub" 2>/dev/null || { echo "demo: the hub did not start" >&2; exit 1; }
  sleep 0.2
done
export APPLIANCE_STORE_UPLOAD_URL="http://127.0.0.1:$hub_port/bundles"
export APPLIANCE_STORE_UPLOAD_TOKEN_FILE="$PWD/$state/hub/sim-kiosk.token"
export APPLIANCE_STORE_POLL_S="${APPLIANCE_STORE_POLL_S:-5}"
export APPLIANCE_HUB_HEARTBEAT_S="${APPLIANCE_HUB_HEARTBEAT_S:-15}"
.venv/bin/appliance run --profile sim --port "$port"
