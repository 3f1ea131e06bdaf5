"""quantize_dequantize: exhaustive small cases, the spec reference, and torchao where it is right."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import spec_reference as ref
import torch

from auditor.replay.quant import FORMATS, quantize_dequantize

MX_FORMATS = list(ref.MX)
FP4_GRID = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def qd(values, fmt, **kwargs):
    return quantize_dequantize(torch.tensor(values, dtype=torch.float32), fmt, **kwargs)


def same(a, b) -> bool:
    """Bit-level agreement of float32 arrays, NaNs equal, -0 == 0."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def code_points(elem: str) -> list[float]:
    """Every finite value of an element format, both signs, from its parameters."""
    mbits, bias, max_normal, _ = ref.ELEMENTS[elem]
    ebits = {"fp4_e2m1": 2, "fp6_e2m3": 2, "fp6_e3m2": 3, "fp8_e4m3": 4, "fp8_e5m2": 5}[elem]
    values = set()
    for e_field in range(2 ** ebits):
        for mant in range(2 ** mbits):
            if e_field == 0:
                value = mant / 2 ** mbits * 2.0 ** (1 - bias)
            else:
                value = (1 + mant / 2 ** mbits) * 2.0 ** (e_field - bias)
            if value <= max_normal:
                values.update((value, -value))
    return sorted(values)


# -- exhaustive small cases ------------------------------------------------------------------

def test_every_e2m1_code_point_round_trips():
    values = [s * v for v in FP4_GRID for s in (1, -1)]
    block = values + [6.0] * (32 - len(values))  # amax 6: the shared scale is 1
    assert qd(block, "mxfp4").tolist() == block
    assert qd(block, "mxfp4", rounding="nearest-away").tolist() == block


@pytest.mark.parametrize("rounding,expected", [
    ("even", [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0]),
    ("nearest-away", [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 6.0]),
])
def test_every_e2m1_tie(rounding, expected):
    ties = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0]
    block = ties + [-t for t in ties] + [0.0] * 16
    out = qd(block, "mxfp4", rounding=rounding).tolist()
    assert out[:8] == expected
    assert out[8:16] == [-e for e in expected]


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_every_element_code_point_round_trips(fmt):
    elem = ref.MX[fmt]
    points = code_points(elem)
    max_normal = ref.ELEMENTS[elem][2]
    # Each block holds the max normal, so its shared scale is exactly 1.
    blocks = []
    for start in range(0, len(points), 31):
        chunk = points[start:start + 31]
        blocks += chunk + [max_normal] * (32 - len(chunk))
    out = qd(blocks, fmt)
    assert same(out, blocks)


def test_all_256_e4m3_codes_round_trip_including_subnormals():
    codes = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
    finite = codes[~torch.isnan(codes)]
    assert finite.numel() == 254  # 0x7F and 0xFF are NaN; E4M3 has no Inf
    assert (finite.abs() == 2.0 ** -9).any()  # the smallest subnormal is in the set
    blocks = torch.cat([torch.cat([chunk, torch.full((32 - chunk.numel(),), 448.0)])
                        for chunk in finite.split(31)])
    assert torch.equal(quantize_dequantize(blocks, "mxfp8_e4m3"), blocks)
    # ... and NVFP4's block scales are E4M3: the library's block-scale rounding matches torch's cast
    assert torch.equal(finite.to(torch.float8_e4m3fn).float(), finite)


@pytest.mark.parametrize("k", [-100, -3, 0, 1, 3, 20, 100])
def test_amax_just_below_a_power_of_two(k):
    """float32 log2 rounds up to k a few ulps below 2^k: the shared exponent must use k - 1."""
    below = float(np.nextafter(np.float32(2.0 ** k), np.float32(0)))
    block = [below] + [0.0] * 31
    out = qd(block, "mxfp4")
    # floor(log2) = k-1, se = k-3: u = below / 2^(k-3) just under 8, clamped to 6 -> 6 * 2^(k-3)
    assert out[0].item() == 6.0 * 2.0 ** (k - 3)
    assert same(out, ref.mx(block, "mxfp4"))


def test_all_zero_blocks_stay_zero():
    for fmt in FORMATS:
        out = quantize_dequantize(torch.zeros(3, 64), fmt)
        assert torch.equal(out, torch.zeros(3, 64)), fmt


def test_subnormal_inputs_match_the_spec():
    tiny = np.float32(2.0 ** -140)
    block = [tiny * m for m in (1, 3, 5, 7, 11, 0.5, -2, -6)] + [0.0] * 24
    for fmt in MX_FORMATS:
        assert same(qd(block, fmt), ref.mx(block, fmt)), fmt


def test_tiny_blocks_are_not_halved():
    """Shared exponent -127: torchao divides by 2^-126 and multiplies by 2^-127; the spec does not."""
    value = 2.0 ** -125  # FP4 amax below 2^-124 puts se at -127; u = 4 is on the grid
    block = [value, -value, 1.5 * 2.0 ** -126] + [0.0] * 29
    out = qd(block, "mxfp4")
    assert out[0].item() == value and out[1].item() == -value
    assert same(out, ref.mx(block, "mxfp4"))


def test_inf_or_nan_poisons_only_its_own_block():
    """The documented choice: a block holding Inf or NaN comes back all NaN (E8M0 scale 0xFF)."""
    for bad in (math.inf, -math.inf, math.nan):
        x = torch.ones(2, 32)
        x[0, 5] = bad
        for fmt in FORMATS:
            out = quantize_dequantize(x, fmt, block_size=16 if fmt == "nvfp4" else 32)
            assert torch.isnan(out[0, :16]).all(), (fmt, bad)
            assert torch.equal(out[1], torch.ones(32)), (fmt, bad)


def test_nvfp4_tensor_scale_ignores_non_finite_values():
    x = torch.linspace(-3, 3, 64)
    x[60] = math.inf
    out = quantize_dequantize(x, "nvfp4")
    clean = quantize_dequantize(x[:48], "nvfp4")
    assert torch.equal(out[:48], clean)
    assert same(out, ref.nvfp4(x.numpy()))


# -- API behaviour ---------------------------------------------------------------------------

def test_unknown_names_raise_with_the_allowed_values():
    x = torch.ones(32)
    with pytest.raises(ValueError, match="mxfp4.*nvfp4.*int8"):
        quantize_dequantize(x, "fp3")
    with pytest.raises(ValueError, match="floor, rceil, even"):
        quantize_dequantize(x, "mxfp4", scale_mode="ceil")
    with pytest.raises(ValueError, match="even, nearest-away"):
        quantize_dequantize(x, "mxfp4", rounding="stochastic")
    with pytest.raises(ValueError, match="block_size"):
        quantize_dequantize(x, "mxfp4", block_size=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_shape_and_dtype_are_kept_and_input_is_not_mutated(dtype):
    x = (torch.randn(3, 5, 40, generator=torch.Generator().manual_seed(0)) * 3).to(dtype)
    before = x.clone()
    for fmt in FORMATS:
        for axis in (-1, 0, 1):
            out = quantize_dequantize(x, fmt, axis=axis)
            assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
            assert torch.equal(x, before)


def test_padding_matches_explicit_zero_padding():
    x = torch.randn(4, 45, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (0, 19))
    for fmt in ("mxfp4", "mxfp8_e4m3", "nvfp4", "int4"):
        block = 16 if fmt == "int4" else None
        want = quantize_dequantize(padded, fmt, block_size=block)[:, :45]
        assert torch.equal(quantize_dequantize(x, fmt, block_size=block), want), fmt


def test_axis_is_the_blocking_axis():
    x = torch.randn(64, 48, generator=torch.Generator().manual_seed(2))
    for fmt in ("mxfp4", "nvfp4", "int8"):
        assert torch.equal(quantize_dequantize(x, fmt, axis=0), quantize_dequantize(x.t(), fmt).t())


def test_scalar_and_empty_tensors():
    assert quantize_dequantize(torch.tensor(2.9), "mxfp4").item() == 3.0
    assert quantize_dequantize(torch.empty(0, 32), "mxfp4").shape == (0, 32)


# -- randomized agreement with the spec reference ---------------------------------------------

def random_cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(1, 130))
        scale = 2.0 ** int(rng.choice([-135, -126, -60, -8, 0, 0, 3, 40, 110]))
        values = rng.standard_normal(n) * scale
        if rng.random() < 0.3:  # outliers inside a block
            values[rng.integers(0, n)] *= 1000
        if rng.random() < 0.5:  # bf16-valued inputs: short mantissas, many exact ties
            values = torch.tensor(values, dtype=torch.float32).to(torch.bfloat16).float().numpy()
        yield np.asarray(values, dtype=np.float32)


@pytest.mark.parametrize("fmt", MX_FORMATS)
@pytest.mark.parametrize("scale_mode", ["floor", "rceil", "even"])
@pytest.mark.parametrize("rounding", ["even", "nearest-away"])
def test_mx_matches_the_spec_reference(fmt, scale_mode, rounding):
    for i, values in enumerate(random_cases(zlib.crc32(f'{fmt}{scale_mode}{rounding}'.encode()), 12)):
        block = 32 if i % 3 else 16
        out = qd(values, fmt, block_size=block, scale_mode=scale_mode, rounding=rounding)
        want = ref.mx(values, fmt, block, scale_mode, rounding)
        assert same(out, want), (fmt, scale_mode, rounding, values[np.flatnonzero(out.numpy() != want)][:4])


@pytest.mark.parametrize("rounding", ["even", "nearest-away"])
def test_nvfp4_matches_the_spec_reference(rounding):
    for values in random_cases(7, 30):
        assert same(qd(values, "nvfp4", rounding=rounding), ref.nvfp4(values, 16, rounding))


def test_nvfp4_at_e4m3_scale_ties_follows_te_order():
    """Block amaxes whose scale lands on E4M3 rounding boundaries: order of operations matters."""
    rng = np.random.default_rng(3)
    values = []
    for _ in range(40):
        blk = rng.standard_normal(16).astype(np.float32)
        blk[0] = np.float32(rng.integers(1, 200) * 0.75 + 0.375)  # amax near half-steps of the scale
        values.extend(blk)
    values = np.asarray(values, dtype=np.float32)
    values[-1] = 300.0  # the tensor amax
    assert same(qd(values, "nvfp4"), ref.nvfp4(values))


@pytest.mark.parametrize("fmt,qmax", [("int8", 127), ("int4", 7)])
@pytest.mark.parametrize("group", [None, 8, 32])
@pytest.mark.parametrize("rounding", ["even", "nearest-away"])
def test_integer_matches_the_spec_reference(fmt, qmax, group, rounding):
    for values in random_cases(11, 20):
        out = qd(values, fmt, block_size=group, rounding=rounding)
        assert same(out, ref.integer(values, qmax, group, rounding))


def test_integer_per_channel_uses_one_scale_per_row():
    w = torch.tensor([[1.0, -0.5, 0.25, 127.0], [0.01, 0.02, -0.03, 0.04]])
    out = quantize_dequantize(w, "int8")
    assert out[0].tolist() == [1.0, 0.0, 0.0, 127.0]  # scale 127/127 = 1; -0.5 rounds to even 0
    assert torch.allclose(out[1], w[1], rtol=0.01)  # its own small scale, not row 0's


def test_rceil_differs_from_floor_on_the_expected_fraction():
    x = torch.randn(256, 1024, generator=torch.Generator().manual_seed(4))
    floor = quantize_dequantize(x, "mxfp4", scale_mode="floor")
    rceil = quantize_dequantize(x, "mxfp4", scale_mode="rceil")
    fraction = (floor != rceil).float().mean().item()
    assert 0.04 <= fraction <= 0.12, fraction


def test_bf16_inputs_compute_in_float32():
    values = torch.randn(128, generator=torch.Generator().manual_seed(5)).to(torch.bfloat16)
    out = quantize_dequantize(values, "mxfp4")
    assert out.dtype == torch.bfloat16
    assert same(out.float(), ref.mx(values.float().numpy(), "mxfp4"))
