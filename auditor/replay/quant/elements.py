"""Low-precision element formats and rounding onto their grids, on float32 bits.

Every helper works in place on float32 tensors and uses integer operations on the float's bits
for exponents (exact, and much faster than log2/exp2). Big temporaries are what costs time on
CPU (page faults on fresh memory), so the callers pass buffers in and everything else is in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ROUNDINGS = ("even", "nearest-away")
EXP_MASK = 0x7F800000
SIGN_MASK = -0x80000000  # 0x80000000 as an int32
FLT_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class ElemFormat:
    name: str
    ebits: int
    mbits: int
    bias: int
    max_normal: float

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal: below it the grid is the subnormal step."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """floor(log2(max_normal)): the `emax_elem` of the OCP MX spec."""
        return int(self.max_normal).bit_length() - 1


FP4_E2M1 = ElemFormat("fp4_e2m1", 2, 1, 1, 6.0)
FP6_E2M3 = ElemFormat("fp6_e2m3", 2, 3, 1, 7.5)
FP6_E3M2 = ElemFormat("fp6_e3m2", 3, 2, 3, 28.0)
FP8_E4M3 = ElemFormat("fp8_e4m3", 4, 3, 7, 448.0)
FP8_E5M2 = ElemFormat("fp8_e5m2", 5, 2, 15, 57344.0)


def _int32(value: int, device) -> torch.Tensor:
    """An int32 scalar with `value`'s low 32 bits: int32 arithmetic wraps, and only the result must fit."""
    value &= 0xFFFFFFFF
    return torch.tensor(value - (1 << 32) if value >= 1 << 31 else value, dtype=torch.int32, device=device)


def check_rounding(rounding: str) -> None:
    if rounding not in ROUNDINGS:
        raise ValueError(f"unknown rounding {rounding!r}; allowed: {', '.join(ROUNDINGS)}")


def round_to_grid_(a: torch.Tensor, fmt: ElemFormat, rounding: str, scratch: torch.Tensor) -> torch.Tensor:
    """Round float32 values `a` (in place, either sign) onto the element grid of `fmt`, saturating
    at +-max_normal. `scratch` is an int32 buffer of a's shape.

    Per element: E = max(floor(log2 |a|), emin); Q = 2^(E - mbits); a = round(a / Q) * Q. E comes
    from the exponent bits (the sign bit is masked off); 1/Q is built directly as a float's bits, so
    a * (1/Q) and the division by 1/Q afterwards are exact (powers of two): only the rounding rounds.
    """
    bits = a.view(torch.int32)
    torch.bitwise_and(bits, EXP_MASK, out=scratch)  # biased exponent << 23 (0 for zero/subnormal)
    scratch.clamp_(min=(fmt.emin + 127) << 23, max=(fmt.emax + 127) << 23)
    # 1/Q = 2^(mbits - E): biased exponent 127 + mbits - E = (254 + mbits) - (E + 127)
    torch.sub(_int32((254 + fmt.mbits) << 23, scratch.device), scratch, out=scratch)
    inv_q = scratch.view(torch.float32)
    a.mul_(inv_q)
    round_integer_(a, rounding)
    a.div_(inv_q)
    return a.clamp_(min=-fmt.max_normal, max=fmt.max_normal)


def round_integer_(a: torch.Tensor, rounding: str) -> torch.Tensor:
    """Round float32 values to integers in place: half to even, or half away from zero."""
    if rounding == "even":
        return a.round_()
    # floor(|a| + 0.5) is wrong for |a| = n + 0.5 - tiny (the sum rounds up to n + 1); a - trunc(a) is exact.
    whole = torch.trunc(a)
    sign = torch.sign(a)
    return a.sub_(whole).abs_().ge_(0.5).mul_(sign).add_(whole)


def pow2_from_exponent(e: torch.Tensor) -> torch.Tensor:
    """2^e as float32 for integer e in [-149, 127], exactly (subnormal powers included)."""
    e = e.to(torch.int32)
    normal = torch.bitwise_left_shift(e.clamp(min=-126) + 127, 23)
    subnormal = torch.bitwise_left_shift(torch.ones_like(e), (e + 149).clamp(min=0, max=22))
    return torch.where(e >= -126, normal, subnormal).view(torch.float32)


def biased_exponent(x: torch.Tensor) -> torch.Tensor:
    """The 8-bit biased exponent field of float32 values (0 for zero and subnormals, 255 for Inf/NaN)."""
    return torch.bitwise_right_shift(x.contiguous().view(torch.int32), 23) & 0xFF
