"""A small ctypes wrapper over Debian's libspandsp2: independent caller-ID (adsi_tx) and DTMF (dtmf_tx) signals."""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np
import numpy.typing as npt

_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libspandsp.so.2",
    "/usr/lib/aarch64-linux-gnu/libspandsp.so.2",
    "/usr/lib/arm-linux-gnueabihf/libspandsp.so.2",
)

# spandsp's adsi.h
ADSI_STANDARD_CLASS = 1  # Bell 202 caller ID (Telcordia)
ADSI_STANDARD_CLIP = 2  # ETSI V.23 caller ID

CLASS_SDMF_CALLERID = 0x04
CLASS_MDMF_CALLERID = 0x80
MCLASS_DATETIME = 0x01
MCLASS_CALLER_NUMBER = 0x02
MCLASS_ABSENCE1 = 0x04
MCLASS_CALLER_NAME = 0x07


def find_library() -> str | None:
    """Path of libspandsp.so.2 on this machine, or None."""
    for candidate in _CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return ctypes.util.find_library("spandsp")


def _lib() -> ctypes.CDLL:
    path = find_library()
    if path is None:
        raise OSError("libspandsp2 is not installed (apt-get install libspandsp2)")
    lib = ctypes.CDLL(path)
    lib.adsi_tx_init.restype = ctypes.c_void_p
    lib.adsi_tx_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.adsi_tx_set_preamble.restype = None
    lib.adsi_tx_set_preamble.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.adsi_add_field.restype = ctypes.c_int
    lib.adsi_add_field.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_uint8,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.adsi_tx_put_message.restype = ctypes.c_int
    lib.adsi_tx_put_message.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.adsi_tx.restype = ctypes.c_int
    lib.adsi_tx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.adsi_tx_free.restype = ctypes.c_int
    lib.adsi_tx_free.argtypes = [ctypes.c_void_p]
    lib.dtmf_tx_init.restype = ctypes.c_void_p
    lib.dtmf_tx_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.dtmf_tx_set_level.restype = None
    lib.dtmf_tx_set_level.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.dtmf_tx_set_timing.restype = None
    lib.dtmf_tx_set_timing.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.dtmf_tx_put.restype = ctypes.c_size_t
    lib.dtmf_tx_put.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.dtmf_tx.restype = ctypes.c_int
    lib.dtmf_tx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lib.dtmf_tx_free.restype = ctypes.c_int
    lib.dtmf_tx_free.argtypes = [ctypes.c_void_p]
    return lib


_LIB: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """The loaded library (loaded once)."""
    global _LIB
    if _LIB is None:
        _LIB = _lib()
    return _LIB


def _drain(generate: object, state: int, limit: int) -> npt.NDArray[np.int16]:
    chunks: list[npt.NDArray[np.int16]] = []
    total = 0
    while total < limit:
        buf = np.zeros(160, dtype=np.int16)
        n = generate(state, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), 160)  # type: ignore[operator]
        if n <= 0:
            break
        chunks.append(buf[:n].copy())
        total += n
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def caller_id(
    standard: str,
    number: str | None,
    name: str | None = None,
    when: str | None = None,
    fmt: str = "mdmf",
    absence: str | None = None,
    short_preamble: bool = False,
) -> npt.NDArray[np.int16]:
    """One caller-ID message as spandsp's adsi_tx sends it (Bell 202 = CLASS, V.23 = CLIP), 8 kHz."""
    lb = lib()
    code = {"bell202": ADSI_STANDARD_CLASS, "v23": ADSI_STANDARD_CLIP}[standard]
    state = lb.adsi_tx_init(None, code)
    try:
        if short_preamble:
            # Call-waiting style: no channel seizure, 80 mark bits.
            lb.adsi_tx_set_preamble(state, 0, 80, 5, 1)
        msg = ctypes.create_string_buffer(256)
        if fmt == "sdmf":
            body = (when or "01010000") + (number if number is not None else (absence or "O"))
            length = lb.adsi_add_field(state, msg, 0, CLASS_SDMF_CALLERID, None, 0)
            raw = body.encode("ascii")
            length = lb.adsi_add_field(state, msg, length, 0, raw, len(raw))
        else:
            length = lb.adsi_add_field(state, msg, 0, CLASS_MDMF_CALLERID, None, 0)
            fields: list[tuple[int, str]] = []
            if when is not None:
                fields.append((MCLASS_DATETIME, when))
            if number is not None:
                fields.append((MCLASS_CALLER_NUMBER, number))
            if absence is not None:
                fields.append((MCLASS_ABSENCE1, absence))
            if name is not None:
                fields.append((MCLASS_CALLER_NAME, name))
            for kind, text in fields:
                raw = text.encode("ascii")
                length = lb.adsi_add_field(state, msg, length, kind, raw, len(raw))
        lb.adsi_tx_put_message(state, msg, length)
        return _drain(lb.adsi_tx, state, 8000 * 5)
    finally:
        lb.adsi_tx_free(state)


def dtmf(
    digits: str, on_ms: int = 50, off_ms: int = 55, level: int = -10, twist: int = 0
) -> npt.NDArray[np.int16]:
    """DTMF digits as spandsp's dtmf_tx sends them (level in dBm0 of the low tone, twist in dB), 8 kHz."""
    lb = lib()
    state = lb.dtmf_tx_init(None, None, None)
    try:
        lb.dtmf_tx_set_level(state, level, twist)
        lb.dtmf_tx_set_timing(state, on_ms, off_ms)
        lb.dtmf_tx_put(state, digits.encode("ascii"), len(digits))
        return _drain(lb.dtmf_tx, state, 8000 * 60)
    finally:
        lb.dtmf_tx_free(state)


_PUT_MSG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)


def receive_caller_id(standard: str, pcm: npt.NDArray[np.int16]) -> list[bytes]:
    """Messages spandsp's adsi_rx finds in ``pcm`` (8 kHz): an independent check of a sender."""
    lb = lib()
    lb.adsi_rx_init.restype = ctypes.c_void_p
    lb.adsi_rx_init.argtypes = [ctypes.c_void_p, ctypes.c_int, _PUT_MSG, ctypes.c_void_p]
    lb.adsi_rx.restype = ctypes.c_int
    lb.adsi_rx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]
    lb.adsi_rx_free.restype = ctypes.c_int
    lb.adsi_rx_free.argtypes = [ctypes.c_void_p]
    found: list[bytes] = []

    def put(_user: object, msg: ctypes._Pointer[ctypes.c_uint8], length: int) -> None:
        if length > 0:
            found.append(bytes(msg[:length]))

    callback = _PUT_MSG(put)
    code = {"bell202": ADSI_STANDARD_CLASS, "v23": ADSI_STANDARD_CLIP}[standard]
    state = lb.adsi_rx_init(None, code, callback, None)
    try:
        samples = np.ascontiguousarray(pcm, dtype=np.int16)
        for i in range(0, samples.size, 160):
            chunk = np.ascontiguousarray(samples[i : i + 160])
            lb.adsi_rx(state, chunk.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), chunk.size)
    finally:
        lb.adsi_rx_free(state)
    return found
