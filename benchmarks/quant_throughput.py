"""Throughput of quantize -> dequantize on a 4096x4096 float32 tensor on CPU, ours next to torchao's.

How it measures, identically for both sides:
- the same input tensor (seeded randn, float32, contiguous), made once;
- the same thread setting: torch.set_num_threads(1) for the one-thread table, then all threads;
- each side is a plain call that allocates and returns a fresh float32 output, as a user would call
  it; the result is dropped before the next call;
- each side is timed in its own steady state: ROUNDS rounds, and in every round each side gets
  WARMUP untimed calls, then PER_ROUND timed calls. Calls are not interleaved one by one on purpose:
  the allocator state a call leaves behind changes the next call's page faults (after torchao's
  heap-grown temporaries, our 64 MB output is served from already-touched memory and costs half
  its usual time), which would flatter us. Alternating whole rounds still spreads bursts of load
  from other processes over both sides. Python's garbage collector is off while timing;
- reported: median and min milliseconds of each side over all timed calls, MB/s of input from the
  median, and the ratio torchao median / ours median (above 1 means we are faster). The load
  average is printed: on a shared machine, compare only figures taken at a similar load;
- the median minor page faults per call of each side are printed too: whether a fresh 64 MB buffer
  is faulted in page by page (16K faults, about 25-30 ms here) or served from memory glibc's heap
  already holds depends on the process's history, so a run can land in either regime, and the
  faults column says which one each figure comes from.
Agreement is checked once per format, outside the timing: bit for bit for MX; NVFP4 within a few ulp,
as torchao scales and dequantizes in a different order, which moves rare elements at rounding ties
to a neighbouring code.

Run: .venv/bin/python benchmarks/quant_throughput.py   (BENCH_ROUNDS, BENCH_PER_ROUND, BENCH_WARMUP,
     BENCH_FORMATS = comma-separated subset, BENCH_THREADS = comma-separated thread counts)
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
import warnings

import torch

from auditor.replay.quant import quantize_dequantize

SHAPE = (4096, 4096)
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
PER_ROUND = int(os.environ.get("BENCH_PER_ROUND", "4"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "1"))
MX = {"mxfp4": torch.float4_e2m1fn_x2, "mxfp6_e2m3": "fp6_e2m3", "mxfp6_e3m2": "fp6_e3m2",
      "mxfp8_e4m3": torch.float8_e4m3fn, "mxfp8_e5m2": torch.float8_e5m2}
ALL_FORMATS = [*MX, "nvfp4", "int8", "int4"]


def torchao_functions():
    """fmt -> callable(x) doing torchao's quantize -> dequantize, or {} without torchao."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.prototype.mx_formats import mx_tensor, nvfp4_tensor
    except ImportError:  # torchao is a test/benchmark-only dependency
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


def timed(fn, x) -> tuple[float, int]:
    """(seconds, minor page faults) of one call; its output is dropped at once."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults


def measure(sides: list, x) -> list[list[tuple[float, int]]]:
    """(seconds, page faults) per timed call of each side: ROUNDS rounds; in each, every side in turn gets WARMUP
    untimed calls (its own allocator steady state), then PER_ROUND timed calls."""
    times = [[] for _ in sides]
    for _ in range(ROUNDS):
        for fn, side_times in zip(sides, times, strict=False):
            for _ in range(WARMUP):
                fn(x)
            gc.collect()
            gc.disable()
            try:
                side_times.extend(timed(fn, x) for _ in range(PER_ROUND))
            finally:
                gc.enable()
    return times


def agreement(fmt: str, ours: torch.Tensor, theirs: torch.Tensor) -> str:
    if fmt != "nvfp4":
        return "exact" if torch.equal(ours, theirs) else f"DIFFERS in {(ours != theirs).sum().item()} elements"
    relative = (ours - theirs).abs() / ours.abs().clamp(min=1e-30)
    same_code = relative <= 4 * 2.0 ** -23  # a dequantization-order difference of a few ulp
    flipped = int((~same_code).sum().item())
    close = relative[same_code & (ours != 0)].max().item() / 2.0 ** -23
    return f"<= {close:.1f} ulp; {flipped} of {ours.numel()} on another FP4 code (scale order at ties)"


def row(fmt: str, megabytes: float, ours: list, theirs: list | None, agree: str) -> str:
    def stats(calls):
        seconds = [t for t, _ in calls]
        faults = statistics.median(f for _, f in calls)
        return statistics.median(seconds), min(seconds), faults

    med, low, faults = stats(ours)
    line = f"{fmt:<11} {med * 1e3:>8.1f} {low * 1e3:>8.1f} {megabytes / med:>7.0f} {faults:>7.0f}"
    if theirs is None:
        return line + f" {'-':>9} {'-':>8} {'-':>7} {'-':>7} {'-':>7}"
    their_med, their_low, their_faults = stats(theirs)
    return (line + f" {their_med * 1e3:>9.1f} {their_low * 1e3:>8.1f} {megabytes / their_med:>7.0f}"
            f" {their_faults:>7.0f} {their_med / med:>6.1f}x  {agree}")


def main() -> None:
    formats = os.environ.get("BENCH_FORMATS", ",".join(ALL_FORMATS)).split(",")
    x = torch.randn(*SHAPE, generator=torch.Generator().manual_seed(0))
    megabytes = x.numel() * x.element_size() / 1e6
    theirs = torchao_functions()
    all_threads = torch.get_num_threads()
    thread_counts = sorted({int(t) for t in os.environ.get("BENCH_THREADS", f"1,{all_threads}").split(",")})
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"quantize->dequantize of a {SHAPE[0]}x{SHAPE[1]} float32 tensor ({megabytes:.0f} MB); {ROUNDS} rounds "
          f"per side, alternating, each of {WARMUP} warm-up and {PER_ROUND} timed calls; torch {torch.__version__}; "
          f"CPU threads available: {all_threads}; load average {load}")
    agreements = {}
    for threads in thread_counts:
        torch.set_num_threads(threads)
        print(f"\n{threads} thread(s); ms (median, min), MB/s from the median, minor page faults per call (median),"
              " ratio = torchao median / ours")
        print(f"{'format':<11} {'ours med':>8} {'min':>8} {'MB/s':>7} {'faults':>7} {'torchao med':>9} {'min':>8}"
              f" {'MB/s':>7} {'faults':>7} {'ratio':>7}  agreement")
        for fmt in formats:
            sides = [lambda t, fmt=fmt: quantize_dequantize(t, fmt)]
            if fmt in theirs:
                sides.append(theirs[fmt])
            times = measure(sides, x)
            if fmt in theirs and fmt not in agreements:
                agreements[fmt] = agreement(fmt, quantize_dequantize(x, fmt), theirs[fmt](x))
            print(row(fmt, megabytes, times[0], times[1] if len(times) > 1 else None, agreements.get(fmt, "")),
                  flush=True)
    torch.set_num_threads(all_threads)


if __name__ == "__main__":
    main()
