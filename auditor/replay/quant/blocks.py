"""Reshaping a tensor into blocks of contiguous elements along one axis, and back."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Blocked:
    """A float32 [n_blocks, block] view of `x` along `axis`, zero-padded at the end of the axis."""

    data: torch.Tensor
    shape: torch.Size  # of x with `axis` moved last
    axis: int
    dtype: torch.dtype
    pad: int
    original: torch.Size  # x's own shape

    def restore(self, blocks: torch.Tensor) -> torch.Tensor:
        """Blocks back to x's shape and dtype (padding dropped)."""
        out = blocks.reshape(*self.shape[:-1], self.shape[-1] + self.pad)
        if self.pad:
            out = out[..., : self.shape[-1]]
        out = out.movedim(-1, self.axis)
        return out.to(self.dtype).contiguous().reshape(self.original)


def to_blocks(x: torch.Tensor, axis: int, block: int | None) -> Blocked:
    """`block=None` means the whole axis is one block (per-channel scaling)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor, got {x.dtype}")
    original = x.shape
    if x.dim() == 0:
        x = x.reshape(1)
        axis = 0
    if not -x.dim() <= axis < x.dim():
        raise ValueError(f"axis {axis} out of range for a tensor with {x.dim()} dimensions")
    axis = axis % x.dim()
    moved = x.movedim(axis, -1)
    length = moved.shape[-1]
    block = block or max(length, 1)
    pad = (-length) % block
    data = moved.to(torch.float32)
    if pad:
        data = torch.nn.functional.pad(data, (0, pad))
    return Blocked(data.contiguous().view(-1, block), moved.shape, axis, x.dtype, pad, original)


# Rows of blocks handled at once: big enough that per-call overhead is small, small enough that the
# chunk and its temporaries stay in cache (fresh 64 MB temporaries cost more in page faults than
# the arithmetic on them). Each chunk is processed with whole-tensor operations.
CHUNK_ELEMENTS = 1 << 19


def map_chunks(blocks: torch.Tensor, fn, output: bool = True) -> torch.Tensor | None:
    """fn(blocks[rows], out[rows], scratch, rows) over cache-sized chunks of rows; returns out.

    `scratch` is an int32 buffer of the chunk's shape, reused across chunks; without `output`,
    out[rows] is None and nothing is returned.
    """
    out = torch.empty_like(blocks) if output else None
    rows = max(1, CHUNK_ELEMENTS // max(blocks.shape[1], 1))
    scratch = torch.empty((min(rows, blocks.shape[0]), blocks.shape[1]), dtype=torch.int32, device=blocks.device)
    for start in range(0, blocks.shape[0], rows):
        stop = min(start + rows, blocks.shape[0])
        fn(blocks[start:stop], out[start:stop] if output else None, scratch[: stop - start], slice(start, stop))
    return out


def abs_amax(v: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """max |v| of every row of a chunk, [rows, 1] float32 (NaN when the row holds a NaN).

    |v| goes into `buffer` (v's shape, float32 or int32: it is viewed as float32), and stays there
    for the caller: no temporary. The maximum is taken over the int32 bit patterns: for non-negative
    floats they order the same way (any NaN pattern is above Inf, so a NaN still wins), and torch's
    integer row reduction is several times faster than the float one on short rows (16, 32) on CPU."""
    magnitudes = torch.abs(v, out=buffer.view(torch.float32))
    return torch.amax(magnitudes.view(torch.int32), dim=1, keepdim=True).view(torch.float32)
