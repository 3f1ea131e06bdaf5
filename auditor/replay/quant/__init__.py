"""Spec-exact fake quantization (quantize, then dequantize) in torch, vectorized, CPU and CUDA.

`quantize_dequantize(x, fmt, ...)` returns a tensor of x's shape and dtype holding the values x
takes after a round trip through `fmt`. Computation is in float32 whatever x's dtype. See
docs/usage-replay.md and /reference/fake-quant-spec.md for the algorithms and the variants.
"""

from __future__ import annotations

import torch

from auditor.replay.quant.elements import ROUNDINGS, check_rounding
from auditor.replay.quant.integer import QMAX, quantize_int
from auditor.replay.quant.mx import FORMATS as MX_FORMATS
from auditor.replay.quant.mx import SCALE_MODES, quantize_mx
from auditor.replay.quant.nvfp4 import quantize_nvfp4

FORMATS = (*MX_FORMATS, "nvfp4", *QMAX)

__all__ = ["FORMATS", "ROUNDINGS", "SCALE_MODES", "quantize_dequantize"]


def quantize_dequantize(x: torch.Tensor, fmt: str, *, block_size: int | None = None, axis: int = -1,
                        scale_mode: str = "floor", rounding: str = "even") -> torch.Tensor:
    """Fake-quantize `x` through `fmt` along `axis` in blocks of `block_size`.

    fmt: mxfp4, mxfp6_e2m3, mxfp6_e3m2, mxfp8_e4m3, mxfp8_e5m2 (block 32 by default), nvfp4
    (block 16), int8, int4 (block_size None: one scale per slice along `axis`, i.e. per channel;
    an int: per group). scale_mode (MX only): floor (OCP), rceil (NVIDIA), even (torchao).
    rounding: even (round half to even) or nearest-away (microxcaling's default).
    The result carries no gradient (train through it with a straight-through estimator:
    `w + (quantize_dequantize(w, fmt) - w).detach()`).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    if scale_mode not in SCALE_MODES:
        raise ValueError(f"unknown scale_mode {scale_mode!r}; allowed: {', '.join(SCALE_MODES)}")
    check_rounding(rounding)
    if block_size is not None and (not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"block_size must be a positive integer or None, got {block_size!r}")
    with torch.no_grad():
        return _dispatch(x.detach(), fmt, block_size, axis, scale_mode, rounding)


def _dispatch(x, fmt, block_size, axis, scale_mode, rounding):
    if fmt in MX_FORMATS:
        return quantize_mx(x, fmt, block_size=block_size, axis=axis, scale_mode=scale_mode, rounding=rounding)
    if fmt == "nvfp4":
        return quantize_nvfp4(x, block_size=block_size, axis=axis, rounding=rounding)
    return quantize_int(x, fmt, block_size=block_size, axis=axis, rounding=rounding)
