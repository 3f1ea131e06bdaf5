"""A slow reference written line by line from reference/fake-quant-spec.md, in float64 NumPy.

Per element and per block, in plain Python: easy to check against the spec by eye. The library
must agree with it bit for bit. (NVFP4 and integer scale arithmetic is float32, as those specs say.)
"""

from __future__ import annotations

import math

import numpy as np

# name: (mantissa bits, bias, max normal, emax_elem)
ELEMENTS = {
    "fp4_e2m1": (1, 1, 6.0, 2),
    "fp6_e2m3": (3, 1, 7.5, 2),
    "fp6_e3m2": (2, 3, 28.0, 4),
    "fp8_e4m3": (3, 7, 448.0, 8),
    "fp8_e5m2": (2, 15, 57344.0, 15),
}
MX = {"mxfp4": "fp4_e2m1", "mxfp6_e2m3": "fp6_e2m3", "mxfp6_e3m2": "fp6_e3m2",
      "mxfp8_e4m3": "fp8_e4m3", "mxfp8_e5m2": "fp8_e5m2"}
F32 = np.float32
FLT_MAX = float(np.finfo(np.float32).max)


def floor_log2(a: float) -> int:
    """Exact floor(log2 a) for a > 0, from frexp (a = m * 2^k with m in [0.5, 1))."""
    _, k = math.frexp(a)
    return k - 1


def round_int(r: float, rounding: str) -> float:
    if rounding == "even":
        return float(round(r))  # Python rounds float ties to even
    return math.copysign(math.floor(abs(r) + 0.5), r)


def quantize_element(u: float, elem: str, rounding: str = "even") -> float:
    """E = max(floor(log2|u|), 1 - bias); Q = 2^(E - mbits); q = clamp(round(u / Q) * Q, -max, max)."""
    mbits, bias, max_normal, _ = ELEMENTS[elem]
    if u == 0:
        return 0.0
    e = max(floor_log2(abs(u)), 1 - bias)
    q_step = 2.0 ** (e - mbits)
    q = round_int(u / q_step, rounding) * q_step
    return min(max(q, -max_normal), max_normal)


def shared_exponent(amax: float, elem: str, scale_mode: str) -> int:
    mbits, _, max_normal, emax = ELEMENTS[elem]
    if amax == 0:
        e = -127
        return max(e - emax, -127)
    if scale_mode == "floor":
        se = floor_log2(amax) - emax
    elif scale_mode == "rceil":  # ceil(log2(amax / max_normal)), exactly
        se = floor_log2(amax) - emax
        if amax > max_normal * 2.0 ** se:
            se += 1
    else:  # torchao "even": amax rounded half-up to the element's mantissa bits, then floor
        e = floor_log2(amax)
        significand = amax / 2.0 ** e
        if significand >= 2 - 2.0 ** -(mbits + 1):
            e += 1
        se = e - emax
    return max(se, -127)


def mx(values, fmt: str, block: int = 32, scale_mode: str = "floor", rounding: str = "even") -> np.ndarray:
    """1-D float32 values, blocks along the only axis, zero padding at the end."""
    elem = MX[fmt]
    v = np.asarray(values, dtype=np.float32).astype(np.float64)
    out = np.empty_like(v)
    for start in range(0, len(v), block):
        blk = v[start:start + block]
        if not np.all(np.isfinite(blk)):
            out[start:start + block] = np.nan  # the library's documented choice
            continue
        amax = float(np.max(np.abs(blk)))
        x_scale = 2.0 ** shared_exponent(amax, elem, scale_mode)
        for i, value in enumerate(blk):
            out[start + i] = quantize_element(value / x_scale, elem, rounding) * x_scale
    return out.astype(np.float32)


def e4m3(value: float) -> float:
    return quantize_element(value, "fp8_e4m3", "even")


def nvfp4(values, block: int = 16, rounding: str = "even") -> np.ndarray:
    """TransformerEngine's order, float32 arithmetic for the scales (the spec says all fp32)."""
    v = np.asarray(values, dtype=np.float32)
    finite = v[np.isfinite(v)]
    amax = F32(np.max(np.abs(finite))) if finite.size else F32(0)
    with np.errstate(divide="ignore", over="ignore"):
        s_enc = min(F32(448.0 * 6.0) / amax, F32(FLT_MAX))
    s_enc = F32(1.0) if s_enc == 0 else F32(s_enc)
    s_dec = F32(1.0) / s_enc
    m = s_enc * F32(1.0 / 6.0)
    out = np.empty(len(v), dtype=np.float32)
    for start in range(0, len(v), block):
        blk = v[start:start + block]
        if not np.all(np.isfinite(blk)):
            out[start:start + block] = np.nan
            continue
        bamax = F32(np.max(np.abs(blk)))
        with np.errstate(over="ignore"):
            sb = min(min(bamax * m, F32(FLT_MAX)), F32(448.0))
        sb8 = F32(e4m3(float(sb)))
        with np.errstate(divide="ignore", over="ignore"):
            enc = min(F32(1.0) / (sb8 * s_dec), F32(FLT_MAX))
        for i, x in enumerate(blk):
            scaled = min(max(F32(x) * enc, F32(-6.0)), F32(6.0))
            q = F32(quantize_element(float(scaled), "fp4_e2m1", rounding))
            out[start + i] = (q * sb8) * s_dec
    return out


def integer(values, qmax: int, group: int | None = None, rounding: str = "even") -> np.ndarray:
    """Symmetric: scale = amax / qmax; clamp(round(x / scale), -qmax, qmax) * scale (float32)."""
    v = np.asarray(values, dtype=np.float32)
    group = group or len(v)
    out = np.empty(len(v), dtype=np.float32)
    for start in range(0, len(v), group):
        blk = v[start:start + group]
        if not np.all(np.isfinite(blk)):
            out[start:start + group] = np.nan
            continue
        amax = F32(np.max(np.abs(blk)))
        scale = F32(1.0) if amax == 0 else amax / F32(qmax)
        for i, x in enumerate(blk):
            k = min(max(round_int(float(F32(x) / scale), rounding), -qmax), qmax)
            out[start + i] = F32(k) * scale
    return out
