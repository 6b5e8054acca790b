"""The board's system files: systemd units, the device-tree overlay, the image's scripts and config.txt."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from nacl.encoding import HexEncoder
from nacl.signing import SigningKey

from edge.backends.pi.pinmap import load_pinmap
from edge.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
FIRMWARE = ROOT / "firmware"
STAGE = FIRMWARE / "pi-gen" / "stage-lineguard"
OVERLAY = FIRMWARE / "overlays" / "lineguard-hat-overlay.dts"
LINEGUARD = Path(sys.executable).with_name("lineguard")

needs = pytest.mark.skipif


def _units_for_this_machine(tmp_path: Path) -> Path:
    """Copies of the units with the device's install paths pointed at this checkout's executables."""
    out = tmp_path / "units"
    out.mkdir()
    for unit in SYSTEMD.glob("*.service"):
        text = unit.read_text()
        text = text.replace("/opt/lineguard/current/bin/lineguard", str(LINEGUARD))
        text = text.replace("/opt/lineguard/factory/bin/lineguard", str(LINEGUARD))
        text = text.replace("/opt/lineguard/current/bin/python", sys.executable)
        text = text.replace("/opt/lineguard/factory/bin/python", sys.executable)
        text = text.replace(
            "/usr/local/sbin/lineguard-firstboot", str(FIRMWARE / "files" / "lineguard-firstboot")
        )
        (out / unit.name).write_text(text)
    return out


@needs(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = sorted(_units_for_this_machine(tmp_path).glob("*.service"))
    assert {u.name for u in units} >= {"lineguard.service", "lineguard-console.service"}
    proc = subprocess.run(
        ["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_main_unit_has_the_required_settings() -> None:
    text = (SYSTEMD / "lineguard.service").read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.MULTILINE))
    assert settings["Type"] == "notify"
    assert settings["Restart"] == "always"
    assert settings["WatchdogSec"]
    assert settings["User"] == "lineguard"
    assert set(settings["SupplementaryGroups"].split()) == {"gpio", "audio", "dialout"}
    assert settings["ProtectSystem"] == "strict" and settings["NoNewPrivileges"] == "yes"
    assert settings["StateDirectory"] == "lineguard"
    assert settings["ExecStopPost"].split()[1:3] == ["-m", "edge.backends.pi.bypass"]


@needs(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_security_exposure_is_low_and_documented(tmp_path: Path) -> None:
    units = _units_for_this_machine(tmp_path)
    doc = (ROOT / "docs" / "pi.md").read_text()
    version = subprocess.run(["systemd-analyze", "--version"], capture_output=True, text=True).stdout.split()[
        1
    ]
    found = re.search(r"`systemd-analyze security --offline=true` \(systemd (\d+)\)", doc)
    assert found, "docs/pi.md should name the systemd version its security scores come from"
    documented = found.group(1)
    for name in ("lineguard.service", "lineguard-console.service"):
        proc = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(units / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
        assert match, proc.stdout[-500:] + proc.stderr
        score = float(match.group(1))
        assert score <= 2.0
        if version == documented:  # other systemd versions weigh the settings differently
            assert f"`{name}` | {score:.1f}" in doc, f"docs/pi.md should record {name} at {score:.1f}"


@needs(shutil.which("dtc") is None, reason="dtc is not installed")
def test_overlay_compiles_and_targets_the_board(tmp_path: Path) -> None:
    dtbo = tmp_path / "lineguard-hat.dtbo"
    proc = subprocess.run(
        ["dtc", "-@", "-I", "dts", "-O", "dtb", "-o", str(dtbo), str(OVERLAY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "Warning" not in proc.stderr, proc.stderr
    source = subprocess.run(
        ["dtc", "-I", "dtb", "-O", "dts", str(dtbo)], capture_output=True, text=True, check=True
    ).stdout
    assert 'compatible = "wlf,wm8960"' in source
    for label in ("i2s", "i2c1", "sound", "gpio", "pwm"):
        assert re.search(rf"\b{label} = ", source.split("__fixups__", 1)[1]), f"no fixup for &{label}"
    # The PWM pin in the overlay is the pin map's F/R pin.
    pwm_pin = int(re.search(r"brcm,pins = <0x([0-9a-f]+)>", source).group(1), 16)  # type: ignore[union-attr]
    assert pwm_pin == load_pinmap()["slic_fr"].bcm


def _scripts() -> list[Path]:
    found = []
    for folder in (FIRMWARE, SYSTEMD, ROOT / "hw"):
        for path in folder.rglob("*"):
            if path.is_file() and (path.suffix == ".sh" or path.read_bytes()[:2] == b"#!"):
                found.append(path)
    return sorted(found)


@needs(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_every_script_passes_shellcheck() -> None:
    scripts = _scripts()
    assert len(scripts) >= 5
    proc = subprocess.run(
        ["shellcheck", "-s", "bash", *map(str, scripts)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout


def test_config_txt_pulls_match_the_pin_map() -> None:
    text = (STAGE / "01-board" / "files" / "config.txt").read_text()
    for needed in ("dtparam=i2s=on", "dtoverlay=lineguard-hat", "enable_uart=1", "dtparam=watchdog=on"):
        assert needed in text
    pulls: dict[int, str] = {}
    for pins, pull in re.findall(r"^gpio=([0-9,]+)=ip,(pu|pd)$", text, re.MULTILINE):
        for pin in pins.split(","):
            pulls[int(pin)] = {"pu": "up", "pd": "down"}[pull]
    for spec in load_pinmap().pins.values():
        if spec.direction == "bus" or spec.pwm:
            continue
        expected = spec.pull if spec.direction == "in" else {"low": "down", "high": "up"}[spec.safe or "low"]
        assert pulls.get(spec.bcm) == expected, (
            f"{spec.name} (GPIO{spec.bcm}) should boot with pull {expected}"
        )


# ---- update and rollback -------------------------------------------------------------------------------


def _release(folder: Path, version: str, works: bool = True) -> Path:
    """A release laid out like a device venv: bin/python (this interpreter) and bin/lineguard."""
    (folder / "bin").mkdir(parents=True)
    (folder / "VERSION").write_text(version + "\n")
    (folder / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (folder / "bin" / "python").chmod(0o755)
    # A small stand-in for the release's lineguard that answers the two smoke-test questions for real:
    # its version, and whether the device's config validates (with this checkout's edge.config).
    check = "import pathlib, sys; from edge.config import load_config; load_config(pathlib.Path(sys.argv[1]))"
    body = (
        f'case "$1" in --version) echo "lineguard {version}" ;; '
        f'check-config) exec "{sys.executable}" -c "{check}" "$2" ;; *) exit 2 ;; esac'
        if works
        else "echo broken >&2; exit 1"
    )
    (folder / "bin" / "lineguard").write_text(f"#!/bin/sh\n{body}\n")
    (folder / "bin" / "lineguard").chmod(0o755)
    return folder


@pytest.fixture
def device(tmp_path: Path) -> tuple[Path, SigningKey]:
    root = tmp_path / "root"
    key = SigningKey.generate()
    etc = root / "etc" / "lineguard"
    etc.mkdir(parents=True)
    (etc / "release-signing.pub").write_bytes(key.verify_key.encode(HexEncoder))
    (etc / "lineguard.toml").write_text('[device]\nid = "lg-test-0001"\nsite = "test-site"\n')
    factory = _release(tmp_path / "factory", "0.1.0")
    (root / "data" / "lineguard").mkdir(parents=True)
    os.symlink(factory, root / "data" / "lineguard" / "current")
    return root, key


def _bundle(tmp_path: Path, key: SigningKey, version: str, works: bool = True) -> tuple[Path, Path]:
    release = _release(tmp_path / f"build-{version}", version, works)
    bundle = tmp_path / f"lineguard-{version}.tar.gz"
    with tarfile.open(bundle, "w:gz") as tar:
        for item in release.iterdir():
            tar.add(item, arcname=item.name)
    signature = bundle.with_name(bundle.name + ".sig")
    signature.write_bytes(key.sign(bundle.read_bytes()).signature)
    return bundle, signature


def _update(root: Path, *args: str, systemctl: str = "true") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LINEGUARD_ROOT": str(root),
        "SYSTEMCTL": systemctl,
        "LINEGUARD_HEALTH_WAIT_S": "1",
        "LINEGUARD_STABLE_S": "0",
    }
    return subprocess.run(
        ["bash", str(FIRMWARE / "files" / "lineguard-update"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def _current(root: Path) -> str:
    return Path(os.readlink(root / "data" / "lineguard" / "current")).name


def test_update_installs_a_signed_release_and_rolls_back(
    device: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    root, key = device
    bundle, signature = _bundle(tmp_path, key, "0.2.0")
    proc = _update(root, "install", str(bundle), str(signature))
    assert proc.returncode == 0, proc.stderr
    assert _current(root) == "0.2.0"
    assert (root / "data" / "lineguard" / "releases" / "0.2.0" / "bin" / "lineguard").exists()
    proc = _update(root, "rollback")
    assert proc.returncode == 0, proc.stderr
    assert _current(root) == "factory"


def test_update_refuses_a_bad_signature(device: tuple[Path, SigningKey], tmp_path: Path) -> None:
    root, _ = device
    bundle, signature = _bundle(tmp_path, SigningKey.generate(), "0.2.0")
    proc = _update(root, "install", str(bundle), str(signature))
    assert proc.returncode == 1 and "bad signature" in proc.stderr
    assert _current(root) == "factory"
    assert not (root / "data" / "lineguard" / "releases" / "0.2.0").exists()


def test_update_refuses_a_release_that_does_not_start(
    device: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    root, key = device
    bundle, signature = _bundle(tmp_path, key, "0.3.0", works=False)
    proc = _update(root, "install", str(bundle), str(signature))
    assert proc.returncode == 1 and "does not start" in proc.stderr
    assert _current(root) == "factory"


def test_update_rolls_back_when_the_service_does_not_come_up(
    device: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    root, key = device
    bundle, signature = _bundle(tmp_path, key, "0.4.0")
    # `false` as the service manager: every restart and health check fails.
    proc = _update(root, "install", str(bundle), str(signature), systemctl="false")
    assert proc.returncode == 1
    assert "rolling back" in proc.stderr
    assert _current(root) == "factory"


# ---- first boot ----------------------------------------------------------------------------------------


def test_first_boot_provisions_identity_keys_and_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    provision = root / "boot" / "firmware" / "lineguard-provision"
    provision.mkdir(parents=True)
    (provision / "device.env").write_text("DEVICE_ID=lg-seoul-0042\nSITE=jung-gu-sogong\n")
    (provision / "central.pub").write_text("CENTRAL-KEY\n")
    (provision / "release-signing.pub").write_text("RELEASE-KEY\n")
    (provision / "ca.crt").write_text("CA\n")
    (provision / "client.crt").write_text("CERT\n")
    (provision / "client.key").write_text("SECRET\n")
    env = {**os.environ, "LINEGUARD_ROOT": str(root), "LINEGUARD_FIRSTBOOT_DRY": "1"}
    proc = subprocess.run(
        ["bash", str(FIRMWARE / "files" / "lineguard-firstboot")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    etc = root / "data" / "lineguard" / "etc"
    config = load_config(etc / "lineguard.toml")
    assert (config.device.id, config.device.site, config.device.backend) == (
        "lg-seoul-0042",
        "jung-gu-sogong",
        "pi",
    )
    assert (etc / "central.pub").read_text() == "CENTRAL-KEY\n"
    assert (etc / "certs" / "client.key").stat().st_mode & 0o777 == 0o640
    assert not provision.exists()  # the private key does not linger on the boot partition
    assert (root / "data" / "lineguard" / "var" / ".provisioned").exists()
    assert os.readlink(root / "data" / "lineguard" / "current") == "/opt/lineguard/factory"


def test_first_boot_without_provisioning_files_fails_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "LINEGUARD_ROOT": str(tmp_path), "LINEGUARD_FIRSTBOOT_DRY": "1"}
    proc = subprocess.run(
        ["bash", str(FIRMWARE / "files" / "lineguard-firstboot")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "lineguard-provision" in proc.stderr
    assert not (tmp_path / "data" / "lineguard" / "var" / ".provisioned").exists()


def test_update_refuses_a_release_that_rejects_the_device_config(
    device: tuple[Path, SigningKey], tmp_path: Path
) -> None:
    root, key = device
    (root / "etc" / "lineguard" / "lineguard.toml").write_text("[device]\nfuture_key = 1\n")
    bundle, signature = _bundle(tmp_path, key, "0.5.0")
    proc = _update(root, "install", str(bundle), str(signature))
    assert proc.returncode == 1 and "rejects" in proc.stderr
    assert _current(root) == "factory"
