"""Symmetric integer fake quantization: per channel (the whole axis) or per group of `block_size`.

    scale = amax / qmax            (qmax = 127 for int8, 7 for int4; -qmax..qmax, no -128/-8)
    out   = clamp(round(x / scale), -qmax, qmax) * scale
A zero group keeps zeros; a group holding an Inf or NaN comes back all NaN.
"""

from __future__ import annotations

import torch

from auditor.replay.quant.blocks import to_blocks
from auditor.replay.quant.elements import biased_exponent, round_integer_

QMAX = {"int8": 127, "int4": 7}


def quantize_int(x: torch.Tensor, fmt: str, *, block_size: int | None = None, axis: int = -1,
                 rounding: str = "even") -> torch.Tensor:
    qmax = QMAX[fmt]
    blocked = to_blocks(x, axis, block_size)
    v = blocked.data
    amax = v.abs().amax(dim=1, keepdim=True)
    bad = biased_exponent(amax) == 255
    scale = torch.where((amax == 0) | bad, 1.0, amax / qmax)
    out = v / scale
    round_integer_(out, rounding)
    out.clamp_(-qmax, qmax).mul_(torch.where(bad, torch.nan, scale))
    return blocked.restore(out)
