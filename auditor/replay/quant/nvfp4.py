"""NVFP4: FP4 E2M1 elements, blocks of 16 with an FP8 E4M3 scale, and an FP32 per-tensor scale.

In TransformerEngine's order of operations (all float32), which NVIDIA's kernels match bit-exactly:

    amax  = max |x| over the whole tensor
    s_enc = min(448 * 6 / amax, FLT_MAX); s_enc = 1 if s_enc == 0;  s_dec = 1 / s_enc
    m     = s_enc * fp32(1/6)
    block: sb  = min(min(block_amax * m, FLT_MAX), 448);  sb8 = e4m3_round_half_even(sb)
           enc = min(1 / (sb8 * s_dec), FLT_MAX)
           out = (fp4_round(clamp(x * enc, -6, 6)) * sb8) * s_dec

No lower clamp on the block scale (subnormal and zero E4M3 scales are allowed), so an all-zero
tensor gives zeros. Inf/NaN: the tensor scale comes from the finite values; a block holding an Inf
or NaN comes back all NaN (the same rule as the MX formats). `rounding` applies to the elements;
the E4M3 block scale is always rounded half to even, as in TE.
"""

from __future__ import annotations

import torch

from auditor.replay.quant.blocks import abs_amax, map_chunks, to_blocks
from auditor.replay.quant.elements import (
    FLT_MAX,
    FP4_E2M1,
    copy_sign_,
    magnitude_to_grid_,
    round_to_grid_,
)

BLOCK_SIZE = 16
E4M3_MAX = 448.0
FP4_MAX = 6.0
INF_BITS = 0x7F800000  # |x| bit patterns at or above it are Inf or NaN
FP4_ONE_BITS = 127 << 23  # 1.0 = 2^emin of E2M1: the smallest element exponent


def _f32(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float32)


def tensor_scales(amax: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(s_enc, s_dec) as float32 scalars, from the tensor's (finite) amax."""
    s_enc = torch.minimum(_f32(E4M3_MAX * FP4_MAX).to(amax.device) / amax, _f32(FLT_MAX).to(amax.device))
    s_enc = torch.where(s_enc == 0, torch.ones_like(s_enc), s_enc)
    return s_enc, 1.0 / s_enc


def quantize_nvfp4(x: torch.Tensor, *, block_size: int | None = None, axis: int = -1,
                   rounding: str = "even") -> torch.Tensor:
    blocked = to_blocks(x, axis, block_size or BLOCK_SIZE)
    v = blocked.data
    amax_per_block, amax = block_and_tensor_amax(v)
    s_enc, s_dec = tensor_scales(amax)
    m = s_enc * _f32(1.0 / 6.0).to(v.device)

    def chunk(v: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor, rows: slice) -> None:
        # the block scales of this chunk's rows (small tensors, so no full-size temporaries)
        amax_rows = amax_per_block[rows]
        bad = amax_rows.view(torch.int32) >= INF_BITS  # Inf or NaN in the block
        finite_amax = torch.where(bad, 0.0, amax_rows)
        sb = (finite_amax * m).clamp_(max=E4M3_MAX)  # min(min(., FLT_MAX), 448): one clamp is the same
        sb8 = sb.to(torch.float8_e4m3fn).to(torch.float32)  # round half to even, subnormals kept
        enc = torch.clamp(1.0 / (sb8 * s_dec), max=FLT_MAX)
        dequant = torch.where(bad, torch.nan, sb8)
        torch.mul(v, enc, out=out)  # enc > 0: the product has v's sign
        if rounding == "even":  # round |x * enc| straight onto the FP4 grid (floor 2^emin = 1), then the sign
            magnitude_to_grid_(out.abs_().clamp_(max=FP4_MAX), scratch, FP4_ONE_BITS, FP4_E2M1.mbits)
            copy_sign_(out, v, scratch)
        else:
            round_to_grid_(out.clamp_(min=-FP4_MAX, max=FP4_MAX), FP4_E2M1, rounding, scratch)
        out.mul_(dequant).mul_(s_dec)  # (q * sb8) * s_dec, in that order

    return blocked.restore(map_chunks(v, chunk))


def block_and_tensor_amax(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """max |x| of every block ([n_blocks, 1], NaN for a block holding a NaN) and, as a float32
    scalar, of the whole tensor's finite values (0 when there are none), in one pass over v."""
    amax = torch.empty((v.shape[0], 1), dtype=torch.float32, device=v.device)
    partial = [torch.zeros((), dtype=torch.int32, device=v.device)]

    def chunk(v: torch.Tensor, _out: None, scratch: torch.Tensor, rows: slice) -> None:
        amax[rows] = abs_amax(v, scratch)
        bits = amax[rows].view(torch.int32)  # non-negative floats order like their bits
        partial.append(torch.where(bits < INF_BITS, bits, 0).max() if bits.numel() else partial[0])

    map_chunks(v, chunk, output=False)
    return amax, torch.stack(partial).max().view(torch.float32)
