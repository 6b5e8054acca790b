"""Sealing to the central X25519 public key (libsodium sealed boxes): the device can seal, never open."""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

SEAL_OVERHEAD = 48
"""Bytes a sealed box adds: the ephemeral public key (32) and the MAC (16)."""
CLIP_MAGIC = b"LGSEAL1\n"
"""First bytes of a sealed file (a detection clip or any other sealed blob)."""


class KeyFileError(ValueError):
    """A key could not be read or is not a 32-byte X25519 key."""


def _decode_key_text(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{what} is not base64 text") from None
    if len(raw) != 32:
        raise KeyFileError(f"{what} decodes to {len(raw)} bytes, an X25519 key has 32")
    return raw


def load_public_key(spec: str) -> PublicKey:
    """The central public key from base64 text or from the path of a file holding it."""
    text = spec.strip()
    if len(text) == 44 and text.endswith("="):
        return PublicKey(_decode_key_text(text, "the public key"))
    path = Path(text)
    try:
        content = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the public key file {path}: {exc}") from None
    return PublicKey(_decode_key_text(content, f"the public key file {path}"))


def load_private_key(path: Path) -> PrivateKey:
    """The central private key from a base64 text file (made by ``lineguard keygen``)."""
    try:
        content = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the key file {path}: {exc}") from None
    return PrivateKey(_decode_key_text(content, f"the key file {path}"))


@dataclass(frozen=True)
class KeyPair:
    """Where ``generate_keypair`` wrote the two halves."""

    private_path: Path
    public_path: Path
    public_b64: str


def generate_keypair(out_dir: Path) -> KeyPair:
    """Write ``central.key`` (private, mode 0600) and ``central.pub`` into ``out_dir``; never overwrites."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / "central.key"
    public_path = out_dir / "central.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} already exists; keys are never overwritten")
    key = PrivateKey.generate()
    public_b64 = base64.b64encode(bytes(key.public_key)).decode("ascii")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(bytes(key)).decode("ascii") + "\n")
    public_path.write_text(public_b64 + "\n", encoding="ascii")
    return KeyPair(private_path, public_path, public_b64)


def seal(data: bytes, public_key: PublicKey) -> bytes:
    """One sealed box: only the holder of the matching private key can open it."""
    return bytes(SealedBox(public_key).encrypt(data))


def unseal(box: bytes, private_key: PrivateKey) -> bytes:
    """Open one sealed box; raises ``CryptoError`` when the key is wrong or a byte was altered."""
    return bytes(SealedBox(private_key).decrypt(box))


def seal_file_bytes(data: bytes, public_key: PublicKey) -> bytes:
    """A whole file's content sealed as one blob with a recognisable header (for detection clips)."""
    return CLIP_MAGIC + seal(data, public_key)


def open_file_bytes(blob: bytes, private_key: PrivateKey) -> bytes:
    """The content of a ``seal_file_bytes`` blob; raises ``ValueError`` if it is not one or was altered."""
    if not blob.startswith(CLIP_MAGIC):
        raise ValueError("not a lineguard sealed file (bad header)")
    try:
        return unseal(blob[len(CLIP_MAGIC) :], private_key)
    except CryptoError:
        raise ValueError("the sealed file was altered or the key does not open it") from None


class ClipSealer:
    """Writes sealed files (e.g. detection clips as WAV bytes) atomically with fsync."""

    def __init__(self, public_key: PublicKey) -> None:
        self.public_key = public_key

    def seal(self, data: bytes) -> bytes:
        """The sealed blob for ``data``."""
        return seal_file_bytes(data, self.public_key)

    def write(self, path: Path, data: bytes) -> Path:
        """Seal ``data`` into ``path`` (tmp file, fsync, rename); returns the path."""
        blob = self.seal(data)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return path
