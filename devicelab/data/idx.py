"""Reader for IDX files, the format MNIST and friends ship in (http://yann.lecun.com/exdb/mnist/).

Layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per dimension,
then the values, big-endian, C order. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from devicelab.errors import DataError

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}", hint="check the path") from None
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    # Sniff gzip by content, not by suffix: downloaded MNIST files are often renamed or unpacked.
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} looks gzip-compressed but cannot be decompressed: {exc}",
            hint="the download may be incomplete; fetch the file again",
        ) from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file into a native-endian numpy array, raising DataError if it is corrupt."""
    path = Path(path)
    data = _read_bytes(path)
    corrupt_hint = "the file is not an IDX file or is damaged; fetch it again"
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file: bad magic number", hint=corrupt_hint)
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{type_code:02x}", hint=corrupt_hint)
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares zero dimensions", hint=corrupt_hint)
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{path}: IDX header is truncated", hint=corrupt_hint)
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise DataError(
            f"{path}: IDX file is {what}: header shape {dims} needs {expected} bytes of data, found {actual}",
            hint=corrupt_hint,
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    # Native byte order and a writable copy, so callers never trip over '>f4' arrays.
    return values.astype(dtype.newbyteorder("="))
