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


def magnitude_to_grid_(mag: torch.Tensor, scratch: torch.Tensor, floor_bits, mbits: int) -> torch.Tensor:
    """Round non-negative float32 values `mag` in place, half to even, onto multiples of
    Q = 2^(E - mbits) with E = max(floor(log2 mag), floor), where 2^floor is the float whose bits are
    `floor_bits` (an int32 scalar, or a tensor broadcasting against mag). `scratch`: int32, mag's shape.

    Four passes, no division: with P = 2^E (mag's exponent bits, raised to the floor) and
    C = 1.5 * 2^(23 - mbits) * P, mag + C lies in [2^k, 2^(k+1)) with k = E + 23 - mbits, where
    float32's spacing is exactly Q, so the float addition itself rounds mag to the grid, half to even
    (C / Q is even, so the parity of the sum's significand is that of the rounded multiple);
    subtracting C again is exact. Preconditions (the caller ensures them): 2^floor is a normal
    float (so a subnormal mag's true exponent is below the floor), and C is finite
    (E + 23 - mbits <= 127)."""
    torch.bitwise_and(mag.view(torch.int32), EXP_MASK, out=scratch)  # P's bits (0 for zero/subnormal)
    if isinstance(floor_bits, torch.Tensor):
        torch.maximum(scratch, floor_bits, out=scratch)
    else:
        scratch.clamp_(min=floor_bits)
    step = scratch.view(torch.float32)
    magic = 1.5 * 2.0 ** (23 - mbits)  # magic * P is exact: P is a power of two
    return mag.add_(step, alpha=magic).sub_(step, alpha=magic)


def copy_sign_(mag: torch.Tensor, source: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """Give non-negative float32 `mag` the sign bits of `source` (zeros included), in place.

    Two integer passes: cheaper than torch.copysign on CPU."""
    torch.bitwise_and(source.view(torch.int32), SIGN_MASK, out=scratch)
    mag.view(torch.int32).bitwise_or_(scratch)
    return mag


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
