#!/bin/bash -e
# pi-gen: board support. The overlay, config.txt, the console UART, the data partition's mounts.
files="$(dirname "$0")/files"
overlay_src="$(dirname "$0")/../../../overlays/lineguard-hat-overlay.dts"
boot="${ROOTFS_DIR}/boot/firmware"

dtc -@ -I dts -O dtb -o "${boot}/overlays/lineguard-hat.dtbo" "${overlay_src}"
cat "${files}/config.txt" >>"${boot}/config.txt"

# The UART belongs to the lineguard console, not to the kernel console or a getty. The stock
# first-boot resize is dropped too: the space after the root partition becomes the data partition.
sed -i -e 's/console=serial0,115200 //' -e 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||' "${boot}/cmdline.txt"

install -d "${ROOTFS_DIR}/data" "${ROOTFS_DIR}/var/lib/lineguard" "${ROOTFS_DIR}/etc/lineguard"
cat "${files}/fstab.lineguard" >>"${ROOTFS_DIR}/etc/fstab"
install -D -m 0644 "${files}/watchdog.conf" "${ROOTFS_DIR}/etc/systemd/system.conf.d/lineguard-watchdog.conf"

on_chroot <<CHROOT
systemctl mask serial-getty@ttyAMA0.service serial-getty@serial0.service
CHROOT
