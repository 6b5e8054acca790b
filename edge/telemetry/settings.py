"""The ``[mqtt]`` config section: broker, TLS identity, topics, health interval, outbox limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, model_validator

from edge.settings import Section

_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True, "tls": True}


class MqttConfig(Section):
    """How the box reaches central IT's MQTT broker, and how much it keeps while it cannot."""

    enabled: bool = Field(False, title="Enabled", description="Report to a broker at all.")
    host: str = Field("localhost", title="Broker host", description="Broker host name or address.")
    port: int = Field(
        8883, ge=1, le=65535, title="Broker port", description="Broker TCP port (8883 for TLS)."
    )
    tls: bool = Field(True, title="TLS", description="Connect with TLS (required outside a lab).")
    ca_file: Path | None = Field(
        None, title="CA certificate", description="PEM file of the CA that signed the broker's certificate."
    )
    cert_file: Path | None = Field(
        None,
        title="Client certificate",
        description="PEM certificate of this box; its CN is the device identity the broker's ACL uses.",
    )
    key_file: Path | None = Field(
        None, title="Client key", description="PEM private key of the client certificate."
    )
    username: str | None = Field(
        None, title="User name", description="User name for brokers without client certificates (lab only)."
    )
    password: str | None = Field(None, title="Password", description="Password that goes with the user name.")
    keepalive_s: int = Field(
        30,
        ge=5,
        le=600,
        title="Keepalive",
        description="Seconds between keepalive pings; the will fires after 1.5x.",
    )
    health_interval_s: float = Field(
        60.0, ge=1.0, le=3600.0, title="Health interval", description="Seconds between health reports."
    )
    topic_prefix: str = Field(
        "lineguard",
        title="Topic prefix",
        description="First topic level; topics are <prefix>/<site>/<device>/...",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
    )
    central_identity: str = Field(
        "central",
        title="Central identity",
        description="Certificate CN of the central receiver; commands from any other sender are refused.",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
    )
    outbox_max_mb: float = Field(
        256.0,
        ge=1.0,
        le=65536.0,
        title="Outbox size",
        description="Disk the outbox may use; past it, sent rows and then old health samples go (events never).",
    )
    outbox_keep_sent: int = Field(
        20000,
        ge=0,
        le=10_000_000,
        title="Sent events kept",
        description="Events kept after delivery so central can ask for a resend of any it missed.",
    )
    outbox_synchronous: Literal["full", "normal"] = Field(
        "full",
        title="Outbox sync",
        description="'full' survives power loss (fsync per event); 'normal' survives only a crash of the process.",
    )
    inflight_window: int = Field(
        100,
        ge=1,
        le=10000,
        title="In-flight window",
        description="Messages handed to the network unacknowledged.",
    )

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self

    @classmethod
    def from_url(cls, url: str) -> MqttConfig:
        """A config from ``mqtt://[user:pass@]host[:port]`` or ``mqtts://host[:port]?ca=..&cert=..&key=..``."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(f"MQTT URL {url!r} must start with mqtt:// or mqtts://")
        if not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} names no host")
        tls = _SCHEMES[scheme]
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ValueError(f"MQTT URL {url!r} has a bad port") from exc

        def path(name: str) -> Path | None:
            return Path(query[name]) if name in query else None

        return cls(
            enabled=True,
            host=parts.hostname,
            port=port,
            tls=tls,
            ca_file=path("ca"),
            cert_file=path("cert"),
            key_file=path("key"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            central_identity=query.get("central", "central"),
            outbox_synchronous="normal" if query.get("sync") == "normal" else "full",
        )
