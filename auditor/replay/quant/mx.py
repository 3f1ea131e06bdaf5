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

Speed: chunks of rows are processed in turn (amax, scale, rounding). With round-half-to-even, a
chunk whose blocks all have shared exponents in a safe range is rounded straight onto the grid
(_round_direct, no scaling); any other chunk takes the step-by-step path (_round_scaled). Both give
the same bits.
"""

from __future__ import annotations

import struct

import torch

from auditor.replay.quant.blocks import abs_amax, map_chunks, to_blocks
from auditor.replay.quant.elements import (
    FP4_E2M1,
    FP6_E2M3,
    FP6_E3M2,
    FP8_E4M3,
    FP8_E5M2,
    ElemFormat,
    biased_exponent,
    copy_sign_,
    magnitude_to_grid_,
    pow2_from_exponent,
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
        max_mantissa = _float_bits(elem.max_normal) & 0x7FFFFF
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

    def chunk(v: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor, _rows: slice) -> None:
        # amax, scale and rounding of one cache-sized chunk in turn: v is read from memory once
        amax = abs_amax(v, out)  # leaves |v| in out, where the fast path rounds it
        se = shared_exponent(amax, elem, scale_mode)
        if rounding != "even" or not _round_direct(v, out, scratch, amax, se, elem):
            _round_scaled(v, out, scratch, amax, se, elem, rounding)

    return blocked.restore(map_chunks(blocked.data, chunk))


def _direct_range(elem: ElemFormat) -> tuple[int, int]:
    """Shared exponents for which magnitude_to_grid_'s preconditions hold for every element:
    2^(emin + se) normal, and 1.5 * 2^(emax + se + 23 - mbits) finite."""
    return -126 - elem.emin, 104 + elem.mbits - elem.emax


def _round_direct(v, out, scratch, amax, se, elem: ElemFormat) -> bool:
    """The fast path: round |v| (already in out) straight onto the block's grid (step 2^(E + se - mbits)),
    no scaling, then clamp and give back the sign.

    out = round(v / X / Q) * Q * X with X = 2^se is exactly v rounded to multiples of Q * X, and the
    clamp to +-max_normal * X commutes with the (monotone) rounding onto a grid holding that bound.
    Every element's exponent is at most emax + se in all scale modes, so the magic constant stays
    finite without clamping first. Returns False, leaving out as it was, when a block is outside the
    exponent range where that holds (amax below 2^-124..2^-97 or from 2^106..2^108 up, depending on
    the format) or holds an Inf or NaN.
    """
    low, high = _direct_range(elem)
    lowest, highest = torch.aminmax(torch.where(amax == 0, low, se))  # zero blocks fit any grid
    if lowest.item() < low or highest.item() > high:
        return False
    shifted = torch.bitwise_left_shift(se.clamp_(min=low), 23)  # se in the exponent field
    floor_bits = shifted.add((elem.emin + 127) << 23)  # 2^(emin + se)
    bound = shifted.add_(_float_bits(elem.max_normal)).view(torch.float32)  # max_normal * X
    magnitude_to_grid_(out, scratch, floor_bits, elem.mbits)  # out holds |v|
    torch.minimum(out, bound, out=out)  # the same as clamping first: the bound is on the grid
    copy_sign_(out, v, scratch)  # zeros too: round(-0.2) is -0
    return True


def _round_scaled(v, out, scratch, amax, se, elem: ElemFormat, rounding: str) -> None:
    """The general path, step by step as the spec says: u = v / X, round u onto the element grid, times X."""
    bad = biased_exponent(amax) == 255  # Inf or NaN in the block
    scale = torch.where(bad, torch.nan, pow2_from_exponent(se))
    inverse = torch.where(bad, 1.0, pow2_from_exponent(-se))  # 2^-se <= 2^127: always a normal float
    torch.mul(v, inverse, out=out)  # u = v / X, exact: a power of two
    round_to_grid_(out, elem, rounding, scratch)
    out.mul_(scale)  # exact: the element grid times 2^se stays within float32's subnormal grid


def _float_bits(value: float) -> int:
    return struct.unpack("<i", struct.pack("<f", value))[0]
