#!/usr/bin/env bash
# Idempotent set-up for `make demo` and `make test`: Debian packages (when root), the .venv and
# the package with its pinned dependencies. Fast when nothing changed.
#   scripts/setup.sh demo   what the kiosk needs to run with simulated hardware
#   scripts/setup.sh test   plus what the test suite needs (pcscd + vpcd, Chromium, PostgreSQL...)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-demo}

# Debian packages. libpcsclite-dev + gcc build pyscard; libzbar0 is pyzbar's library.
debs=(python3-venv python3-dev gcc libpcsclite-dev pcscd libzbar0)
if [ "$what" = test ]; then
  debs+=(vsmartcard-vpcd chromium fonts-dejavu-core systemd postgresql)
  debs+=(rauc squashfs-tools)  # tests build and check real signed RAUC bundles
  debs+=(espeak-ng)  # spoken guidance: every speech key is rendered (tests/test_ui_voice_keys.py)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (run as root, or: sudo apt-get install ${missing[*]})" >&2
  fi
fi

# The virtual environment. On a Raspberry Pi it is made with --system-site-packages so that
# python3-picamera2 from Raspberry Pi OS is visible; elsewhere picamera2 is never imported.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  flags=()
  if [ -e /proc/device-tree/model ] && grep -qi raspberry /proc/device-tree/model 2>/dev/null; then
    flags+=(--system-site-packages)
  fi
  echo "setup: creating .venv"
  "$PY" -m venv "${flags[@]}" .venv
fi

# The office hub's extra comes along for the demo (it starts a local hub) and the tests.
extras="[hub]"
[ "$what" = test ] && extras="[dev,hub]"
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${what}"
if [ ! -e "$stamp" ] && ! { [ "$what" = demo ] && ls .venv/.installed-*-test >/dev/null 2>&1 && [ -e ".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-test" ]; }; then
  echo "setup: installing the appliance and its pinned dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".${extras}"
  touch "$stamp"
fi
