"""Read and write the IDX format of MNIST and Fashion-MNIST (usually gzip-compressed).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order. Both datasets use type 0x08
(unsigned byte): images (N, 28, 28) and labels (N,).
"""
import gzip
import zlib

import numpy as np

UBYTE = 0x08


class IDXError(ValueError):
    """An IDX file that is truncated, corrupted or not IDX at all."""


def parse_idx(raw, name="<bytes>"):
    """Decode the bytes of an (uncompressed) IDX file into a uint8 array of its shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{name}: not an IDX file (bad magic number {raw[:4].hex()!r})")
    if raw[2] != UBYTE:
        raise IDXError(f"{name}: IDX type code 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{name}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise IDXError(f"{name}: IDX header promises shape {shape} ({expected} bytes) "
                       f"but the file holds {len(raw)} bytes: it is truncated or corrupted")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path):
    """Load an IDX file (`.gz` or plain) as a uint8 array, with a clear error if it is damaged."""
    path = str(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise IDXError(f"{path}: cannot decompress ({error}); the file is truncated or "
                       "corrupted: delete it and fetch it again") from error
    return parse_idx(raw, path)


def encode_idx(array):
    """The bytes of an IDX file holding a uint8 array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx_gz(path, array):
    """Write a uint8 array as a gzip-compressed IDX file (reproducible: no name, mtime 0)."""
    with open(path, "wb") as raw_file:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw_file, mtime=0) as f:
            f.write(encode_idx(array))
