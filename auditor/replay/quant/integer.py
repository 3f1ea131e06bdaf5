"""Symmetric integer fake quantization: per channel (the whole axis) or per group of `block_size`.

    scale = amax / qmax            (qmax = 127 for int8, 7 for int4; -qmax..qmax, no -128/-8)
    out   = clamp(round(x / scale), -qmax, qmax) * scale
A zero group keeps zeros; a group holding an Inf or NaN comes back all NaN.
"""

from __future__ import annotations

import torch

from auditor.replay.quant.blocks import abs_amax, map_chunks, to_blocks
from auditor.replay.quant.elements import round_integer_

INF_BITS = 0x7F800000  # |x| bit patterns at or above it are Inf or NaN
QMAX = {"int8": 127, "int4": 7}


def quantize_int(x: torch.Tensor, fmt: str, *, block_size: int | None = None, axis: int = -1,
                 rounding: str = "even") -> torch.Tensor:
    qmax = QMAX[fmt]
    blocked = to_blocks(x, axis, block_size)

    def chunk(v: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor, _rows: slice) -> None:
        # cache-sized chunks of rows written straight into the output: no full-size temporaries
        amax = abs_amax(v, scratch)
        bad = amax.view(torch.int32) >= INF_BITS  # Inf or NaN in the group
        scale = torch.where((amax == 0) | bad, 1.0, amax / qmax)
        torch.div(v, scale, out=out)
        round_integer_(out, rounding)
        out.clamp_(-qmax, qmax).mul_(torch.where(bad, torch.nan, scale))

    return blocked.restore(map_chunks(blocked.data, chunk))
