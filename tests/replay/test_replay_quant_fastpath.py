"""The direct-rounding fast path of the MX formats (and NVFP4's element rounding), and chunked
processing (integer formats too): edge cases.

With round-half-even, MX blocks whose shared exponent is in a safe range are rounded straight onto
their grid by a float addition (auditor.replay.quant.elements.magnitude_to_grid_); other blocks take
the general scale-round-unscale path. Both must give the spec's values bit for bit, zero signs included.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import spec_reference as ref
import torch

from auditor.replay.quant import blocks, mx, quantize_dequantize

MX_FORMATS = list(ref.MX)
EBITS = {"fp4_e2m1": 2, "fp6_e2m3": 2, "fp6_e3m2": 3, "fp8_e4m3": 4, "fp8_e5m2": 5}


def bits(t: torch.Tensor) -> torch.Tensor:
    """float32 bit patterns: comparing them checks zero signs and NaN too (one NaN pattern here)."""
    t = t.float().contiguous()
    return torch.where(torch.isnan(t), torch.full_like(t, math.nan), t).view(torch.int32)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(bits(a), bits(b))


def assert_spec(values, fmt: str, **kwargs) -> torch.Tensor:
    values = np.asarray(values, dtype=np.float32)
    out = quantize_dequantize(torch.from_numpy(values), fmt, **kwargs)
    with np.errstate(over="ignore"):  # "even" scaling of amax near FLT_MAX: the spec's value is Inf
        want = ref.mx(values, fmt, kwargs.get("block_size") or 32, kwargs.get("scale_mode", "floor"),
                      kwargs.get("rounding", "even"))
    wrong = np.flatnonzero(~((out.numpy() == want) | (np.isnan(out.numpy()) & np.isnan(want))))
    assert wrong.size == 0, (fmt, values[wrong][:4], out.numpy()[wrong][:4], want[wrong][:4])
    return out


def grid(elem: str) -> list[float]:
    """The non-negative code points of an element format, ascending."""
    mbits, bias, max_normal, _ = ref.ELEMENTS[elem]
    points = set()
    for e_field in range(2 ** EBITS[elem]):
        for mant in range(2 ** mbits):
            scale = 2.0 ** (1 - bias) if e_field == 0 else 2.0 ** (e_field - bias)
            value = (mant / 2 ** mbits + (e_field > 0)) * scale
            if value <= max_normal:
                points.add(value)
    return sorted(points)


def with_general_path(monkeypatch):
    monkeypatch.setattr(mx, "_round_direct", lambda *_args: False)


@pytest.mark.parametrize("fmt", MX_FORMATS)
@pytest.mark.parametrize("se", [0, -60, 37, -118])
def test_every_tie_and_its_neighbours_at_every_binade(fmt, se):
    """Midpoints between consecutive code points (subnormal and normal steps, every mantissa width),
    one float32 ulp either side of them, at several shared scales: ties go to the even code."""
    elem = ref.MX[fmt]
    points = grid(elem)
    max_normal = ref.ELEMENTS[elem][2]
    values = []
    for lo, hi in itertools.pairwise(points):
        mid = np.float32((lo + hi) / 2)
        values += [mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))]
    values = np.asarray(values, dtype=np.float32)
    blocks_ = []
    for start in range(0, len(values), 31):  # the max normal in every block: its scale is 2^se
        chunk = list(values[start:start + 31])
        blocks_ += chunk + [max_normal] * (32 - len(chunk))
    scaled = np.asarray(blocks_, dtype=np.float64) * 2.0 ** se
    signed = np.concatenate([scaled, -scaled]).astype(np.float32)
    out = assert_spec(signed, fmt).numpy()
    # the half-even choice, checked directly on the first block's midpoints (scale 2^se)
    lo, hi, first_mid = points[0], points[1], values[0]
    even = lo if (points.index(lo) % 2 == 0) else hi
    assert out[0] == np.float32(even * 2.0 ** se) and first_mid == np.float32((lo + hi) / 2)


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_saturation_boundary_at_the_max_normal(fmt):
    """Values from just below max_normal up to the next power of two all end at +-max_normal."""
    elem = ref.MX[fmt]
    mbits, _, max_normal, emax = ref.ELEMENTS[elem]
    step = 2.0 ** (emax - mbits)
    top = np.float32(2.0 ** (emax + 1))
    above = [max_normal, max_normal + step / 4, max_normal + step / 2, max_normal + step,
             float(np.nextafter(top, np.float32(0)))]
    above = [a for a in above if a < top]  # 2^(emax + 1) itself would raise the shared scale
    cases = [max_normal - step / 2, max_normal - step / 4] + above
    for se in (0, -100, 90):
        block = np.asarray((cases + [-c for c in cases] + [0.0] * 32)[:32], dtype=np.float64) * 2.0 ** se
        out = assert_spec(block.astype(np.float32), fmt).numpy() / 2.0 ** se
        n = len(cases)
        assert out[2:n].tolist() == [max_normal] * len(above)
        assert out[n + 2:2 * n].tolist() == [-max_normal] * len(above)
        assert out[1] == max_normal  # a quarter step below rounds up to it


@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_shared_exponents_on_both_sides_of_the_fast_path_range(fmt):
    """Blocks just inside and just outside the exponent range of the fast path (one chunk takes one
    path, so each case is its own call), with float32-subnormal elements and signed zeros in
    blocks whose amax is normal: both paths agree with the spec."""
    elem = mx.FORMATS[fmt]
    low, high = mx._direct_range(elem)
    rng = np.random.default_rng(len(fmt))
    for se in (low - 2, low - 1, low, low + 1, high - 1, high, high + 1, -127, 127 - elem.emax):
        top = 2.0 ** (se + elem.emax)  # floor scale mode: this amax gives shared exponent se
        block = rng.standard_normal(64) * top / 4
        block[0] = top
        block[33] = -top * (2 - 2.0 ** -23)  # the largest float32 amax with this se
        block[1:8] = np.array([3, -5, 7, 1, -1, 0.5, 9]) * 2.0 ** -140  # subnormal float32 values
        block[8:10] = 0.0, -0.0
        values = block.astype(np.float32)
        assert np.isfinite(values).all()
        for scale_mode in ("floor", "rceil", "even"):
            assert_spec(values, fmt, scale_mode=scale_mode)


def test_subnormal_float32_element_in_a_normal_block_keeps_its_true_exponent():
    """E5M2, amax 2^-100: shared exponent -115, element floor 2^(-14 - 115) = 2^-129. An element of
    2^-128 * 1.125 is float32-subnormal (its exponent bits say 0), but its element exponent is -128,
    so the step is 2^-130 and it is a tie (4.5 steps) that goes to even: 2^-128. Reading its exponent
    from the bits and raising it to the floor would give the step 2^-131 and keep it unchanged."""
    block = np.zeros(32, dtype=np.float32)
    block[0] = 2.0 ** -100
    block[1] = np.float32(2.0 ** -128 + 2.0 ** -131)
    block[2] = np.float32(2.0 ** -128 + 3 * 2.0 ** -131)  # 5.5 steps: to 6
    out = assert_spec(block, "mxfp8_e5m2").numpy()
    assert out[1] == np.float32(2.0 ** -128)
    assert out[2] == np.float32(2.0 ** -128 + 2.0 ** -129)


@pytest.mark.parametrize("fmt", [*MX_FORMATS, "nvfp4"])
def test_negative_zero_and_negatives_rounding_to_zero_keep_their_sign(fmt):
    x = torch.zeros(2, 32)
    x[0, 0] = 1.0
    x[0, 1:4] = torch.tensor([-0.0, -1e-30, 1e-30])
    # row 1 is all zeros, one of them negative
    x[1, 5] = -0.0
    out = quantize_dequantize(x, fmt)
    assert out[0, 1].item() == 0 and torch.signbit(out[0, 1])
    assert out[0, 2].item() == 0 and torch.signbit(out[0, 2])
    assert out[0, 3].item() == 0 and not torch.signbit(out[0, 3])
    assert torch.equal(torch.signbit(out[1]), torch.signbit(x[1])) and not out[1].any()


@pytest.mark.parametrize("scale_mode", ["floor", "rceil", "even"])
@pytest.mark.parametrize("fmt", MX_FORMATS)
def test_fast_and_general_paths_are_bit_identical(fmt, scale_mode, monkeypatch):
    """Wide-range data over several chunks, zero blocks and signed zeros included."""
    g = torch.Generator().manual_seed(5)
    rows = 3 * blocks.CHUNK_ELEMENTS // 1024 + 7
    x = torch.randn(rows, 1024, generator=g) * torch.exp2(torch.randint(-110, 100, (rows, 1), generator=g).float())
    x[::5, :64] = 0.0
    x[1::7, 32:64] = -0.0
    x[2::3, ::9] = x[2::3, ::9].to(torch.bfloat16).float() * 2.0 ** -30  # more ties, tiny elements
    fast = quantize_dequantize(x, fmt, scale_mode=scale_mode)
    with_general_path(monkeypatch)
    general = quantize_dequantize(x, fmt, scale_mode=scale_mode)
    assert same_bits(fast, general)


def test_inf_and_nan_in_a_later_chunk_poison_only_their_block():
    rows = 2 * blocks.CHUNK_ELEMENTS // 256 + 3
    x = torch.randn(rows, 256, generator=torch.Generator().manual_seed(6))
    clean = {fmt: quantize_dequantize(x, fmt) for fmt in MX_FORMATS}
    x[rows - 2, 40] = math.inf
    x[rows - 1, 200] = math.nan
    for fmt in MX_FORMATS:
        out = quantize_dequantize(x, fmt)
        assert torch.isnan(out[rows - 2, 32:64]).all() and torch.isnan(out[rows - 1, 192:224]).all()
        keep = torch.ones_like(x, dtype=torch.bool)
        keep[rows - 2, 32:64] = False
        keep[rows - 1, 192:224] = False
        assert torch.equal(out[keep], clean[fmt][keep]), fmt


@pytest.mark.parametrize("fmt", [*MX_FORMATS, "nvfp4"])
def test_non_contiguous_inputs_and_other_axes(fmt):
    g = torch.Generator().manual_seed(7)
    base = torch.randn(96, 128, generator=g)
    view = base.t()  # non-contiguous [128, 96]
    assert not view.is_contiguous()
    assert same_bits(quantize_dequantize(view, fmt), quantize_dequantize(view.contiguous(), fmt))
    assert same_bits(quantize_dequantize(base, fmt, axis=0), quantize_dequantize(view.contiguous(), fmt).t())
    strided = base[:, ::2]
    assert same_bits(quantize_dequantize(strided, fmt), quantize_dequantize(strided.contiguous(), fmt))
    cube = torch.randn(4, 64, 6, generator=g)
    want = quantize_dequantize(cube.movedim(1, -1).contiguous(), fmt).movedim(-1, 1)
    assert same_bits(quantize_dequantize(cube, fmt, axis=1), want)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fmt", [*MX_FORMATS, "nvfp4"])
def test_half_precision_inputs_round_through_float32(fmt, dtype):
    x = (torch.randn(8, 64, generator=torch.Generator().manual_seed(8)) * 20).to(dtype)
    out = quantize_dequantize(x, fmt)
    assert out.dtype == dtype
    assert torch.equal(out, quantize_dequantize(x.float(), fmt).to(dtype))
    if fmt in MX_FORMATS:
        assert_spec(x.float().numpy().ravel(), fmt)


def test_nvfp4_element_ties_and_saturation_follow_the_spec():
    """Blocks whose scaled values sit on FP4 ties and beyond 6 (the E4M3 block scale rounds down)."""
    rng = np.random.default_rng(9)
    values = []
    for _ in range(32):
        blk = rng.choice([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 5.9], 16) * rng.choice([-1, 1], 16)
        blk[0] = rng.uniform(5.5, 6.5)
        values.extend(blk * 2.0 ** int(rng.integers(-20, 20)))
    values = np.asarray(values, dtype=np.float32)
    for rounding in ("even", "nearest-away"):
        out = quantize_dequantize(torch.from_numpy(values), "nvfp4", rounding=rounding).numpy()
        with np.errstate(over="ignore"):  # blocks whose E4M3 scale underflows to 0: enc = FLT_MAX
            want = ref.nvfp4(values, 16, rounding)
        assert np.array_equal(out, want)


@pytest.mark.parametrize("fmt,qmax", [("int8", 127), ("int4", 7)])
@pytest.mark.parametrize("group", [None, 64])
def test_integer_over_many_chunks_matches_the_plain_formula(fmt, qmax, group):
    """Integer groups are processed chunk by chunk: the result is the whole-tensor formula's."""
    g = torch.Generator().manual_seed(10)
    rows = 2 * blocks.CHUNK_ELEMENTS // 1024 + 5
    x = torch.randn(rows, 1024, generator=g) * torch.exp2(torch.randint(-30, 30, (rows, 1), generator=g).float())
    x[3] = 0.0
    x[rows - 1, 7] = math.inf
    groups = x.reshape(-1, group or 1024)
    amax = groups.abs().amax(dim=1, keepdim=True)
    scale = torch.where(amax == 0, 1.0, amax / qmax)
    want = (torch.round(groups / scale).clamp(-qmax, qmax) * scale).reshape(x.shape)
    out = quantize_dequantize(x, fmt, block_size=group)
    poisoned = torch.zeros_like(x, dtype=torch.bool)
    poisoned[rows - 1, : group or 1024] = True
    assert torch.isnan(out[poisoned]).all()
    assert same_bits(out[~poisoned], want[~poisoned])
    assert not torch.signbit(out[3]).any() and not out[3].any()
