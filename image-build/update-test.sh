#!/usr/bin/env bash
# A/B system update test under QEMU (`make update-test`, after `make image`): the built image on
# -M virt with UEFI (AAVMF) and GRUB, bundles made by bundle.sh from the image itself and served
# by the office hub (`appliance hub serve`, signed manifests, staged on /updates), the kiosk driven through
# `appliance update --poll` exactly as its timer does, and a second disk standing in for a
# technician's USB stick (`appliance update --from`). Every guest reboot ends QEMU (-no-reboot);
# the test then reads the card (grubenv, state.json) and starts the next boot.
#
#   boot 1  slot A, first boot: refusals (manifest by another key; from the stick: bundle by
#           another key, tampered bundle); then the GOOD release from the stick, and the power
#           cut (QEMU killed) once RAUC is writing slot B
#   boot 2  slot A still boots, healthy, the marker written before the cut still there; the
#           BROKEN release (its service cannot start) downloaded from the hub and installed into B
#           (then, on the host: the data partition checks clean, the database is intact)
#   boot 3  slot B on trial: unhealthy within confirm_within_s -> marked bad, reboot
#   boot 4  slot A again, the failed version reported (rolled_back); the GOOD release from the hub
#   boot 5  slot B on trial: healthy -> marked good
#   boot 6  slot B again: it stays
#
#   image-build/update-test.sh [IMAGE.img.xz|IMAGE.img]   default: the newest in image-build/out/
# Environment: BOOT_TIMEOUT (seconds per boot, default 1800), KEEP_WORK=1 (keep work/update-test),
# HOST_ONLY=1 (development: bundles, stick, hub and card hooks, then stop before booting).
# Test-only hooks (kernel command line in grub.cfg, a step script on the data partition) are put
# on this test's copy of the card; the image itself has none. Timings: docs/updates.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$HERE/out}
TW=${TEST_WORK:-$HERE/work/update-test}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-1800}
PY=$REPO/.venv/bin/python
APP=$REPO/.venv/bin/appliance
T0=$(date +%s)
log() { printf '[update-test %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { echo "update-test: FAIL: $*" >&2; exit 1; }
pass() { log "ok: $*"; }

"$HERE/deps.sh"
[ -x "$APP" ] || die "no $APP: run 'make setup' first"
for tool in rauc mksquashfs openssl debugfs; do
  command -v "$tool" >/dev/null || die "$tool missing (deps.sh installs it)"
done
EFI_CODE=/usr/share/AAVMF/AAVMF_CODE.fd
[ -f "$EFI_CODE" ] || die "no $EFI_CODE (qemu-efi-aarch64)"
IMG_SRC=${1:-$(ls -t "$OUT"/*.img.xz "$OUT"/*.img 2>/dev/null | head -1 || true)}
[ -n "$IMG_SRC" ] && [ -f "$IMG_SRC" ] || die "no image: run 'make image' first"

QPID=""
HPID=""
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || true; fi
  if [ -n "$HPID" ] && kill -0 "$HPID" 2>/dev/null; then kill "$HPID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$TW/disk.img" "$TW/releases" "$TW/bundles" "$TW/stick"*; fi
}
trap cleanup EXIT
rm -rf "$TW"
mkdir -p "$TW/keys" "$TW/releases" "$TW/boot" "$TW/stick" "$TW/hub"

log "decompressing $(basename "$IMG_SRC")"
case "$IMG_SRC" in
  *.xz) xz -T0 -dc "$IMG_SRC" | dd of="$TW/disk.img" bs=1M iflag=fullblock conv=sparse status=none ;;
  *) cp --sparse=always "$IMG_SRC" "$TW/disk.img" ;;
esac

# --- releases: versions above the image's, bundles signed by the office's (test) key ----------
V0=$("$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$REPO/pyproject.toml")
bump() { "$PY" -c 'import sys; a=[int(x) for x in sys.argv[1].split(".")]; a[-1]+=int(sys.argv[2]); print(".".join(map(str,a)))' "$V0" "$1"; }
V_GOOD=$(bump 1); V_BROKEN=$(bump 2); V_FOREIGN=$V_GOOD   # foreign: the good release, other key
for who in office other; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj "/CN=update-test $who (TEST)" -keyout "$TW/keys/$who.key.pem" \
    -out "$TW/keys/$who.cert.pem" 2>/dev/null
done
log "bundles from $(basename "$IMG_SRC"): good $V_GOOD, broken $V_BROKEN, $V_GOOD re-signed by another key"
mk_bundle() { # mk_bundle VERSION KEYNAME [BREAK_SERVICE]
  OUT="$TW/bundles" VERSION=$1 UPDATE_KEY="$TW/keys/$2.key.pem" UPDATE_CERT="$TW/keys/$2.cert.pem" \
    BREAK_SERVICE=${3:-0} BUNDLE_WORK="$TW/bundle-work" "$HERE/bundle.sh" "$TW/disk.img" >/dev/null
}
log "card decompressed"
mk_bundle "$V_GOOD" office
log "bundle $V_GOOD made"
mk_bundle "$V_BROKEN" office 1
log "bundle $V_BROKEN (broken) made"
# Another key's bundle: the good one re-signed (no second squashfs). The new signature is
# checked against the new signer's certificate (--signing-keyring); the input and the output
# must be different files.
rauc resign --cert="$TW/keys/other.cert.pem" --key="$TW/keys/other.key.pem" \
  --keyring="$TW/keys/office.cert.pem" --signing-keyring="$TW/keys/other.cert.pem" \
  "$TW/bundles/cccd-kiosk-$V_GOOD.raucb" "$TW/stick/foreign.raucb" >"$TW/resign.log" 2>&1 \
  || { cat "$TW/resign.log" >&2; die "rauc resign failed"; }
mv "$TW/bundles/cccd-kiosk-$V_GOOD.raucb" "$TW/bundles/cccd-kiosk-$V_BROKEN-broken.raucb" "$TW/releases/"
GOOD=$TW/releases/cccd-kiosk-$V_GOOD.raucb
cp "$GOOD" "$TW/stick/tampered.raucb"
"$PY" - "$TW/stick/tampered.raucb" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as fh:   # one byte in the middle of the squashfs payload
    fh.seek(os.path.getsize(sys.argv[1]) // 2)
    b = fh.read(1)
    fh.seek(-1, 1)
    fh.write(bytes([b[0] ^ 0xFF]))
PY
rauc info --keyring="$TW/keys/office.cert.pem" "$TW/stick/tampered.raucb" >/dev/null 2>&1 \
  && die "the tampered bundle still verifies on the build machine"
log "bundle size: $(du -m "$GOOD" | cut -f1) MB; bundles made in $(( $(date +%s) - T0 )) s"

# The office publishes both releases for the hub (one stage: all kiosks), as docs/updates.md
# says; another office's manifest (its own key and bundle) goes on the stick.
for b in "$GOOD" "$TW/releases/cccd-kiosk-$V_BROKEN-broken.raucb"; do
  "$APP" update-manifest "$b" --key "$TW/keys/office.key.pem" --keyring "$TW/keys/office.cert.pem" \
    --url "$(basename "$b")" --channel stable --stages 100 --out-dir "$TW/releases" --json >/dev/null
done
"$APP" update-manifest "$TW/stick/foreign.raucb" --key "$TW/keys/other.key.pem" \
  --keyring "$TW/keys/other.cert.pem" --url foreign.raucb --channel stable --default-pct 100 \
  --out "$TW/stick/foreign-manifest.json" --json >/dev/null
# The technician's USB stick (a second disk, ext4 labelled USBSTICK): the refused bundles, the
# foreign manifest, and the good bundle for the install the power cut stops.
ln "$GOOD" "$TW/stick/good.raucb"
mkfs.ext4 -q -F -L USBSTICK -m 0 -O ^has_journal -N 64 -d "$TW/stick" "$TW/stick.img" \
  "$(( $(du -sm "$TW/stick" | cut -f1) + 64 ))M"
rm -rf "$TW/stick"

# The office hub (appliance hub serve, SQLite) serving the releases folder; a technician
# stages each release on its /updates page before the boot that polls for it.
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HUBURL=http://127.0.0.1:$PORT
cat > "$TW/hub/hub.toml" <<EOF
[hub]
database_url = "sqlite:///$TW/hub/hub.db"
host = "127.0.0.1"
port = $PORT
secure_cookies = false   # plain HTTP on loopback (the guest reaches it as 10.0.2.2)
update_keyring = "$TW/keys/office.cert.pem"
releases_dir = "$TW/releases"
EOF
"$PY" -c 'import secrets; print(secrets.token_urlsafe(16))' > "$TW/hub/tech-password"
"$APP" hub migrate --config "$TW/hub/hub.toml" --json >/dev/null
"$APP" hub officer add tech --role technician --password-file "$TW/hub/tech-password" \
  --config "$TW/hub/hub.toml" --json >/dev/null
"$APP" hub serve --config "$TW/hub/hub.toml" >"$TW/hub/serve.log" 2>&1 &
HPID=$!
for _ in $(seq 100); do
  curl -fs "$HUBURL/healthz" >/dev/null 2>&1 && break
  kill -0 "$HPID" 2>/dev/null || { cat "$TW/hub/serve.log" >&2; die "the hub did not start"; }
  sleep 0.2
done
stage() { # stage VERSION: the technician rolls VERSION out to 100 % on the hub's /updates page
  "$PY" - "$HUBURL" "$TW/hub/tech-password" "$1" <<'PY' || die "staging $1 on the hub failed"
import http.cookiejar, json, re, sys, urllib.parse, urllib.request

hub, password_file, version = sys.argv[1:4]
web = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
def csrf(path):
    return re.search(r'name="csrf" value="([^"]+)"', web.open(hub + path).read().decode()).group(1)
def post(path, **fields):
    web.open(hub + path, urllib.parse.urlencode(fields).encode())
post("/login", username="tech", password=open(password_file).read().strip(), csrf=csrf("/login"))
post("/updates/stage", csrf=csrf("/updates"), channel="stable", version=version, stage="100")
served = json.loads(web.open(hub + "/update/stable/manifest.json").read())
if json.loads(served["payload"])["version"] != version:
    sys.exit(f"the hub does not serve {version}")
PY
  log "hub: $1 staged to 100 % by the technician"
}

# --- the card: provisioned like a site's, plus the test hooks -------------------------------
DISK=$TW/disk.img
part_off() { sfdisk -J "$DISK" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][$1]['start'] * 512)"; }
FAT="$DISK@@$(part_off 0)"
DATA_OFF=$(part_off 3)
DATA="$DISK?offset=$DATA_OFF"
"$PY" - "$TW/boot" "$PORT" <<'PY'
import sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

out = Path(sys.argv[1])
pub = X25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
(out / "office_x25519.pub").write_bytes(pub)
(out / "provision.toml").write_text('''# update-test: simulated devices, a short trial window.
profile = "sim"
device_name = "qemu-update-test"

[office]
public_key = "office_x25519.pub"
upload_url = "https://office.invalid/bundles"
upload_token = "update-test-token-not-secret"

[time]
ntp = ["ntp.invalid"]

[operator]
pin = "246810"
admin_password = "update-test-admin-password"

[appliance.update]
confirm_within_s = 60.0
manifest_url = "http://10.0.2.2:@PORT@/update/stable/manifest.json"
'''.replace("@PORT@", sys.argv[2]))
PY
cp "$TW/keys/office.cert.pem" "$TW/boot/update-keyring.pem"
mcopy -o -i "$FAT" "$TW/boot/provision.toml" "$TW/boot/office_x25519.pub" \
  "$TW/boot/update-keyring.pem" ::/
mcopy -n -i "$FAT" ::/grub/grub.cfg "$TW/grub.cfg"
HOOKS="console=ttyAMA0 systemd.show_status=1 systemd.status_unit_format=name"
HOOKS="$HOOKS systemd.mask=serial-getty@ttyAMA0.service systemd.run=/etc/appliance/update-test-step"
HOOKS="$HOOKS systemd.run_success_action=none systemd.run_failure_action=none"
# The image's /etc/systemd/system/default.target (multi-user) outranks the generator's: boot
# into the step unit explicitly (the step script then starts multi-user.target itself).
HOOKS="$HOOKS systemd.unit=kernel-command-line.service"
HOOKS="$HOOKS systemd.mask=kiosk.service"   # no browser needed (/ is checked over HTTP); saves CPU
sed -i "s|^set CMDLINE=\"\\(.*\\)\"|set CMDLINE=\"\\1 $HOOKS\"|" "$TW/grub.cfg"
grep -q "systemd.run=" "$TW/grub.cfg" || die "could not add the test hooks to grub.cfg"
mcopy -o -i "$FAT" "$TW/grub.cfg" ::/grub/grub.cfg

# The step script (test only): starts the normal boot, counts the boot, then does what
# /etc/appliance/update-test-plan lists for it (written once: nothing is written to the data
# partition from outside after a power cut, when its journal still needs the guest), printing UPDATE-TEST lines on the console (UPDATE-TEST-T: the guest's
# uptime after each step, for the timings).
cat > "$TW/update-test-step" <<EOF
#!/bin/sh
exec >/dev/ttyAMA0 2>&1
A=/opt/appliance/venv/bin/appliance
STICK=/run/update-test-stick
say() { echo "UPDATE-TEST: \$*"; }
t() { echo "UPDATE-TEST-T: \$(cut -d' ' -f1 /proc/uptime) \$*"; }
t start
# counted and reported before the normal boot: a failing trial reboots before multi-user is up
n=\$(( \$(cat /etc/appliance/update-test-boot 2>/dev/null || echo 0) + 1 ))
echo \$n > /etc/appliance/update-test-boot
sync
say "boot \$n"
say "booted slot=\$(tr ' ' '\n' </proc/cmdline | sed -n 's/^rauc.slot=//p')"
systemctl start multi-user.target
t multi-user
say "status \$(\$A update --status --json 2>/dev/null | tr -d '\n')"
written() { # sectors written to slot B's partition since boot
  awk '{print \$7}' "/sys/class/block/\$(basename "\$(readlink -f /dev/disk/by-partuuid/0cccd0a1-03)")/stat"
}
for step in \$(sed -n "s/^\$n //p" /etc/appliance/update-test-plan); do
  case "\$step" in
    poll) say "poll hub \$(\$A update --poll --no-reboot --json 2>/dev/null | tr -d '\n')" ;;
    pollfile-*) name=\${step#pollfile-}   # a manifest on the stick instead of the hub's
      say "poll \$name \$(APPLIANCE_UPDATE_MANIFEST_URL=file://\$STICK/\$name.json \$A update --poll --no-reboot --json 2>/dev/null | tr -d '\n')" ;;
    stick) mkdir -p \$STICK && mount -o ro /dev/disk/by-label/USBSTICK \$STICK && say "stick mounted" ;;
    usb-*) name=\${step#usb-}
      say "usb \$name \$(\$A update --from \$STICK/\$name.raucb --no-reboot --json 2>/dev/null | tr -d '\n')" ;;
    cut-*) name=\${step#cut-}   # an install the host cuts: say when RAUC is writing slot B
      echo "update-test marker \$(cat /proc/sys/kernel/random/uuid)" > /var/lib/appliance/update-test-marker
      sync
      say "marker \$(cat /var/lib/appliance/update-test-marker)"
      w0=\$(written)
      \$A update --from \$STICK/\$name.raucb --no-reboot --json >/run/cut.json 2>&1 &
      pid=\$!
      while kill -0 \$pid 2>/dev/null; do
        if [ \$(( \$(written) - w0 )) -ge 131072 ]; then say "slot-writing \$name"; break; fi
        sleep 0.5
      done
      wait \$pid
      say "cut-finished \$name \$(tr -d '\n' </run/cut.json)" ;;
    health) say "healthz \$(python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:8080/healthz").read().decode())')" ;;
    reboot) t "\$step"; say "done"; systemctl reboot; exit 0 ;;
    poweroff) t "\$step"; say "done"; systemctl poweroff; exit 0 ;;
  esac
  t "\$step"
done
say "done"
EOF
debugfs -w -R "write $TW/update-test-step /appliance/etc/update-test-step" "$DATA" >/dev/null 2>&1
debugfs -w -R "set_inode_field /appliance/etc/update-test-step mode 0100755" "$DATA" >/dev/null 2>&1
# What each boot does (the boots below check what it did).
cat > "$TW/plan" <<EOF
1 stick pollfile-foreign-manifest usb-foreign usb-tampered cut-good
2 health poll reboot
4 poll reboot
5 health reboot
6 poweroff
EOF
debugfs -w -R "write $TW/plan /appliance/etc/update-test-plan" "$DATA" >/dev/null 2>&1
grubenv() { mtype -i "$FAT" ::/grub/grubenv | tr -d '#' | grep '='; }
genv() { grubenv | sed -n "s/^$1=//p"; }
state() { debugfs -R "cat /appliance/state/update/state.json" "$DATA" 2>/dev/null; }
jq_py() { "$PY" -c "import json,sys; d=json.loads(sys.stdin.read() or '{}'); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
[ "$(genv ORDER)" = "A B" ] && [ "$(genv A_OK)" = 1 ] && [ "$(genv B_OK)" = 0 ] \
  || die "the flashed card's grubenv is not A-only: $(grubenv | tr '\n' ' ')"

# --- one boot -------------------------------------------------------------------------------
BOOT=0
BOOT_T0=0
boot() { # boot NAME: start QEMU (the card, the stick); wait_end or cut_power ends it
  BOOT=$(( BOOT + 1 ))
  CONSOLE=$TW/console-$BOOT-$1.log
  [ -f "$TW/efi-vars.fd" ] || cp /usr/share/AAVMF/AAVMF_VARS.fd "$TW/efi-vars.fd"
  log "boot $BOOT ($1)"
  BOOT_T0=$(date +%s)
  qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -display none -no-reboot \
    -drive if=pflash,format=raw,readonly=on,file="$EFI_CODE" \
    -drive if=pflash,format=raw,file="$TW/efi-vars.fd" \
    -drive if=none,id=sd,file="$DISK",format=raw -device virtio-blk-pci,drive=sd,bootindex=0 \
    -drive if=none,id=stick,file="$TW/stick.img",format=raw,readonly=on \
    -device virtio-blk-pci,drive=stick \
    -netdev user,id=n -device virtio-net-pci,netdev=n,romfile= \
    -serial file:"$CONSOLE" &
  QPID=$!
}
console_txt() { touch "$CONSOLE" && sed 's/\x1b\[[0-9;]*m//g' "$CONSOLE" | tr -d '\r' > "$CONSOLE.txt"; }
timings() { # the guest's step times (uptime, seconds) on one line
  grep -a '^UPDATE-TEST-T: ' "$CONSOLE.txt" | awk '{printf "%s@%.0fs ", $3, $2}'
}
ended() {
  QPID=""
  console_txt
  log "boot $BOOT ended after $(( $(date +%s) - BOOT_T0 )) s; guest: $(timings)"
}
wait_end() { # wait_end: the guest rebooted/powered off (QEMU exited); fails on the time limit
  while kill -0 "$QPID" 2>/dev/null; do
    if [ $(( $(date +%s) - BOOT_T0 )) -ge "$BOOT_TIMEOUT" ]; then
      console_txt
      tail -40 "$CONSOLE.txt" >&2
      die "boot $BOOT: still running after $BOOT_TIMEOUT s"
    fi
    sleep 1
  done
  wait "$QPID" 2>/dev/null || true
  ended
}
line() { grep -a "^UPDATE-TEST: $1" "$CONSOLE.txt" | tail -1 | sed "s/^UPDATE-TEST: $1 *//"; }
expect_slot() { [ "$(line 'boot ')" = "$BOOT" ] && [ "$(line 'booted slot=')" = "$1" ] \
  || { tail -60 "$CONSOLE.txt" >&2; die "boot $BOOT: expected slot $1"; }; }
refused() { # refused poll|usb NAME CODE
  local got
  got=$(line "$1 $2" | jq_py "d.get('error', {}).get('code')")
  [ "$got" = "$3" ] || die "boot $BOOT: $1 $2 gave ${got} ($(line "$1 $2")), expected refusal $3"
  pass "$1 $2 refused ($3), nothing installed"
}
data_checks() { # the data partition checks clean and the store's database is intact
  dd if="$DISK" of="$TW/data.ext4" bs=1M skip=$(( DATA_OFF / 1048576 )) \
    count=$(( $(sfdisk -J "$DISK" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['partitiontable']['partitions'][3]['size'])") / 2048 )) status=none
  e2fsck -fn "$TW/data.ext4" >"$TW/e2fsck.log" 2>&1 || { cat "$TW/e2fsck.log" >&2; die "the data partition does not check clean"; }
  debugfs -R "dump /appliance/state/appliance.db $TW/appliance.db" "$TW/data.ext4" >/dev/null 2>&1
  "$PY" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); r=c.execute('PRAGMA integrity_check').fetchone()[0]; sys.exit(r != 'ok')" "$TW/appliance.db" \
    || die "the store's database is damaged"
  rm -f "$TW/data.ext4" "$TW/appliance.db"
}

if [ "${HOST_ONLY:-0}" = 1 ]; then   # development: the host's side only (any card), no QEMU
  stage "$V_BROKEN"
  log "HOST_ONLY: stopping before the first boot"
  exit 0
fi

# boot 1: A; refusals; the good release from the stick, power cut while RAUC writes slot B
boot first-A
while :; do   # poll the console for the moment RAUC writes slot B (then cut at once)
  console_txt
  grep -aq '^UPDATE-TEST: slot-writing good' "$CONSOLE.txt" && break
  grep -aq '^UPDATE-TEST: cut-finished' "$CONSOLE.txt" && die "boot 1: the install ended before the cut: $(line cut-finished)"
  kill -0 "$QPID" 2>/dev/null || { tail -40 "$CONSOLE.txt" >&2; die "boot 1: QEMU ended before the install wrote slot B"; }
  [ $(( $(date +%s) - BOOT_T0 )) -lt "$BOOT_TIMEOUT" ] || { tail -40 "$CONSOLE.txt" >&2; die "boot 1: the install did not start"; }
  sleep 0.5
done
kill -9 "$QPID"
wait "$QPID" 2>/dev/null || true
ended
expect_slot A
# booted into the step unit, the console does not show firstboot's line: read its outcome instead
debugfs -R "cat /appliance/state/provision-status.json" "$DATA" 2>/dev/null | grep -q '"ok": *true' \
  || die "boot 1: provisioning did not finish (no ok provision-status.json on the data partition)"
refused poll foreign-manifest foreign_key
refused usb foreign foreign_key
refused usb tampered tampered
MARKER=$(line marker)
[ -n "$MARKER" ] || die "boot 1: no marker written before the cut"
[ "$(genv ORDER)" = "A B" ] && [ "$(genv B_OK)" = 0 ] \
  || die "boot 1: grubenv after the cut is not A first with B unbootable: $(grubenv | tr '\n' ' ')"
pass "power cut (QEMU killed) while RAUC was writing slot B; grubenv: $(grubenv | tr '\n' ' ')"

# boot 2: A still boots, healthy, the marker there; the broken release from the hub into B
stage "$V_BROKEN"
boot after-cut-A
wait_end
expect_slot A
line healthz | jq_py "all(v['state'] == 'ok' for v in d['devices'].values()) and 'schema_version' in d['store']" \
  | grep -qx True || die "boot 2: not healthy after the power cut: $(line healthz)"
[ "$(debugfs -R "cat /appliance/state/update-test-marker" "$DATA" 2>/dev/null)" = "$MARKER" ] \
  || die "boot 2: the marker written before the power cut is gone"
data_checks
pass "slot A boots after the power cut, healthy; data partition checks clean, marker and database intact"
[ "$(line 'poll hub' | jq_py "d.get('action')")" = installed ] \
  || die "boot 2: broken release not installed: $(line 'poll hub')"
[ "$(genv ORDER)" = "B A" ] && [ "$(genv B_OK)" = 1 ] && [ "$(genv B_TRY)" = 0 ] \
  || die "boot 2: grubenv after install: $(grubenv | tr '\n' ' ')"
pass "release $V_BROKEN downloaded from the hub and installed into slot B; B is next"

# boot 3: B on trial, its service cannot start -> marked bad, reboot (by the confirm service)
boot trial-broken-B
wait_end
expect_slot B
# the confirm service reboots as soon as it has marked the slot bad: read what it recorded
grep -aq "slot B not healthy within" "$CONSOLE.txt" || { tail -40 "$CONSOLE.txt" >&2; die "boot 3: trial not judged unhealthy"; }
[ "$(state | jq_py "d['last']['result'] + ' ' + d['last']['version']")" = "failed $V_BROKEN" ] \
  || die "boot 3: state.json does not record the failed trial: $(state | tr -d '\n')"
[ "$(genv B_OK)" = 0 ] || die "boot 3: B still bootable: $(grubenv | tr '\n' ' ')"
pass "trial boot of $V_BROKEN unhealthy within confirm_within_s: marked bad, rebooted"

# boot 4: back on A, the failure reported; then the good release from the hub into B
stage "$V_GOOD"
boot rollback-A
wait_end
expect_slot A
st=$(line status)
[ "$(echo "$st" | jq_py "d['last']['result'] + ' ' + d['last']['version']")" = "rolled_back $V_BROKEN" ] \
  || die "boot 4: the rollback is not reported: $st"
pass "back on slot A; --status reports $V_BROKEN rolled_back"
[ "$(line 'poll hub' | jq_py "d.get('action')")" = installed ] || die "boot 4: $(line 'poll hub')"
pass "release $V_GOOD downloaded from the hub and installed into slot B"

# boot 5: B on trial, healthy -> marked good; a plain reboot
boot trial-good-B
wait_end
expect_slot B
grep -aq '"action": "marked_good"' "$CONSOLE.txt" || { tail -40 "$CONSOLE.txt" >&2; die "boot 5: not marked good"; }
[ "$(genv B_OK)" = 1 ] && [ "$(genv B_TRY)" = 0 ] && [ "$(genv ORDER)" = "B A" ] \
  || die "boot 5: grubenv: $(grubenv | tr '\n' ' ')"
pass "release $V_GOOD healthy on slot B within confirm_within_s: marked good"

# boot 6: B stays, running the good release
boot stays-B
wait_end
expect_slot B
[ "$(line status | jq_py "d['running_version'] + ' ' + d['last']['result']")" = "$V_GOOD good" ] \
  || die "boot 6: $(line status)"
pass "the next boot stays on slot B, release $V_GOOD"
log "PASS ($(( $(date +%s) - T0 )) s)"
