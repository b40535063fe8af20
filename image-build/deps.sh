#!/usr/bin/env bash
# Build-machine tools for `make image` / `make image-test` (Debian bookworm host, as root).
# Idempotent and quick when everything is present. --no-install-recommends keeps it to the tools
# themselves (with recommends they pull ~180 packages). Test-only tools never enter the image.
set -euo pipefail
pkgs=(
  mmdebstrap qemu-user-static binfmt-support   # foreign-architecture root filesystem
  qemu-system-arm qemu-utils                   # boot test (qemu-system-aarch64)
  ipxe-qemu                                    # qemu's NIC option ROMs (stops a warning)
  dosfstools mtools fdisk e2fsprogs            # loop-free image assembly
  xz-utils curl ca-certificates                # compression; /healthz probe
  arch-test                                    # mmdebstrap's check for foreign architectures
  rauc squashfs-tools openssl                  # make bundle (signed RAUC bundles)
  qemu-efi-aarch64                             # update test: UEFI (AAVMF) + GRUB on QEMU virt
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${missing[*]}; run as root (apt-get install --no-install-recommends ...)" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
