"""OCP Microscaling (MX v1.0): blocks of 32 elements share one E8M0 scale (a power of two).

    amax = max |v| over the block
    e    = floor(log2 amax), exactly: the float32 exponent field (-127 for a zero block)
    se   = max(e - emax_elem, -127);  X = 2^se
    out  = clamp(round_to_element_grid(v / X), -max_normal, max_normal) * X

Scale modes (where public implementations differ, see docs/usage-replay.md):
    floor  the OCP spec (above)
    rceil  NVIDIA/cuBLAS: se = ceil(log2(amax / max_normal)), exactly from amax's bits
    even   torchao's EVEN: amax rounded to the element's mantissa bits before the floor
Inf/NaN: a block holding any Inf or NaN comes back all NaN (its E8M0 scale is the NaN code 0xFF);
the other blocks are unaffected.
"""

from __future__ import annotations

import torch

from auditor.replay.quant.blocks import block_amax, map_chunks, to_blocks
from auditor.replay.quant.elements import (
    FP4_E2M1, FP6_E2M3, FP6_E3M2, FP8_E4M3, FP8_E5M2, ElemFormat, biased_exponent, pow2_from_exponent,
    round_to_grid_,
)

FORMATS: dict[str, ElemFormat] = {
    "mxfp4": FP4_E2M1,
    "mxfp6_e2m3": FP6_E2M3,
    "mxfp6_e3m2": FP6_E3M2,
    "mxfp8_e4m3": FP8_E4M3,
    "mxfp8_e5m2": FP8_E5M2,
}
SCALE_MODES = ("floor", "rceil", "even")
BLOCK_SIZE = 32
E8M0_MIN = -127


def shared_exponent(amax: torch.Tensor, elem: ElemFormat, scale_mode: str) -> torch.Tensor:
    """The block's shared exponent se (int32), from the bits of its float32 amax."""
    field = biased_exponent(amax)
    if scale_mode == "floor":
        se = field - 127 - elem.emax
    elif scale_mode == "rceil":
        # amax <= max_normal * 2^k  <=>  k >= E_a - emax (+1 when amax's mantissa exceeds max_normal's)
        mantissa = amax.view(torch.int32) & 0x7FFFFF
        max_mantissa = torch.tensor([elem.max_normal], dtype=torch.float32).view(torch.int32).item() & 0x7FFFFF
        se = field - 127 - elem.emax + (mantissa > max_mantissa).to(torch.int32)
    elif scale_mode == "even":
        rounded = amax.view(torch.int32) + (1 << (22 - elem.mbits))
        se = (torch.bitwise_right_shift(rounded, 23) & 0xFF) - 127 - elem.emax
    else:
        raise ValueError(f"unknown scale_mode {scale_mode!r}; allowed: {', '.join(SCALE_MODES)}")
    # A zero or subnormal amax has exponent field 0, so se lands at or below -127: the clamp is exact.
    return se.clamp(min=E8M0_MIN)


def quantize_mx(x: torch.Tensor, fmt: str, *, block_size: int | None = None, axis: int = -1,
                scale_mode: str = "floor", rounding: str = "even") -> torch.Tensor:
    elem = FORMATS[fmt]
    blocked = to_blocks(x, axis, block_size or BLOCK_SIZE)
    amax = block_amax(blocked.data)
    se = shared_exponent(amax, elem, scale_mode)
    bad = biased_exponent(amax) == 255  # Inf or NaN in the block
    scale = torch.where(bad, torch.nan, pow2_from_exponent(se))
    inverse = torch.where(bad, 1.0, pow2_from_exponent(-se))  # 2^-se <= 2^127: always a normal float

    def chunk(v: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor, rows: slice) -> None:
        torch.mul(v, inverse[rows], out=out)  # u = v / X, exact: a power of two
        round_to_grid_(out, elem, rounding, scratch)
        out.mul_(scale[rows])  # exact: the element grid times 2^se stays within float32's subnormal grid

    return blocked.restore(map_chunks(blocked.data, chunk))
