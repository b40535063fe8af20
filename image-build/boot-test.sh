#!/usr/bin/env bash
# Boot test of the built SD image (`make image-test`): the image as a technician would flash it,
# with a provision.toml for the simulated devices, booted twice under QEMU (TCG, no KVM here):
#   1. -M virt (cortex-a72, virtio disk and network): first boot, provisioning, the service.
#   2. -M raspi3b: the Pi's own SD host, USB and network drivers, on the now-provisioned card.
# Each boot passes when systemd reports appliance.service started (the console line that appears
# only after READY=1) and /healthz answers through a forwarded port with every device on its
# simulator. The virt guest is then powered off through its power button, and the card is checked:
# provisioning scrubbed the clear secrets and left the device's public key and a result file.
#
#   image-build/boot-test.sh [IMAGE.img.xz]      default: the newest in image-build/out/
# Environment: VIRT_TIMEOUT / RASPI_TIMEOUT (seconds per boot), SKIP_RASPI=1, KEEP_WORK=1,
# SCREENSHOT (default 1: the virt boot also gets a virtio GPU and passes only once kiosk.service,
# i.e. cage + Chromium as hardened, shows the kiosk's start page: kiosk_screen.py checks its title
# bar, help button and start cards; the picture is work/boot-test/kiosk.png, copied to
# SCREENSHOT_SAVE when set), SCREENSHOT=0 skips it, SCREEN_TIMEOUT (s after the service, 420).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$HERE/out}
TW=${TEST_WORK:-$HERE/work/boot-test}
VIRT_TIMEOUT=${VIRT_TIMEOUT:-480}
SCREENSHOT=${SCREENSHOT:-1}
SCREEN_TIMEOUT=${SCREEN_TIMEOUT:-420}
RASPI_TIMEOUT=${RASPI_TIMEOUT:-600}
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || PY=python3
T0=$(date +%s)
log() { printf '[boot-test %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { echo "boot-test: FAIL: $*" >&2; exit 1; }

"$HERE/deps.sh"
XZ=${1:-$(ls -t "$OUT"/*.img.xz "$OUT"/*.img 2>/dev/null | head -1 || true)}
[ -n "$XZ" ] && [ -f "$XZ" ] || die "no image: run 'make image' first"
if [ -f "$XZ.sha256" ]; then
  (cd "$(dirname "$XZ")" && sha256sum --quiet -c "$(basename "$XZ").sha256") \
    || die "checksum mismatch for $XZ"
fi
# Test-only kernel arguments: a console QEMU can capture, unit names in systemd's status lines
# (not ellipsised descriptions), and no login prompt there (systemd stops printing status lines
# on a console once a getty owns it).
TEST_ARGS="systemd.show_status=1 systemd.status_unit_format=name"

QPID=""
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" != 1 ]; then rm -f "$TW/test.img"; fi
}
trap cleanup EXIT
rm -rf "$TW"
mkdir -p "$TW/boot"
log "decompressing $(basename "$XZ")"
case "$XZ" in
  *.xz) xz -T0 -dc "$XZ" | dd of="$TW/test.img" bs=1M iflag=fullblock conv=sparse status=none ;;
  *) cp --sparse=always "$XZ" "$TW/test.img" ;;   # an uncompressed development build
esac
IMG=$TW/test.img

# Offset of the FAT boot partition, for mtools (no loop devices, no mounts).
BOOT_OFF=$(sfdisk -J "$IMG" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"] * 512)')
FAT="$IMG@@$BOOT_OFF"

# --- provision.toml for the simulated devices -------------------------------------------------
"$PY" - "$TW/boot" <<'PY'
import sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

out = Path(sys.argv[1])
pub = X25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
(out / "office_x25519.pub").write_bytes(pub)
(out / "provision.toml").write_text('''# image-test: every device simulated; the UI port reachable through QEMU's forwarded port.
profile = "sim"
device_name = "qemu-boot-test"

[office]
public_key = "office_x25519.pub"
upload_url = "https://office.invalid/bundles"
upload_token = "boot-test-token-not-secret"

[time]
ntp = ["ntp.invalid"]

[operator]
pin = "246810"
admin_password = "boot-test-admin-password"

[appliance.service]
host = "0.0.0.0"
''')
PY
mcopy -o -i "$FAT" "$TW/boot/provision.toml" "$TW/boot/office_x25519.pub" ::/
mcopy -n -i "$FAT" ::/cmdline.txt "$TW/boot/"
KERNEL=$(mdir -b -i "$FAT" ::/ | sed 's|^::/||' | grep -E '^vmlinuz-' | sort -V | tail -1)
INITRD=$(mdir -b -i "$FAT" ::/ | sed 's|^::/||' | grep -E '^initrd\.img-' | sort -V | tail -1)
[ -n "$KERNEL" ] && [ -n "$INITRD" ] || die "no vmlinuz-*/initrd.img-* on the boot partition"
mcopy -n -i "$FAT" "::/$KERNEL" "::/$INITRD" ::/bcm2837-rpi-3-b.dtb "$TW/boot/"
CMDLINE=$(tr '\n' ' ' < "$TW/boot/cmdline.txt")
log "kernel $KERNEL; cmdline.txt: $CMDLINE"
NOCONSOLE=$(echo "$CMDLINE" | tr ' ' '\n' | grep -v '^console=' | tr '\n' ' ')

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
monitor() { # monitor SOCKET COMMAND
  "$PY" - "$1" "$2" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
s.close()
PY
}

check_health() { # check_health PORT -> 0 when /healthz shows the sim profile and sim devices, all ok
  local body
  body=$(curl -sf --max-time 10 "http://127.0.0.1:$1/healthz") || return 1
  echo "$body" > "$TW/healthz.json"
  "$PY" - "$TW/healthz.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
devices = h.get("devices", {})
bad = {k: d for k, d in devices.items()
       if d.get("backend") not in ("sim", "mock") or d.get("state") != "ok"}
if h.get("profile") != "sim" or not devices or bad:
    print(f"healthz not as expected: profile={h.get('profile')} bad devices={bad}")
    sys.exit(1)
PY
}

wait_boot() { # wait_boot NAME PORT CONSOLE_LOG TIMEOUT
  local name=$1 port=$2 console=$3 timeout=$4 start now started=0
  start=$(date +%s)
  while :; do
    now=$(date +%s)
    kill -0 "$QPID" 2>/dev/null || { tail -40 "$console" >&2; die "$name: QEMU exited early"; }
    sed 's/\x1b\[[0-9;]*m//g' "$console" 2>/dev/null > "$console.txt" || true
    if [ $started = 0 ] && grep -aq 'Started appliance.service' "$console.txt"; then
      started=1
      log "$name: systemd reports appliance.service started ($(( now - start )) s)"
    fi
    if [ $started = 1 ] && check_health "$port" >/dev/null 2>&1; then
      log "$name: /healthz answers with the sim backends ($(( now - start )) s)"
      cp "$TW/healthz.json" "$TW/healthz-$name.json"
      return 0
    fi
    if grep -aqE 'Failed to start appliance.service|appliance.service: Failed with result' "$console.txt"; then
      grep -a 'appliance' "$console.txt" | tail -20 >&2
      die "$name: appliance.service failed"
    fi
    if [ $(( now - start )) -ge "$timeout" ]; then
      tail -60 "$console.txt" >&2
      check_health "$port" >&2 || true
      die "$name: no healthy service after $timeout s"
    fi
    sleep 5
  done
}

GPU=()
VIRT_MEM=1024
if [ "$SCREENSHOT" = 1 ]; then
  VIRT_MEM=2048   # Chromium as well (a Pi 4 has 2-8 GB)
  # No 3D under QEMU: wlroots' GL renderer crashes on kms_swrast, pixman works. The data
  # partition's /etc/appliance/kiosk.env is where a site sets this too.
  DATA_OFF=$(sfdisk -J "$IMG" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][3]["start"] * 512)')
  printf 'WLR_RENDERER=pixman\n' > "$TW/kiosk.env"
  debugfs -w -R "write $TW/kiosk.env /appliance/etc/kiosk.env" "$IMG?offset=$DATA_OFF" \
    >/dev/null 2>&1 || die "cannot put kiosk.env on the data partition"
  GPU=(-device virtio-gpu-pci)
fi

screenshot() { # wait for the kiosk to draw its start page (kiosk_screen.py), twice in a row
  local start now seen=0
  start=$(date +%s)
  rm -f "$TW/kiosk.png"
  while :; do
    now=$(date +%s)
    if [ $(( now - start )) -ge "$SCREEN_TIMEOUT" ]; then
      [ -f "$TW/kiosk.png" ] && log "virt: last screenshot: $TW/kiosk.png ($(cat "$TW/kiosk.json" 2>/dev/null))"
      grep -a 'kiosk' "$CONSOLE.txt" | tail -10 >&2
      die "virt: the kiosk did not show its start page within $SCREEN_TIMEOUT s"
    fi
    sed 's/\x1b\[[0-9;]*m//g' "$CONSOLE" > "$CONSOLE.txt"
    if grep -aq 'Started kiosk.service' "$CONSOLE.txt"; then
      rm -f "$TW/kiosk.ppm"
      monitor "$TW/mon-virt.sock" "screendump $TW/kiosk.ppm"
      if [ -s "$TW/kiosk.ppm" ] && "$PY" "$HERE/kiosk_screen.py" "$TW/kiosk.ppm" "$TW/kiosk.png" > "$TW/kiosk.json"; then
        seen=$(( seen + 1 ))
        if [ $seen -ge 2 ]; then   # the same screen 10 s apart: drawn, not a page mid-load
          log "virt: kiosk.service (cage + Chromium) shows the start page ($(( now - start )) s): $(cat "$TW/kiosk.json")"
          if [ -n "${SCREENSHOT_SAVE:-}" ]; then cp "$TW/kiosk.png" "$SCREENSHOT_SAVE"; log "saved $SCREENSHOT_SAVE"; fi
          return 0
        fi
      else
        seen=0
      fi
    fi
    sleep 10
  done
}

# --- boot 1: -M virt ------------------------------------------------------------------------
PORT=$(free_port)
CONSOLE=$TW/console-virt.log
log "boot 1: qemu -M virt (UI port 8080 -> 127.0.0.1:$PORT)"
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m "$VIRT_MEM" -display none \
  -kernel "$TW/boot/$KERNEL" -initrd "$TW/boot/$INITRD" \
  -append "$NOCONSOLE console=ttyAMA0 $TEST_ARGS systemd.mask=serial-getty@ttyAMA0.service" \
  -drive if=none,id=sd,file="$IMG",format=raw -device virtio-blk-device,drive=sd \
  -netdev user,id=n,hostfwd=tcp:127.0.0.1:$PORT-:8080 -device virtio-net-device,netdev=n \
  "${GPU[@]}" -serial file:"$CONSOLE" -monitor unix:"$TW/mon-virt.sock",server,nowait &
QPID=$!
wait_boot virt "$PORT" "$CONSOLE" "$VIRT_TIMEOUT"
grep -aq 'Finished appliance-firstboot.service' "$CONSOLE.txt" || die "virt: provisioning did not finish"
if [ "$SCREENSHOT" = 1 ]; then screenshot; fi
log "virt: powering off (power button)"
monitor "$TW/mon-virt.sock" system_powerdown
for _ in $(seq 1 60); do kill -0 "$QPID" 2>/dev/null || break; sleep 2; done
if kill -0 "$QPID" 2>/dev/null; then
  tail -20 "$CONSOLE" >&2
  die "virt: the guest did not power off within 120 s"
fi
wait "$QPID" || true
QPID=""
grep -aq 'reboot: Power down' "$CONSOLE" || die "virt: no clean power-down on the console"
log "virt: powered off cleanly"

# The card after provisioning: secrets gone from the boot partition, the result left there.
mdir -b -i "$FAT" ::/ | sed 's|^::/||' > "$TW/boot-files.txt"
for f in provision-done.toml device_ed25519.pub provision-result.json; do
  grep -qx "$f" "$TW/boot-files.txt" || die "boot partition lacks $f after provisioning"
done
grep -qx provision.toml "$TW/boot-files.txt" && die "provision.toml still on the boot partition"
mcopy -n -i "$FAT" ::/provision-done.toml "$TW/"
if grep -qE '246810|boot-test-admin-password|boot-test-token-not-secret' "$TW/provision-done.toml"; then
  die "clear secrets left on the boot partition"
fi
log "card: provision.toml applied and scrubbed; device key and result on the boot partition"

# --- boot 2: -M raspi3b ---------------------------------------------------------------------
if [ "${SKIP_RASPI:-0}" != 1 ]; then
  size=$(stat -c %s "$IMG"); p2=1
  while [ $p2 -lt "$size" ]; do p2=$(( p2 * 2 )); done
  truncate -s "$p2" "$IMG"   # QEMU's SD card must be a power of two
  PORT=$(free_port)
  CONSOLE=$TW/console-raspi3b.log
  log "boot 2: qemu -M raspi3b (UI port 8080 -> 127.0.0.1:$PORT)"
  qemu-system-aarch64 -M raspi3b -m 1024 -display none \
    -kernel "$TW/boot/$KERNEL" -initrd "$TW/boot/$INITRD" -dtb "$TW/boot/bcm2837-rpi-3-b.dtb" \
    -append "$CMDLINE console=ttyS1,115200 $TEST_ARGS systemd.mask=serial-getty@ttyS1.service" \
    -drive file="$IMG",if=sd,format=raw \
    -netdev user,id=n,hostfwd=tcp:127.0.0.1:$PORT-:8080 -device usb-net,netdev=n \
    -serial null -serial file:"$CONSOLE" -monitor unix:"$TW/mon-raspi.sock",server,nowait &
  QPID=$!
  wait_boot raspi3b "$PORT" "$CONSOLE" "$RASPI_TIMEOUT"
  # QEMU's raspi3b has no power button: stop the machine.
  monitor "$TW/mon-raspi.sock" quit || kill "$QPID"
  wait "$QPID" 2>/dev/null || true
  QPID=""
  log "raspi3b: stopped"
fi
log "PASS ($(( $(date +%s) - T0 )) s)"
