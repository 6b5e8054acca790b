"""Test support: a real Mosquitto on 127.0.0.1 with TLS client certificates (made with openssl) and an ACL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.telemetry.settings import MqttConfig
from tests.cli_support import one_line

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"

DEPLOY = Path(__file__).resolve().parents[2] / "central" / "deploy"
DEPLOY_CONF = DEPLOY / "mosquitto-lineguard.conf"
ACL = (DEPLOY / "lineguard.acl").read_text()
"""The ACL shipped for deployment, so the tests check the real file."""


def have_mosquitto() -> bool:
    """Whether the broker binary is installed."""
    return Path(MOSQUITTO).exists()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    """A throw-away CA with a broker certificate and one client certificate per identity."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def cert(self, name: str) -> Path:
        return self.directory / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def issue(self, name: str, *, ca: str = "ca", server: bool = False) -> None:
        """A certificate with CN ``name`` signed by the CA file pair ``ca``."""
        d = self.directory
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
        _openssl("req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-out", f"{name}.csr", cwd=d)
        ext = d / f"{name}.ext"
        ext.write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else "basicConstraints=CA:FALSE\n"
        )
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", f"{name}.pem", cwd=d,
        )  # fmt: skip


def make_pki(directory: Path, clients: list[str]) -> Pki:
    """CA, ``broker`` server cert for 127.0.0.1, and client certs for each name (plus a rogue CA's ``intruder``)."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    for ca in ("ca", "rogue-ca"):
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{ca}.key", cwd=directory)
        _openssl(
            "req", "-x509", "-new", "-key", f"{ca}.key", "-subj", f"/CN=lineguard test {ca}",
            "-days", "2", "-out", f"{ca}.pem", cwd=directory,
        )  # fmt: skip
    pki.issue("broker", server=True)
    for name in clients:
        pki.issue(name)
    pki.issue("intruder", ca="rogue-ca")
    return pki


class Broker:
    """One Mosquitto process; ``tls`` gives a client-certificate listener with the ACL above."""

    def __init__(self, directory: Path, pki: Pki | None = None, *, port: int | None = None) -> None:
        self.directory = directory
        self.pki = pki
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "data").mkdir(exist_ok=True)
        local = [
            f"persistence_location {directory / 'data'}/",
            "autosave_interval 1",
            f"log_dest file {directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "user root" if os.geteuid() == 0 else "",
        ]
        if pki is not None:
            # The shipped deployment config, pointed at this test's files and port.
            (directory / "lineguard.acl").write_text(ACL)
            text = DEPLOY_CONF.read_text()
            text = text.replace("listener 8883\n", f"listener {self.port} 127.0.0.1\n")
            text = text.replace("/etc/mosquitto/lineguard/lineguard.acl", str(directory / "lineguard.acl"))
            text = text.replace("/etc/mosquitto/lineguard/", f"{pki.directory}/")
            lines = [text, *local]
        else:
            lines = [
                "per_listener_settings false",
                f"listener {self.port} 127.0.0.1",
                "allow_anonymous true",
                "persistence true",
                "max_queued_messages 1000000",
                "max_inflight_messages 200",
                *local,
            ]
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> Broker:
        """Start and wait until the port accepts connections."""
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop with ``sig`` (SIGTERM saves the persistence file, SIGKILL loses what is in memory)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def log(self) -> str:
        path = self.directory / "mosquitto.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def settings(self, identity: str, **overrides: object) -> MqttConfig:
        """Client settings for ``identity`` (its certificate when the broker uses TLS)."""
        values: dict[str, object] = {"enabled": True, "host": "127.0.0.1", "port": self.port, "tls": False}
        if self.pki is not None:
            values.update(
                tls=True,
                ca_file=self.pki.ca,
                cert_file=self.pki.cert(identity),
                key_file=self.pki.key(identity),
            )
        values.update(overrides)
        return MqttConfig.model_validate(values)


def run_cli(
    main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run a command-line ``main`` in this process: (exit status, stdout, stderr as ``one_line``)."""
    try:
        status = main(list(args))
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, one_line(err)
