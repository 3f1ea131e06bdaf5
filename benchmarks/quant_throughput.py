"""Throughput of quantize -> dequantize on a 4096x4096 float32 tensor on CPU, ours next to torchao's.

Prints MB/s of input for every format, on one thread and on all threads, the ratio to torchao in the
same run, and whether the outputs agree (bit for bit for MX; NVFP4 within a few ulp, as torchao
scales and dequantizes in a different order, which moves rare elements at rounding ties to a neighbouring code). Run: .venv/bin/python benchmarks/quant_throughput.py
"""

from __future__ import annotations

import os
import time
import warnings

import torch

from auditor.replay.quant import quantize_dequantize

SHAPE = (4096, 4096)
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
MX = {"mxfp4": torch.float4_e2m1fn_x2, "mxfp6_e2m3": "fp6_e2m3", "mxfp6_e3m2": "fp6_e3m2",
      "mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2}
FORMATS = [*MX, "nvfp4", "int8", "int4"]


def torchao_functions():
    """fmt -> callable(x) doing torchao's quantize -> dequantize, or {} without torchao."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.prototype.mx_formats import mx_tensor, nvfp4_tensor
    except Exception:  # torchao is a test/benchmark-only dependency
        return {}

    def mx(dtype):
        def run(x):
            scale, data = mx_tensor.to_mx(x, dtype, 32, scaling_mode=mx_tensor.ScaleCalculationMode.FLOOR)
            return mx_tensor.to_dtype(data, scale, dtype, 32, torch.float32)
        return run

    def nvfp4(x):
        scale = nvfp4_tensor.per_tensor_amax_to_scale(x.abs().max())
        return nvfp4_tensor.NVFP4Tensor.to_nvfp4(x, per_tensor_scale=scale).dequantize(torch.float32)

    return {**{fmt: mx(dtype) for fmt, dtype in MX.items()}, "nvfp4": nvfp4}


def best_time(fn, x) -> tuple[float, torch.Tensor]:
    out = fn(x)  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn(x)
        times.append(time.perf_counter() - start)
    return min(times), out


def agreement(fmt: str, ours: torch.Tensor, theirs: torch.Tensor) -> str:
    if fmt != "nvfp4":
        return "exact" if torch.equal(ours, theirs) else f"DIFFERS in {(ours != theirs).sum().item()} elements"
    relative = (ours - theirs).abs() / ours.abs().clamp(min=1e-30)
    same_code = relative <= 4 * 2.0 ** -23  # a dequantization-order difference of a few ulp
    flipped = int((~same_code).sum().item())
    close = relative[same_code & (ours != 0)].max().item() / 2.0 ** -23
    return f"<= {close:.1f} ulp; {flipped} of {ours.numel()} on another FP4 code (scale order at ties)"

def main() -> None:
    x = torch.randn(*SHAPE, generator=torch.Generator().manual_seed(0))
    megabytes = x.numel() * x.element_size() / 1e6
    theirs = torchao_functions()
    all_threads = torch.get_num_threads()
    print(f"quantize->dequantize of a {SHAPE[0]}x{SHAPE[1]} float32 tensor ({megabytes:.0f} MB), best of {REPEATS}, "
          f"torch {torch.__version__}, CPU threads available: {all_threads}")
    for threads in sorted({1, all_threads}):
        torch.set_num_threads(threads)
        print(f"\n{threads} thread(s)")
        print(f"{'format':<12} {'ours ms':>9} {'ours MB/s':>10} {'torchao ms':>11} {'torchao MB/s':>13} {'ratio':>7}  agreement")
        for fmt in FORMATS:
            ours_s, ours = best_time(lambda t: quantize_dequantize(t, fmt), x)
            line = f"{fmt:<12} {ours_s * 1e3:>9.1f} {megabytes / ours_s:>10.0f}"
            if fmt in theirs:
                their_s, their_out = best_time(theirs[fmt], x)
                line += (f" {their_s * 1e3:>11.1f} {megabytes / their_s:>13.0f} {their_s / ours_s:>6.1f}x"
                         f"  {agreement(fmt, ours, their_out)}")
            else:
                line += f" {'-':>11} {'-':>13} {'-':>7}"
            print(line, flush=True)
    torch.set_num_threads(all_threads)


if __name__ == "__main__":
    main()
