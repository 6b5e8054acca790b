#!/bin/bash -e
# pi-gen: the appliance. A dedicated user, the factory release in a venv, the services.
# Needs files/lineguard-*.whl (make pi-wheel) next to this script.
files="$(dirname "$0")/files"
repo="$(dirname "$0")/../../../.."
wheel=$(find "${files}" -maxdepth 1 -name 'lineguard-*.whl' | sort | tail -n 1)
[ -n "${wheel}" ] || { echo "stage-lineguard: no lineguard wheel in ${files} (run make pi-wheel)" >&2; exit 1; }
version=$(basename "${wheel}" | cut -d- -f2)

install -m 0644 "${wheel}" "${ROOTFS_DIR}/tmp/"
install -m 0755 "${repo}/firmware/files/lineguard-firstboot" "${ROOTFS_DIR}/usr/local/sbin/lineguard-firstboot"
install -m 0755 "${repo}/firmware/files/lineguard-update" "${ROOTFS_DIR}/usr/local/sbin/lineguard-update"
for unit in "${repo}"/systemd/*.service; do
	install -m 0644 "${unit}" "${ROOTFS_DIR}/etc/systemd/system/"
done

on_chroot <<CHROOT
set -e
id lineguard >/dev/null 2>&1 || useradd --system --home-dir /var/lib/lineguard --shell /usr/sbin/nologin \
	--user-group --groups gpio,audio,dialout lineguard
# The factory release: read-only on the root file system, never deleted, the rollback of last resort.
python3 -m venv --system-site-packages /opt/lineguard/releases/${version}
/opt/lineguard/releases/${version}/bin/pip install --no-cache-dir "/tmp/$(basename "${wheel}")[pi]"
echo "${version}" > /opt/lineguard/releases/${version}/VERSION
install -d /opt/lineguard/releases/${version}/share/lineguard
/opt/lineguard/releases/${version}/bin/python -c 'from edge.config import default_config_text; print(default_config_text(), end="")' \
	| sed 's/^backend = "sim"/backend = "pi"/' > /opt/lineguard/releases/${version}/share/lineguard/lineguard.toml
ln -sfn /opt/lineguard/releases/${version} /opt/lineguard/factory
# current lives on the data partition so updates and rollbacks survive the read-only root.
ln -sfn /data/lineguard/current /opt/lineguard/current
rm -f /tmp/$(basename "${wheel}")
systemctl enable lineguard-bypass.service lineguard-firstboot.service lineguard.service lineguard-console.service
CHROOT
