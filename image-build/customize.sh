#!/usr/bin/env bash
# mmdebstrap customize hook (also run alone by `REUSE_ROOTFS=1 build.sh`): installs the appliance
# into the arm64 root file system ROOT, configures the board and the read-only root, and makes
# the initramfs once. Everything that needs no arm64 code runs on the build machine.
set -euo pipefail
ROOT=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=${WORK:-$HERE/work}
VENV=/opt/appliance/venv
T0=$(date +%s)
log() { printf '[customize %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

# mmdebstrap mounts /proc, /sys and /dev for its hooks; a REUSE_ROOTFS run mounts them itself.
MOUNTED=()
unmount_all() { local m; for m in "${MOUNTED[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap unmount_all EXIT
for fs in proc sys dev; do
  if ! mountpoint -q "$ROOT/$fs"; then
    case $fs in
      proc) mount -t proc proc "$ROOT/proc" ;;
      sys) mount -t sysfs sysfs "$ROOT/sys" ;;
      dev) mount --bind /dev "$ROOT/dev" ;;
    esac
    MOUNTED=("$ROOT/$fs" "${MOUNTED[@]}")
  fi
done

# --- board and system files -----------------------------------------------------------------
cp -a --no-preserve=ownership "$HERE/files/." "$ROOT/"
chmod 0755 "$ROOT/etc/initramfs-tools/hooks/appliance-overlay" \
  "$ROOT/etc/initramfs-tools/scripts/init-bottom/appliance-overlay" \
  "$ROOT/usr/lib/appliance/rauc-post-install"
# The system's release (appliance update compares it with a bundle's version; `make bundle`
# rewrites it in the bundle's copy of this root).
APP_VERSION=${APP_VERSION:-$(python3 -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' "$REPO/pyproject.toml")}
printf 'NAME="CCCD kiosk"\nVERSION=%s\n' "$APP_VERSION" > "$ROOT/usr/lib/cccd-release"
install -d "$ROOT/usr/lib/systemd/system" "$ROOT/usr/lib/sysusers.d"
install -m 0644 "$REPO"/systemd/*.service "$REPO"/systemd/*.timer "$ROOT/usr/lib/systemd/system/"
install -m 0644 "$REPO/systemd/appliance.sysusers.conf" "$ROOT/usr/lib/sysusers.d/appliance.conf"
install -d "$ROOT/etc/systemd/timesyncd.conf.d"
ln -sfn /etc/appliance/timesyncd.conf "$ROOT/etc/systemd/timesyncd.conf.d/50-appliance.conf"
systemd-sysusers --root="$ROOT" >/dev/null

# Mount points of the data partition's bind mounts, and /data itself.
install -d -m 0755 "$ROOT/data" "$ROOT/etc/appliance" "$ROOT/var/lib/appliance" "$ROOT/boot/firmware"
install -d -m 2755 "$ROOT/var/log/journal"
# 90 s per device: emulated boards on a busy build machine (and slow cards) take more than 30 s to
# show their partitions; a missing partition then delays the boot by that much, nothing else.
cat > "$ROOT/etc/fstab" <<'EOF'
# The root (slot A or B, PARTUUID=0cccd0a1-02/-03) is mounted read-only under a RAM overlay by the initramfs
# (appliance-overlay); it is deliberately not listed here. Everything that survives a reboot is
# on the data partition.
LABEL=RASPIFIRM  /boot/firmware  vfat  rw,noatime,umask=0077,nofail,x-systemd.device-timeout=90s  0 2
LABEL=appdata    /data           ext4  rw,noatime,nofail,x-systemd.device-timeout=90s  0 2
/data/appliance/state  /var/lib/appliance  none  bind,nofail,x-systemd.requires-mounts-for=/data  0 0
/data/appliance/etc    /etc/appliance      none  bind,nofail,x-systemd.requires-mounts-for=/data  0 0
/data/journal          /var/log/journal    none  bind,nofail,x-systemd.requires-mounts-for=/data  0 0
EOF
echo cccd-kiosk > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tcccd-kiosk\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
  > "$ROOT/etc/hosts"
ln -sfn /usr/share/zoneinfo/Asia/Ho_Chi_Minh "$ROOT/etc/localtime"
echo Asia/Ho_Chi_Minh > "$ROOT/etc/timezone"

# raspi-firmware: root by label, and no serial console: the UART on GPIO14/15 is the fingerprint
# sensor's (/dev/serial0). The boot test adds its own console= for QEMU.
# Root by partition id (MBR disk id 0x0cccd0a1, slot A = partition 2): both root slots carry the
# same file system label once B holds a copy, so a label would be ambiguous.
sed -i -e 's/^#\?ROOTPART=.*/ROOTPART=PARTUUID=0cccd0a1-02/' -e 's/^#\?CONSOLES=.*/CONSOLES="tty0"/' \
  "$ROOT/etc/default/raspi-firmware"
grep -q '^ROOTPART=PARTUUID=0cccd0a1-02' "$ROOT/etc/default/raspi-firmware" \
  || echo 'ROOTPART=PARTUUID=0cccd0a1-02' >> "$ROOT/etc/default/raspi-firmware"
grep -q '^CONSOLES=' "$ROOT/etc/default/raspi-firmware" \
  || echo 'CONSOLES="tty0"' >> "$ROOT/etc/default/raspi-firmware"

# --- the appliance: wheel + pinned dependencies for aarch64 from PyPI, in a venv -------------
# pyscard has no aarch64 wheel on PyPI: Debian's python3-pyscard (seen through
# --system-site-packages) replaces a compile under qemu-user that would need gcc, swig and
# libpcsclite-dev in the image.
log "appliance wheel and aarch64 dependencies"
PIP="$REPO/.venv/bin/pip"
[ -x "$PIP" ] || PIP="python3 -m pip"
STAGE=$WORK/site-packages
rm -rf "$STAGE" "$WORK/wheels"
mkdir -p "$STAGE" "$WORK/wheels"
# From a clean copy of the sources: setuptools' package discovery would otherwise walk the whole
# checkout, this root file system (and the /proc mounted in it) included.
SRC=$WORK/src
rm -rf "$SRC"
mkdir -p "$SRC"
tar -C "$REPO" --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md appliance \
  | tar -C "$SRC" -xf -
$PIP wheel -q --no-deps -w "$WORK/wheels" "$SRC"
rm -rf "$SRC"
python3 - "$REPO/pyproject.toml" > "$WORK/requirements.txt" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
reqs = project["dependencies"] + project["optional-dependencies"].get("pi", [])
print("\n".join(r for r in reqs if not r.lower().startswith("pyscard")))
PY
PLATFORMS=()
for v in 17 26 27 28 31 34 35 36; do PLATFORMS+=(--platform "manylinux_2_${v}_aarch64"); done
PLATFORMS+=(--platform manylinux2014_aarch64)
TARGET_OPTS=(--target "$STAGE" "${PLATFORMS[@]}" --python-version 3.11 --implementation cp
             --abi cp311 --only-binary=:all: --no-compile --disable-pip-version-check)
$PIP install -q "${TARGET_OPTS[@]}" -r "$WORK/requirements.txt"
$PIP install -q "${TARGET_OPTS[@]}" --no-deps --upgrade "$WORK"/wheels/*.whl
rm -rf "$STAGE/bin"

in_root python3 -m venv --system-site-packages --without-pip "$VENV"
PYVER=$(in_root python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
SITE=$ROOT$VENV/lib/python$PYVER/site-packages
cp -a "$STAGE/." "$SITE/"
chown -R root:root "$SITE"
cat > "$ROOT$VENV/bin/appliance" <<EOF
#!$VENV/bin/python3
import sys

from appliance.cli import main

sys.exit(main())
EOF
chmod 0755 "$ROOT$VENV/bin/appliance"
ln -sfn "$VENV/bin/appliance" "$ROOT/usr/local/bin/appliance"
# Byte-code compiled on the build machine when it has the same Python (the .pyc format depends
# only on the version), so the read-only root never tries to write __pycache__ at run time.
if [ "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" = "$PYVER" ]; then
  python3 -m compileall -q -j0 -s "$ROOT" -p / "$SITE" >/dev/null || true
else
  in_root python3 -m compileall -q "$VENV/lib/python$PYVER/site-packages" >/dev/null || true
fi
rm -rf "$STAGE" "$WORK/wheels" "$WORK/requirements.txt"

# Shipped configuration (defaults + profiles) and the technician's guide.
rm -rf "$ROOT/usr/share/appliance/config"
install -d "$ROOT/usr/share/appliance" "$ROOT/usr/share/doc/cccd-appliance"
cp -a --no-preserve=ownership "$REPO/config" "$ROOT/usr/share/appliance/config"
for doc in "$REPO/docs/field-technician.md" "$REPO/docs/provision.example.toml"; do
  [ -f "$doc" ] && install -m 0644 "$doc" "$ROOT/usr/share/doc/cccd-appliance/"
done

# --- units ----------------------------------------------------------------------------------
systemctl --root="$ROOT" enable appliance.service appliance-firstboot.service \
  appliance-purge.timer appliance-update-confirm.service appliance-update.timer systemd-networkd.service systemd-resolved.service \
  systemd-timesyncd.service pcscd.socket >/dev/null 2>&1
if [ -x "$ROOT/usr/bin/cage" ]; then
  systemctl --root="$ROOT" enable kiosk.service >/dev/null 2>&1
fi
# Wi-Fi runs per interface (wpa_supplicant@wlan0) when provisioned, not as the D-Bus service.
systemctl --root="$ROOT" disable wpa_supplicant.service >/dev/null 2>&1 || true
# Pointless on a read-only root, and busy work on a small board.
systemctl --root="$ROOT" mask apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service >/dev/null 2>&1 || true
systemctl --root="$ROOT" set-default multi-user.target >/dev/null

# --- initramfs, once (MODULES=list), now that the board files are in place --------------------
if in_root dpkg-divert --list /usr/sbin/update-initramfs | grep -q .; then
  rm -f "$ROOT/usr/sbin/update-initramfs"
  in_root dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
fi
log "update-initramfs (under qemu-user)"
rm -f "$ROOT"/boot/initrd.img-*
in_root update-initramfs -c -k all >/dev/null
ls "$ROOT"/boot/firmware/initrd.img* >/dev/null 2>&1 || {
  echo "customize: no initrd in /boot/firmware (raspi-firmware hook did not run)" >&2
  exit 1
}
# Each slot boots its own kernel: GRUB reads /vmlinuz and /initrd.img from the slot's root.
KVER=$(ls "$ROOT"/boot/vmlinuz-* | sed 's|.*/vmlinuz-||' | sort -V | tail -1)
ln -sfn "boot/vmlinuz-$KVER" "$ROOT/vmlinuz"
ln -sfn "boot/initrd.img-$KVER" "$ROOT/initrd.img"
# GRUB for EFI boards and QEMU virt (AAVMF): one standalone EFI binary whose built-in config
# reads grub/grub.cfg from the FAT partition (build.sh puts it there with the grubenv).
if [ -d "$ROOT/usr/lib/grub/arm64-efi" ]; then
  log "grub-mkstandalone (arm64-efi)"
  install -d "$ROOT/boot/firmware/EFI/BOOT"
  cp "$HERE/grub/early.cfg" "$ROOT/tmp/grub-early.cfg"
  in_root grub-mkstandalone -O arm64-efi -o /boot/firmware/EFI/BOOT/BOOTAA64.EFI \
    --modules="part_msdos ext2 fat linux normal loadenv test echo configfile" \
    "boot/grub/grub.cfg=/tmp/grub-early.cfg"
  rm -f "$ROOT/tmp/grub-early.cfg"
fi
# Build-only dpkg setting (see build.sh); apt caches and logs (mmdebstrap removes the lists).
sed -i '/^force-unsafe-io$/d' "$ROOT/etc/dpkg/dpkg.cfg.d/99mmdebstrap" 2>/dev/null || true
rm -rf "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/apt/* "$ROOT"/var/log/dpkg.log
log "done"
