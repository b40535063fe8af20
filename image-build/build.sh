#!/usr/bin/env bash
# Build the CCCD kiosk SD-card image: Debian bookworm arm64 for the Raspberry Pi 3/4, made on an
# x86_64 Debian machine through qemu-user binfmt. `make image` runs it (as root).
#
#   image-build/build.sh            full build into image-build/out/
#   REUSE_ROOTFS=1 build.sh         keep image-build/work/rootfs from an earlier KEEP_WORK=1 run and
#                                   redo only the appliance install, initramfs and image (development)
#
# Environment: WORK, OUT (folders), KIOSK=0 (no cage/Chromium: a headless image), DATA_MB (size of
# the data partition), MIRROR / SECURITY_MIRROR (override the mirrors taken from apt's sources),
# KEEP_WORK=1 (keep the work folder), XZ_LEVEL (default 1), COMPRESS=0 (raw .img, development).
#
# Layout of the image (MBR, disk id 0x0cccd0a1): 1 FAT32 "RASPIFIRM" 256 MiB (/boot/firmware: Pi
# firmware, kernel, initrd, DTBs, cmdline.txt, provision.toml; EFI/BOOT/BOOTAA64.EFI and grub/ for
# GRUB), 2 and 3 the root slots A and B (ext4, mounted read-only under a RAM overlay; RAUC writes
# the one not running), 4 ext4 "appdata" (/data: /var/lib/appliance, /etc/appliance, the journal,
# RAUC's status). SLOT_MB sets a slot's size (default 1.4 x the root's).
# Facts behind the choices: ../shared/IMAGE-BUILD-NOTES.md and image-build/README.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-$HERE/work}
OUT=${OUT:-$HERE/out}
SUITE=bookworm
KIOSK=${KIOSK:-1}
DATA_MB=${DATA_MB:-1536}   # room for the store and one downloaded update bundle
BOOT_MB=256
XZ_LEVEL=${XZ_LEVEL:-1}
NAME=cccd-kiosk
VERSION=$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$REPO/pyproject.toml")
IMG_BASE="$NAME-$VERSION-$SUITE-arm64"
T0=$(date +%s)

log() { printf '[build %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { echo "build: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root, binfmt_misc, ownership in the image)"
"$HERE/deps.sh"

# --- qemu-user through binfmt_misc (starts unmounted on a fresh machine) ---------------------
if [ "$(uname -m)" != aarch64 ]; then
  if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "qemu-aarch64 binfmt handler not registered"
  grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 binfmt handler disabled"
fi

# --- mirrors: the build machine's own apt sources, never a hard-coded host --------------------
mirror_lines() {
  local main="${MIRROR:-}" sec="${SECURITY_MIRROR:-}" uri rel
  if [ -z "$main" ] || [ -z "$sec" ]; then
    while read -r uri rel; do
      case "$rel" in
        *-security) [ -n "$sec" ] || sec=$uri ;;
        *-backports|*-proposed-updates|*-updates) ;;
        *) [ -n "$main" ] || main=$uri ;;
      esac
    done < <(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' \
               'Target-Of: deb' | sort -u)
  fi
  [ -n "$main" ] || die "no Debian mirror in this machine's apt sources (set MIRROR=...)"
  echo "deb $main $SUITE main non-free-firmware"
  echo "deb $main $SUITE-updates main non-free-firmware"
  if [ -n "$sec" ]; then echo "deb $sec $SUITE-security main non-free-firmware"; fi
}

# --- what goes into the image ---------------------------------------------------------------
PKGS=(
  systemd systemd-sysv udev dbus libpam-systemd systemd-timesyncd systemd-resolved
  kmod initramfs-tools busybox zstd
  linux-image-arm64 raspi-firmware firmware-brcm80211 wpasupplicant
  e2fsprogs fdisk dosfstools iproute2 ca-certificates netbase tzdata
  python3 python3-pyscard pcscd libccid polkitd libzbar0
  rauc rauc-service squashfs-tools grub-efi-arm64-bin   # A/B system updates (docs/updates.md); rauc-service: the D-Bus service every rauc command but info talks to; squashfs-tools: unsquashfs, without which rauc install fails
)
if [ "$KIOSK" = 1 ]; then
  # cage (bookworm) exits unless it can start Xwayland, even for a Wayland-only browser.
  PKGS+=(cage xwayland chromium fonts-dejavu-core libgl1-mesa-dri libegl-mesa0)
  PKGS+=(espeak-ng alsa-utils)  # spoken guidance: eSpeak NG renders, Chromium plays via ALSA
fi

ROOTFS=$WORK/rootfs
mkdir -p "$WORK" "$OUT"

if [ "${REUSE_ROOTFS:-0}" = 1 ] && [ -x "$ROOTFS/usr/bin/python3" ]; then
  log "reusing $ROOTFS"
  "$HERE/customize.sh" "$ROOTFS"
else
  rm -rf "$ROOTFS"
  mapfile -t MIRRORS < <(mirror_lines)
  log "mirrors: ${MIRRORS[*]}"
  log "mmdebstrap $SUITE arm64 (${#PKGS[@]} packages + dependencies)"
  # update-initramfs is diverted to a no-op while packages install (the kernel postinst and the
  # trigger would each run mkinitramfs under qemu-user for ~8 minutes); customize.sh runs it once.
  # force-unsafe-io: no fsync per unpacked file during the build (customize.sh removes it again,
  # so upgrades on a device stay power-cut safe).
  mmdebstrap --mode=root --variant=apt --architectures=arm64 \
    --include="$(IFS=,; echo "${PKGS[*]}")" \
    --aptopt='Acquire::Retries "3"' \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='force-unsafe-io' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/vi/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --divert /usr/sbin/update-initramfs.real --add /usr/sbin/update-initramfs && printf "#!/bin/sh\nexit 0\n" > "$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"' \
    --customize-hook="\"$HERE/customize.sh\" \"\$1\"" \
    "$SUITE" "$ROOTFS" "${MIRRORS[@]}"
fi
# mmdebstrap leaves the build machine's resolv.conf out; systemd-resolved's stub is the answer.
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
: > "$ROOTFS/etc/machine-id"   # filled at boot from the data partition (appliance-overlay)
log "root file system: $(du -sm "$ROOTFS" | cut -f1) MB"

# --- the SD image, without loop devices or mounts --------------------------------------------
BOOTDIR=$WORK/bootfs
DATADIR=$WORK/datafs
rm -rf "$BOOTDIR" "$DATADIR"
mv "$ROOTFS/boot/firmware" "$BOOTDIR"
mkdir -p "$ROOTFS/boot/firmware"
restore_boot() { rm -rf "$ROOTFS/boot/firmware" && mv "$BOOTDIR" "$ROOTFS/boot/firmware"; }
trap 'restore_boot 2>/dev/null || true' EXIT

# The data partition's first contents: the bind-mount sources (fstab) and the default NTP file.
uid=$(awk -F: '$1=="appliance"{print $3}' "$ROOTFS/etc/passwd")
gid=$(awk -F: '$1=="appliance"{print $4}' "$ROOTFS/etc/passwd")
jgid=$(awk -F: '$1=="systemd-journal"{print $3}' "$ROOTFS/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || die "no appliance user in the image"
install -d -m 0755 "$DATADIR" "$DATADIR/appliance" "$DATADIR/appliance/etc"
install -d -m 0750 -o "$uid" -g "$gid" "$DATADIR/appliance/state"
install -d -m 2755 -g "${jgid:-0}" "$DATADIR/journal"
install -m 0644 "$REPO/systemd/timesyncd.conf" "$DATADIR/appliance/etc/timesyncd.conf"
install -d -m 0700 "$DATADIR/rauc"   # RAUC's status file (statusfile= in /etc/rauc/system.conf)

# GRUB's A/B configuration and its environment block (1024 bytes: RAUC edits it with
# grub-editenv). Slot A is the flashed one; B becomes bootable when RAUC installs into it.
if [ -f "$BOOTDIR/EFI/BOOT/BOOTAA64.EFI" ]; then
  install -d "$BOOTDIR/grub"
  args=$(tr '\n' ' ' < "$BOOTDIR/cmdline.txt" | tr ' ' '\n' | grep -v -e '^root=' -e '^$' | tr '\n' ' ')
  sed "s|@CMDLINE@|${args% }|" "$HERE/grub/grub.cfg" > "$BOOTDIR/grub/grub.cfg"
  python3 - "$BOOTDIR/grub/grubenv" <<'PY'
import sys
body = "# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=0\nB_TRY=0\n"
open(sys.argv[1], "w").write(body + "#" * (1024 - len(body)))
PY
fi

ROOT_USED=$(du -sm "$ROOTFS" | cut -f1)
ROOT_MB=$(( (ROOT_USED * 115 / 100 + 160 + 3) / 4 * 4 ))
# Each root slot leaves room for later, larger releases (RAUC grows the file system: resize=true).
SLOT_MB=${SLOT_MB:-$(( (ROOT_MB * 14 / 10 + 3) / 4 * 4 ))}
[ "$SLOT_MB" -ge "$ROOT_MB" ] || die "SLOT_MB=$SLOT_MB is smaller than the root ($ROOT_MB MiB)"
START_MB=4
IMG_MB=$(( START_MB + BOOT_MB + 2 * SLOT_MB + DATA_MB ))
IMG=$WORK/$IMG_BASE.img
log "image: ${IMG_MB} MiB (boot $BOOT_MB, root slots 2 x $SLOT_MB with $ROOT_MB for $ROOT_USED used, data $DATA_MB)"

# Each partition is made, placed and deleted in turn, and the root file system tree goes as soon
# as its ext4 exists (unless KEEP_WORK=1): about 3.5 GB of disk at the peak.
rm -f "$WORK/boot.vfat" "$WORK/root.ext4" "$WORK/data.ext4" "$IMG"
truncate -s "${IMG_MB}M" "$IMG"
# MBR (the Pi firmware reads it; EFI reads it too): boot, root slot A, root slot B, data. The disk
# id gives the slots stable PARTUUIDs 0cccd0a1-02 and 0cccd0a1-03 (kernel root=, RAUC's slots).
DATA_START_MB=$(( START_MB + BOOT_MB + 2 * SLOT_MB ))
sfdisk --quiet "$IMG" <<EOF
label: dos
label-id: 0x0cccd0a1
start=$(( START_MB * 2048 )), size=$(( BOOT_MB * 2048 )), type=c, bootable
start=$(( (START_MB + BOOT_MB) * 2048 )), size=$(( SLOT_MB * 2048 )), type=83
start=$(( (START_MB + BOOT_MB + SLOT_MB) * 2048 )), size=$(( SLOT_MB * 2048 )), type=83
start=$(( DATA_START_MB * 2048 )), size=$(( DATA_MB * 2048 )), type=83
EOF
place() { # place FILE OFFSET_MB: copy a partition image into the SD image, then delete it
  dd if="$1" of="$IMG" bs=1M seek="$2" conv=notrunc,sparse status=none
  rm -f "$1"
}
mkfs.vfat -C -F 32 -n RASPIFIRM "$WORK/boot.vfat" $(( BOOT_MB * 1024 )) >/dev/null
mcopy -s -p -Q -m -i "$WORK/boot.vfat" "$BOOTDIR"/* ::/
place "$WORK/boot.vfat" "$START_MB"
mkfs.ext4 -q -F -L appdata -m 1 -d "$DATADIR" "$WORK/data.ext4" "${DATA_MB}M"
place "$WORK/data.ext4" "$DATA_START_MB"
rm -rf "$DATADIR"
mkfs.ext4 -q -F -L rootfs -m 0 -d "$ROOTFS" "$WORK/root.ext4" "${ROOT_MB}M"
# `make bundle` makes the update bundle from this very file system: keep a copy when asked.
if [ "${KEEP_ROOT_EXT4:-0}" = 1 ]; then cp --sparse=always "$WORK/root.ext4" "$OUT/$IMG_BASE.root.ext4"; fi
trap - EXIT
if [ "${KEEP_WORK:-0}" = 1 ]; then
  restore_boot
else
  rm -rf "$ROOTFS" "$BOOTDIR"
fi
place "$WORK/root.ext4" $(( START_MB + BOOT_MB ))

# --- compressed output, checksums, Raspberry Pi Imager entry ---------------------------------
if [ "${COMPRESS:-1}" = 0 ]; then   # development: the raw image, no xz, no os_list.json
  mv "$IMG" "$OUT/$IMG_BASE.img"
  [ "${KEEP_WORK:-0}" = 1 ] || rm -rf "$WORK"
  log "done (uncompressed): $OUT/$IMG_BASE.img"
  exit 0
fi
log "compressing (xz -$XZ_LEVEL)"
extract_size=$(stat -c %s "$IMG")
extract_sha=$(sha256sum "$IMG" | cut -d' ' -f1)
rm -f "$OUT/$IMG_BASE.img.xz"
xz -T0 -"$XZ_LEVEL" -c "$IMG" > "$OUT/$IMG_BASE.img.xz.part"
mv "$OUT/$IMG_BASE.img.xz.part" "$OUT/$IMG_BASE.img.xz"
(cd "$OUT" && sha256sum "$IMG_BASE.img.xz" > "$IMG_BASE.img.xz.sha256")
python3 - "$OUT" "$IMG_BASE" "$VERSION" "$extract_size" "$extract_sha" <<'PY'
import datetime, hashlib, json, os, sys
out, base, version, size, sha = sys.argv[1:]
xz = os.path.join(out, base + ".img.xz")
entry = {
    "name": f"CCCD kiosk appliance {version}",
    "description": "Debian bookworm (arm64) kiosk for Vietnam's CCCD identity card: "
    "put provision.toml on the boot partition before the first start.",
    "url": os.path.basename(xz),
    "release_date": datetime.date.today().isoformat(),
    "extract_size": int(size),
    "extract_sha256": sha,
    "image_download_size": os.path.getsize(xz),
    "image_download_sha256": open(xz + ".sha256").read().split()[0],
    "devices": ["pi4-64bit", "pi3-64bit"],
}
with open(os.path.join(out, "os_list.json"), "w") as fh:
    json.dump({"os_list": [entry]}, fh, indent=2)
    fh.write("\n")
PY
if [ "${KEEP_WORK:-0}" = 1 ]; then
  rm -f "$IMG"
else
  rm -rf "$WORK"
fi
log "done: $OUT/$IMG_BASE.img.xz ($(du -m "$OUT/$IMG_BASE.img.xz" | cut -f1) MB compressed, $(( extract_size / 1048576 )) MiB raw)"
