"""Agreement with torchao's mx_formats (a test-only dependency) on inputs where torchao is right."""

from __future__ import annotations

import pytest
import torch

from auditor.replay.quant import quantize_dequantize

mx_tensor = pytest.importorskip("torchao.prototype.mx_formats.mx_tensor")
nvfp4_tensor = pytest.importorskip("torchao.prototype.mx_formats.nvfp4_tensor")
Mode = mx_tensor.ScaleCalculationMode

ELEM_DTYPES = {
    "mxfp4": torch.float4_e2m1fn_x2,
    "mxfp6_e2m3": "fp6_e2m3",
    "mxfp6_e3m2": "fp6_e3m2",
    "mxfp8_e4m3": torch.float8_e4m3fn,
    "mxfp8_e5m2": torch.float8_e5m2,
}


def torchao_mx(x: torch.Tensor, fmt: str, mode) -> torch.Tensor:
    dtype = ELEM_DTYPES[fmt]
    scale, data = mx_tensor.to_mx(x, dtype, 32, scaling_mode=mode)
    return mx_tensor.to_dtype(data, scale, dtype, 32, torch.float32)


def inputs(seed: int) -> torch.Tensor:
    """Rows at very different magnitudes, but every block's amax far above 2^-124 (torchao's tiny-block bug)."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randn(64, 256, generator=g) * torch.exp2(torch.randint(-40, 40, (64, 1), generator=g).float())
    return torch.cat([rows, rows.to(torch.bfloat16).float()])  # float32 and bf16-valued


@pytest.mark.parametrize("fmt", list(ELEM_DTYPES))
@pytest.mark.parametrize("scale_mode,mode", [("floor", Mode.FLOOR), ("even", Mode.EVEN)])
def test_mx_agrees_with_torchao_bit_for_bit(fmt, scale_mode, mode):
    for seed in range(3):
        x = inputs(seed)
        assert torch.equal(quantize_dequantize(x, fmt, scale_mode=scale_mode), torchao_mx(x, fmt, mode))


def test_torchao_halves_tiny_blocks_and_we_do_not():
    x = torch.zeros(1, 32)
    x[0, 0] = 2.0 ** -125
    assert torchao_mx(x, "mxfp4", Mode.FLOOR)[0, 0].item() == 2.0 ** -126  # the known torchao bug
    assert quantize_dequantize(x, "mxfp4")[0, 0].item() == 2.0 ** -125


@pytest.mark.parametrize("magnitude", [1e-3, 1.0, 300.0])
def test_nvfp4_agrees_with_torchao_where_its_scale_clamp_does_not_bite(magnitude):
    """torchao rounds the same FP4 codes but dequantizes in another order: within 2 ulp, same codes."""
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(9)) * magnitude
    scale = nvfp4_tensor.per_tensor_amax_to_scale(x.abs().max())
    theirs = nvfp4_tensor.NVFP4Tensor.to_nvfp4(x, per_tensor_scale=scale).dequantize(torch.float32)
    ours = quantize_dequantize(x, "nvfp4")
    assert torch.equal(ours == 0, theirs == 0)
    relative = ((ours - theirs).abs() / ours.abs().clamp(min=1e-30))[ours != 0]
    assert relative.max().item() <= 2.5 * 2.0 ** -23
