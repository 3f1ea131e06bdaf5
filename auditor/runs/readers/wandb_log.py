"""The container of a W&B transaction log (`run-<id>.wandb`): LevelDB-log style chunks in 32 KiB blocks.

File header "<4sHB" = b":W&B", 0xBEE1, version 0. Each chunk: "<IHB" = crc32, length, type
(1 FULL, 2 FIRST, 3 MIDDLE, 4 LAST); the CRC covers the type byte and the data. A block remainder
shorter than a chunk header is zero padding. This module only splits the file into payloads.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

HEADER = struct.Struct("<4sHB")
CHUNK = struct.Struct("<IHB")
BLOCK = 32 * 1024
MAGIC = (b":W&B", 0xBEE1)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


class LogFormatError(ValueError):
    pass


@dataclass
class LogPayloads:
    records: list[bytes] = field(default_factory=list)
    problem: str | None = None  # why reading stopped early (truncated / corrupt chunk), if it did


def read_payloads(data: bytes) -> LogPayloads:
    """The record payloads of a .wandb file; a torn or corrupt tail stops reading and is reported."""
    if len(data) < HEADER.size:
        raise LogFormatError(f"file is {len(data)} bytes, shorter than the 7-byte W&B header")
    magic, ident, _version = HEADER.unpack_from(data, 0)
    if (magic, ident) != MAGIC:
        raise LogFormatError("not a W&B transaction log (bad header magic)")
    out = LogPayloads()
    pos, pending = HEADER.size, None
    while pos < len(data):
        room = BLOCK - pos % BLOCK
        if room < CHUNK.size:  # zero padding at the end of a block
            pos += room
            continue
        if pos + CHUNK.size > len(data):
            out.problem = f"truncated chunk header at byte {pos}"
            break
        crc, length, kind = CHUNK.unpack_from(data, pos)
        if crc == 0 and length == 0 and kind == 0:  # preallocated zeros: the writer stopped here
            break
        start = pos + CHUNK.size
        chunk = data[start:start + length]
        if len(chunk) < length:
            out.problem = f"truncated chunk at byte {pos} ({len(chunk)} of {length} bytes)"
            break
        if zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            out.problem = f"CRC mismatch in chunk at byte {pos}"
            break
        pos = start + length
        if kind == FULL:
            out.records.append(chunk)
            pending = None
        elif kind == FIRST:
            pending = [chunk]
        elif kind == MIDDLE and pending is not None:
            pending.append(chunk)
        elif kind == LAST and pending is not None:
            pending.append(chunk)
            out.records.append(b"".join(pending))
            pending = None
        else:
            out.problem = f"unexpected chunk type {kind} at byte {pos - length - CHUNK.size}"
            break
    if pending is not None and out.problem is None:
        out.problem = "the last record is incomplete (half-written log)"
    return out
