#!/usr/bin/env bash
# Power-cut test of the store (`make powercut`, after `make image`): a real power cut, not a
# process kill. The SIGKILL test (tests/test_store_powerloss.py) leaves the kernel's page cache
# intact, so it proves nothing about fsync ordering; here the whole machine goes.
#
# Each cycle boots a small guest under QEMU (-M virt, TCG): the image's own kernel and initrd, with
# powercut/ appended to the initrd as a second cpio and rdinit=/powercut/init, so there is no
# systemd and no full boot. The guest mounts the image's root (slot A) read-only and the data
# disk (ext4, rw,noatime, as the image's fstab mounts /data) from a raw file attached with
# cache=none, and runs powercut/writer.py with the image's Python and appliance: the real Store
# saving captures as the service does (consent, save_capture), with a USB-style export every
# few captures. The writer prints each receipt on the serial console once its call returned. The
# host kills QEMU (SIGKILL: the guest's page cache and everything not yet written are lost) at a
# random moment, then checks a copy of the data disk: the ext4 journal replays and `e2fsck -fn`
# finds nothing, and powercut/check.py holds the disk to every line the writer printed (database
# integrity, every receipt and consent, every bundle verifying and decrypting, the device key,
# every export file). The next cycle boots on the cut disk as it was (the guest kernel replays the
# journal); every POWERCUT_FRESH_EVERY cycles a new disk starts, and then the cut lands within
# POWERCUT_EARLY_S of Store.open (first start: state folder, device key, schema).
#
#   image-build/powercut.sh [IMAGE.img.xz|IMAGE.img]   default: the newest in image-build/out/
# Environment: POWERCUT_CYCLES (30), POWERCUT_FRESH_EVERY (10), POWERCUT_MIN_S / POWERCUT_MAX_S
# (the cut, seconds after the writer is ready: 0.5 / 15), POWERCUT_EARLY_S (3), POWERCUT_SEED,
# POWERCUT_CACHE (none; or writethrough), POWERCUT_SMP (2), POWERCUT_EXPORT_EVERY (5),
# BOOT_TIMEOUT (per cycle until the writer is ready, 300 s), KEEP_WORK=1 (keep work/powercut).
# POWERCUT_SYNCHRONOUS=NORMAL tests the test: the store's commits are then not fsync'd, and the
# run must FAIL (receipts reported but lost); the store's own setting is FULL.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$HERE/out}
TW=${TEST_WORK:-$HERE/work/powercut}
CYCLES=${POWERCUT_CYCLES:-30}
FRESH_EVERY=${POWERCUT_FRESH_EVERY:-10}
MIN_S=${POWERCUT_MIN_S:-0.5}
MAX_S=${POWERCUT_MAX_S:-15}
EARLY_S=${POWERCUT_EARLY_S:-3}
SEED=${POWERCUT_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
CACHE=${POWERCUT_CACHE:-none}
SMP=${POWERCUT_SMP:-2}
EXPORT_EVERY=${POWERCUT_EXPORT_EVERY:-5}
SYNCHRONOUS=${POWERCUT_SYNCHRONOUS:-FULL}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
DATA_MB=512
PY=$REPO/.venv/bin/python
[ -x "$PY" ] || PY=python3
export PYTHONPATH=$REPO
T0=$(date +%s)
log() { printf '[powercut %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { echo "powercut: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

"$HERE/deps.sh"
for tool in qemu-system-aarch64 e2fsck debugfs mkfs.ext4 mcopy sfdisk; do
  command -v "$tool" >/dev/null || die "$tool missing (deps.sh installs it)"
done
IMG_SRC=${1:-$(ls -t "$OUT"/*.img.xz "$OUT"/*.img 2>/dev/null | head -1 || true)}
[ -n "$IMG_SRC" ] && [ -f "$IMG_SRC" ] || die "no image: run 'make image' first"
case "$CACHE" in none|writethrough|directsync) ;; *) die "POWERCUT_CACHE=$CACHE: use none, writethrough or directsync (a completed write must be in the disk file)" ;; esac

QPID=""
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill -KILL "$QPID" 2>/dev/null || true; fi
  if [ "${KEEP_WORK:-0}" != 1 ]; then rm -rf "$TW/card.img" "$TW/data.img" "$TW/check.img" "$TW/copy"; fi
}
trap cleanup EXIT
rm -rf "$TW"
mkdir -p "$TW/boot" "$TW/office"

# --- the image: its kernel and initrd, and slot A's root for the guest (read-only) ------------
log "decompressing $(basename "$IMG_SRC")"
case "$IMG_SRC" in
  *.xz) xz -T0 -dc "$IMG_SRC" | dd of="$TW/card.img" bs=1M iflag=fullblock conv=sparse status=none ;;
  *) cp --sparse=always "$IMG_SRC" "$TW/card.img" ;;
esac
BOOT_OFF=$(sfdisk -J "$TW/card.img" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["partitions"][0]["start"] * 512)')
FAT="$TW/card.img@@$BOOT_OFF"
KERNEL=$(mdir -b -i "$FAT" ::/ | sed 's|^::/||' | grep -E '^vmlinuz-' | sort -V | tail -1)
INITRD=$(mdir -b -i "$FAT" ::/ | sed 's|^::/||' | grep -E '^initrd\.img-' | sort -V | tail -1)
[ -n "$KERNEL" ] && [ -n "$INITRD" ] || die "no vmlinuz-*/initrd.img-* on the boot partition"
mcopy -n -i "$FAT" "::/$KERNEL" "::/$INITRD" "$TW/boot/"

# --- an office key for this run (the guest gets the public half in its initrd) ----------------
"$PY" -c 'import sys; from appliance.store.keys import generate_office_keypair; generate_office_keypair(sys.argv[1])' "$TW/office"
cp "$HERE/powercut/init" "$HERE/powercut/writer.py" "$TW/office/office_x25519.pub" "$TW/boot/"
"$PY" "$HERE/powercut/initrd.py" "$TW/boot/$INITRD" "$TW/initrd.img" \
  "$TW/boot/init" "$TW/boot/writer.py" "$TW/boot/office_x25519.pub"
log "kernel $KERNEL, initrd $INITRD + powercut/; $CYCLES cycles, seed $SEED, cache=$CACHE, -smp $SMP, synchronous=$SYNCHRONOUS"
RANDOM=$SEED
rand_between() { awk -v a="$1" -v b="$2" -v r="$RANDOM" 'BEGIN { printf "%.2f", a + (b - a) * r / 32767 }'; }

wait_line() { # wait_line CONSOLE PATTERN TIMEOUT: 0 once the console shows PATTERN
  local start=$SECONDS
  while ! grep -aq "$2" "$1" 2>/dev/null; do
    if ! kill -0 "$QPID" 2>/dev/null; then
      tail -30 "$1" >&2
      die "QEMU ended before '$2' appeared"
    fi
    if grep -aq 'PC error' "$1" 2>/dev/null; then grep -a 'PC error' "$1" >&2; die "the writer failed"; fi
    [ $(( SECONDS - start )) -lt "$3" ] || { tail -30 "$1" >&2; die "no '$2' within $3 s"; }
    sleep 0.1
  done
}

gen=0
total_saved=0
cycle_times=()
for (( i = 1; i <= CYCLES; i++ )); do
  c0=$(now)
  fresh=0
  if (( (i - 1) % FRESH_EVERY == 0 )); then   # a new data disk, as build.sh makes /data
    gen=$(( gen + 1 )); fresh=1
    mkdir -p "$TW/disk-$gen"
    rm -f "$TW/data.img"
    truncate -s "${DATA_MB}M" "$TW/data.img"
    mkfs.ext4 -q -F -L appdata -m 1 "$TW/data.img"
  fi
  CONSOLE=$TW/disk-$gen/console-$i.log
  qemu-system-aarch64 -M virt -cpu cortex-a72 -smp "$SMP" -m 512 -nodefaults -display none \
    -no-reboot -kernel "$TW/boot/$KERNEL" -initrd "$TW/initrd.img" \
    -append "console=ttyAMA0 rdinit=/powercut/init quiet panic=-1 powercut.export_every=$EXPORT_EVERY powercut.synchronous=$SYNCHRONOUS" \
    -drive if=none,id=root,file="$TW/card.img",format=raw,readonly=on \
    -device virtio-blk-device,drive=root,serial=pcroot \
    -drive if=none,id=data,file="$TW/data.img",format=raw,cache="$CACHE" \
    -device virtio-blk-device,drive=data,serial=pcdata \
    -serial file:"$CONSOLE" &
  QPID=$!
  if [ $fresh = 1 ]; then
    wait_line "$CONSOLE" 'PC opening' "$BOOT_TIMEOUT"
    delay=$(rand_between 0 "$EARLY_S"); what="Store.open on a new disk"
  else
    wait_line "$CONSOLE" 'PC ready' "$BOOT_TIMEOUT"
    delay=$(rand_between "$MIN_S" "$MAX_S"); what="the writer ready"
  fi
  t_ready=$(now)
  boot_s=$(elapsed "$c0" "$t_ready")
  sleep "$delay"
  kill -KILL "$QPID"
  wait "$QPID" 2>/dev/null || true
  QPID=""
  saved=$(grep -ac '^PC saved' "$CONSOLE" || true)
  total_saved=$(( total_saved + saved ))

  # --- the disk after the cut: a copy, journal replayed, then checked ---------------------------
  cp --sparse=always "$TW/data.img" "$TW/check.img"
  e2fsck -E journal_only -y "$TW/check.img" >"$TW/disk-$gen/e2fsck-$i.log" 2>&1 || true
  if ! e2fsck -fn "$TW/check.img" >>"$TW/disk-$gen/e2fsck-$i.log" 2>&1; then
    cat "$TW/disk-$gen/e2fsck-$i.log" >&2
    die "cycle $i: e2fsck -fn found errors after the journal replay"
  fi
  rm -rf "$TW/copy"
  mkdir -p "$TW/copy"   # rdump makes copy/state and copy/export (when they exist on the disk)
  debugfs -R "rdump /appliance/state $TW/copy" "$TW/check.img" >/dev/null 2>&1 || true
  debugfs -R "rdump /export $TW/copy" "$TW/check.img" >/dev/null 2>&1 || true
  mkdir -p "$TW/copy/state" "$TW/copy/export"
  if ! result=$("$PY" "$HERE/powercut/check.py" --state "$TW/copy/state" --export "$TW/copy/export" \
      --office-key "$TW/office/office_x25519.pem" "$TW/disk-$gen"/console-*.log); then
    echo "$result" >&2
    die "cycle $i: the disk lost what the writer had reported (seed $SEED)"
  fi
  promised=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get("promised", 0))' "$result")
  ct=$(elapsed "$c0" "$(now)")
  cycle_times+=("$ct")
  log "cycle $i/$CYCLES (disk $gen): boot ${boot_s} s, cut $delay s after $what; $saved receipts this boot, $promised on this disk, all there; fsck clean; cycle ${ct} s"
done
"$PY" - "$TW/summary.json" "$SEED" "$CACHE" "$total_saved" "${cycle_times[@]}" <<'PY'
import json, platform, statistics, sys
out, seed, cache, saved, *times = sys.argv[1:]
t = [float(x) for x in times]
s = {"cycles": len(t), "seed": int(seed), "cache": cache, "receipts_reported": int(saved),
     "cycle_s_mean": round(statistics.mean(t), 1), "cycle_s_min": min(t), "cycle_s_max": max(t),
     "host": platform.node(), "cpus": __import__("os").cpu_count()}
json.dump(s, open(out, "w"), indent=2)
print(json.dumps(s))
PY
log "PASS: $CYCLES power cuts, $total_saved receipts reported, none lost ($(( $(date +%s) - T0 )) s)"
