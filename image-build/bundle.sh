#!/usr/bin/env bash
# `make bundle`: a signed RAUC bundle (plain format) of the image's root file system, for
# `appliance update --from FILE.raucb` and the hub. docs/updates.md, "Publishing a release".
#
#   image-build/bundle.sh [IMAGE.img.xz|IMAGE.img]     default: the newest in image-build/out/
# Environment:
#   UPDATE_KEY, UPDATE_CERT   the office's update-signing key and certificate (PEM). Without them
#                             a throw-away TEST key is made in work/test-keys (never for a site).
#   VERSION                   the release version in the bundle and in its /usr/lib/cccd-release
#                             (default: the image's)
#   OUT                       output folder (default image-build/out)
#   BREAK_SERVICE=1           test only: appliance.service cannot start in this bundle's root
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${OUT:-$HERE/out}
BW=${BUNDLE_WORK:-$HERE/work/bundle}
COMPATIBLE=cccd-kiosk-arm64
die() { echo "bundle: $*" >&2; exit 1; }
log() { echo "[bundle] $*"; }
for tool in rauc mksquashfs debugfs dumpe2fs sfdisk; do
  command -v "$tool" >/dev/null || die "$tool missing (apt-get install rauc squashfs-tools e2fsprogs fdisk)"
done
IMG=${1:-$(ls -t "$OUT"/*.img.xz "$OUT"/*.img 2>/dev/null | head -1 || true)}
[ -n "$IMG" ] && [ -f "$IMG" ] || die "no image: run 'make image' first"
mkdir -p "$BW/content" "$OUT"

KEY=${UPDATE_KEY:-}
CERT=${UPDATE_CERT:-}
if [ -z "$KEY" ] || [ -z "$CERT" ]; then
  KEYS=$HERE/work/test-keys
  KEY=$KEYS/test-update.key.pem
  CERT=$KEYS/test-update.cert.pem
  if [ ! -f "$KEY" ]; then
    mkdir -p "$KEYS"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
      -subj "/CN=TEST update signing (not for a site)" -keyout "$KEY" -out "$CERT" 2>/dev/null
  fi
  log "no UPDATE_KEY/UPDATE_CERT: signing with the TEST key $CERT"
fi

# The root file system of slot A, cut out of the image (no loop devices, no mounts).
ROOT=$BW/content/root.ext4
rm -f "$ROOT"
case "$IMG" in
  *.xz)
    RAW=$BW/image.img
    xz -T0 -dc "$IMG" | dd of="$RAW" bs=1M iflag=fullblock conv=sparse status=none ;;
  *) RAW=$IMG ;;   # read in place
esac
read -r START SIZE < <(sfdisk -J "$RAW" | python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"][1]; print(p["start"], p["size"])')
dd if="$RAW" of="$ROOT" bs=1M iflag=skip_bytes,count_bytes skip=$(( START * 512 )) \
  count=$(( SIZE * 512 )) conv=sparse status=none
[ "$RAW" = "$IMG" ] || rm -f "$RAW"
blocks=$(dumpe2fs -h "$ROOT" 2>/dev/null | awk -F: '/^Block count/{gsub(/ /,"",$2); print $2}')
bsize=$(dumpe2fs -h "$ROOT" 2>/dev/null | awk -F: '/^Block size/{gsub(/ /,"",$2); print $2}')
truncate -s $(( blocks * bsize )) "$ROOT"   # the file system, not the slot's spare room

IMAGE_VERSION=$(debugfs -R "cat /usr/lib/cccd-release" "$ROOT" 2>/dev/null | sed -n 's/^VERSION=//p')
VERSION=${VERSION:-$IMAGE_VERSION}
[ -n "$VERSION" ] || die "no version (the image has no /usr/lib/cccd-release; set VERSION=)"
if [ "$VERSION" != "$IMAGE_VERSION" ]; then
  printf 'NAME="CCCD kiosk"\nVERSION=%s\n' "$VERSION" > "$BW/cccd-release"
  debugfs -w -R "rm /usr/lib/cccd-release" "$ROOT" >/dev/null 2>&1
  debugfs -w -R "write $BW/cccd-release /usr/lib/cccd-release" "$ROOT" >/dev/null 2>&1
fi
SUFFIX=""
if [ "${BREAK_SERVICE:-0}" = 1 ]; then
  # A release whose service cannot start (the trial boot must fail and roll back).
  debugfs -R "cat /usr/lib/systemd/system/appliance.service" "$ROOT" 2>/dev/null \
    | sed 's|^ExecStart=.*|ExecStart=/bin/false|' > "$BW/appliance.service"
  debugfs -w -R "rm /usr/lib/systemd/system/appliance.service" "$ROOT" >/dev/null 2>&1
  debugfs -w -R "write $BW/appliance.service /usr/lib/systemd/system/appliance.service" "$ROOT" >/dev/null 2>&1
  SUFFIX=-broken
fi
e2fsck -fn "$ROOT" >/dev/null 2>&1 || die "the root file system does not check clean after editing"

cat > "$BW/content/manifest.raucm" <<EOF
[update]
compatible=$COMPATIBLE
version=$VERSION
description=CCCD kiosk $VERSION (Debian bookworm arm64)

[bundle]
format=plain

[image.rootfs]
filename=root.ext4
EOF
NAME=cccd-kiosk-$VERSION$SUFFIX.raucb
rm -f "$OUT/$NAME"
log "rauc bundle $NAME (version $VERSION, $(( blocks * bsize / 1048576 )) MiB root)"
# zstd level 9 in 1 MiB blocks (measured on the 2.2 GB root of 0.1.0: level 3 with the default
# 128 KiB blocks 647 MB / 16 s, level 3 / 1 MiB 601 MB / 12 s, level 9 / 1 MiB 567 MB / 16 s,
# level 15 565 MB / 63 s): every byte is downloaded, hashed twice and read again on the kiosk.
rauc bundle --cert="$CERT" --key="$KEY" --mksquashfs-args="-comp zstd -Xcompression-level 9 -b 1M -quiet" \
  "$BW/content" "$OUT/$NAME" >/dev/null
rm -rf "$BW"
rauc info --keyring="$CERT" "$OUT/$NAME" >/dev/null 2>&1 || die "the new bundle does not verify"
(cd "$OUT" && sha256sum "$NAME" > "$NAME.sha256")
log "done: $OUT/$NAME ($(du -m "$OUT/$NAME" | cut -f1) MB)"
