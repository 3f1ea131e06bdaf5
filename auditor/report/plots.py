"""Plots for the HTML report: matplotlib (Agg) to inline SVG, byte-identical for identical input.

- run_curve_svg: a run's metrics versus step, with the last training step and the reported step
  marked, and the stretch after the last evaluation shaded (a skipped final validation shows at a glance).
  A run whose metrics end before max_steps (failed, killed, or whatever its state) is drawn ending there.
- comparison_svg: per-seed scores of both sides (paired seeds joined) and the effect with its CI.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any, Iterable, Sequence

from auditor.compare.groups import FAILED_STATES

PLOT_VERSION = "3"  # part of the plot cache key: bump it when the drawing changes
COLORS = ["#1f6feb", "#8250df", "#1a7f37", "#bf8700", "#0a7a8a"]
_EVAL_WORDS = ("val", "eval", "test", "acc", "score")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    # Fixed ids and no dates: the same data gives the same SVG bytes.
    matplotlib.rcParams.update({
        "svg.hashsalt": "repro-auditor",
        "svg.fonttype": "none",
        "font.family": "DejaVu Sans",
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e5e7eb",
        "grid.linewidth": 0.6,
        "text.parse_math": False,  # run ids and metric names are drawn as written: `$\\cmd$` is text, not TeX
    })
    return plt


def _to_svg(fig) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG goes inline into HTML
    # Scale with the page instead of a fixed size in points (the viewBox keeps the aspect).
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="plot" role="img"', svg, count=1)
    return svg


MAX_POINTS = 1000  # per curve: a million-point metric draws like its envelope, and the page stays small
PLOT_LIMIT = 1e300  # beyond this, axis limits and tick spacing overflow to inf inside matplotlib


def _finite(points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    out = []
    for step, value in points:
        try:
            step, value = float(step), float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(step) and math.isfinite(value):
            out.append((max(-PLOT_LIMIT, min(PLOT_LIMIT, step)), max(-PLOT_LIMIT, min(PLOT_LIMIT, value))))
    return _thin(sorted(out))


def _thin(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most about `limit` points: per bucket of consecutive points its lowest and highest (spikes stay
    visible), plus the first and the last point."""
    if len(points) <= limit:
        return points
    buckets = limit // 2
    size = len(points) / buckets
    kept = {0, len(points) - 1}
    for b in range(buckets):
        chunk = range(int(b * size), max(int((b + 1) * size), int(b * size) + 1))
        kept.add(min(chunk, key=lambda i: points[i][1]))
        kept.add(max(chunk, key=lambda i: points[i][1]))
    return [points[i] for i in sorted(kept)]


def curve_metrics(run, limit: int = 4) -> list[str]:
    """Which of a run's metrics to draw: the reported ones first, then evaluation-like ones."""
    metrics = [name for name, points in sorted(run.metrics.items()) if points]
    reported = [m for m in sorted(run.reported) if m != "step" and m in run.metrics and run.metrics[m]]
    evalish = [m for m in metrics if m not in reported and any(w in m.lower() for w in _EVAL_WORDS)]
    chosen = reported + evalish or metrics
    return chosen[:limit]


def run_curve_data(run) -> dict[str, Any]:
    """Plain data the curve is drawn from (also the plot's cache key)."""
    metrics = {name: _finite(run.metrics.get(name) or []) for name in curve_metrics(run)}
    reported_step = run.reported.get("step") if isinstance(run.reported, dict) else None
    reported = {k: v for k, v in (run.reported or {}).items() if k != "step" and isinstance(v, (int, float))}
    # Where training really stopped: a run that failed or was killed stops at its last logged step, not max_steps,
    # and so does any run whose metrics end before max_steps (a 0-based count's max_steps - 1 reaches it).
    logged = [step for points in (run.metrics or {}).values() for step, _ in _finite(points or [])]
    last = max(logged, default=None)
    early = last is not None and isinstance(run.max_steps, (int, float)) and last < run.max_steps - 1
    stopped = last if run.state in FAILED_STATES or early else None
    return {"id": run.id, "metrics": metrics, "max_steps": run.max_steps, "reported_step": reported_step,
            "reported": reported, "state": run.state, "stopped_at": stopped}


def has_curve(data: dict[str, Any]) -> bool:
    """Anything to draw: an empty run gets a line of text, not an empty chart."""
    return any(data["metrics"].values()) or isinstance(data.get("max_steps"), (int, float))


def run_curve_svg(data: dict[str, Any]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 2.8))
    last_eval = None
    for number, (name, points) in enumerate(sorted(data["metrics"].items())):
        if not points:
            continue
        steps, values = zip(*points, strict=False)
        ax.plot(steps, values, marker="o", markersize=3.5, linewidth=1.6, color=COLORS[number % len(COLORS)], label=name)
        last_eval = max(last_eval, steps[-1]) if last_eval is not None else steps[-1]
    max_steps = data.get("max_steps")
    stopped = data.get("stopped_at")
    end = None  # the last step training reached
    if isinstance(max_steps, (int, float)):
        end = max_steps
        if isinstance(stopped, (int, float)) and stopped < max_steps:
            ax.axvline(max_steps, color="#8c959f", linestyle="--", linewidth=1.0, label=f"planned steps ({max_steps:g})")
            end = stopped
        else:
            ax.axvline(max_steps, color="#cf222e", linestyle="--", linewidth=1.4,
                       label=f"last training step ({max_steps:g})")
    if isinstance(stopped, (int, float)) and end == stopped:
        ax.axvline(stopped, color="#cf222e", linestyle="-", linewidth=1.4, label=_stop_label(data))
    if end is not None and last_eval is not None and last_eval < end:
        ax.axvspan(last_eval, end, color="#cf222e", alpha=0.08, linewidth=0)
        narrow = (end - last_eval) < 0.25 * max(end, 1)
        ax.annotate(f"no evaluation\nafter step {last_eval:g}", xy=((last_eval + end) / 2, 0.5),
                    xycoords=("data", "axes fraction"), ha="center", va="center", color="#cf222e",
                    fontsize=8, rotation=90 if narrow else 0)
    step = data.get("reported_step")
    if isinstance(step, (int, float)):
        ax.axvline(step, color="#bf8700", linestyle=":", linewidth=1.6, label=f"reported step ({step:g})")
        for name, value in sorted(data.get("reported", {}).items()):
            if name in data["metrics"]:
                ax.plot([step], [value], marker="*", markersize=11, color="#bf8700", linestyle="none")
    ax.set_xlabel("step")
    if last_eval is None and not isinstance(max_steps, (int, float)):
        ax.text(0.5, 0.5, "no metric history", transform=ax.transAxes, ha="center", color="#57606a")
    if ax.get_legend_handles_labels()[0]:  # matplotlib warns about an empty legend
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(str(data["id"]), fontsize=9, loc="left")
    return _to_svg(fig)


def _stop_label(data: dict[str, Any]) -> str:
    """A failed or killed run stopped training; any other run's metrics just end there, short of the plan."""
    if data.get("state") in FAILED_STATES:
        return f"training stopped ({data['stopped_at']:g}, {data.get('state')})"
    return f"metrics end at step {data['stopped_at']:g} (planned {data['max_steps']:g})"


def _rows(summary: dict) -> list[dict]:
    for key in ("rows", "per_seed", "seeds", "table"):
        rows = summary.get(key)
        if isinstance(rows, list) and all(isinstance(r, dict) for r in rows):
            return rows
    return []


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def comparison_data(report) -> dict[str, Any]:
    summary = report.summary or {}
    effect = summary.get("effect") if isinstance(summary.get("effect"), dict) else summary.get("statistics") or {}
    delta = _number(effect.get("delta")) if effect else _number(summary.get("effect"))
    ci = summary.get("ci") or (effect.get("ci") if effect else None)
    ci = [_number(ci[0]), _number(ci[1])] if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
    rows = [{"seed": str(r.get("seed")), "baseline": _number(r.get("baseline")),
             "treatment": _number(r.get("treatment")),
             # a line is joined only when the comparison paired it by seed (the row says so)
             "paired": bool(r.get("paired", r.get("seed") is not None)),
             "label": (f"seed {r.get('seed')}" if r.get("seed") is not None
                       else str(r.get("treatment_run") or r.get("baseline_run") or ""))}
            for r in _rows(summary)]
    return {"name": report.name, "baseline": report.baseline, "treatment": report.treatment, "metric": report.metric,
            "rows": rows, "delta": delta, "ci": ci if ci and None not in ci else None,
            "level": _number(effect.get("ci_level")) if effect else None}


def comparison_svg(data: dict[str, Any]) -> str:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.8), gridspec_kw={"width_ratios": [2.2, 1]})
    rows = data["rows"]
    for row in rows:
        b, t = row["baseline"], row["treatment"]
        if b is not None and t is not None and row.get("paired", True):
            left.plot([0, 1], [b, t], color="#8c959f", linewidth=0.8, zorder=1)
    for x, side, color in ((0, "baseline", "#57606a"), (1, "treatment", "#1f6feb")):
        values = [r[side] for r in rows if r[side] is not None]
        if values:
            left.scatter([x] * len(values), values, color=color, s=22, zorder=2)
            mean = sum(values) / len(values)
            left.plot([x - 0.18, x + 0.18], [mean, mean], color=color, linewidth=2.2, zorder=3)
    for row in rows:
        if row["treatment"] is not None:
            label = row.get("label", f"seed {row['seed']}")
            left.annotate(label, (1, row["treatment"]), xytext=(6, 0), textcoords="offset points",
                          fontsize=7, va="center", color="#57606a")
    left.set_xticks([0, 1], [f"{data['baseline']}\n(baseline)", f"{data['treatment']}\n(treatment)"])
    left.set_xlim(-0.5, 1.7)
    left.set_ylabel(data["metric"] or "score")
    left.set_title("per-seed scores", fontsize=9, loc="left")
    delta, ci = data["delta"], data["ci"]
    right.axhline(0, color="#cf222e", linewidth=1.0, linestyle="--")
    if delta is not None:
        if ci:
            right.errorbar([0], [delta], yerr=[[delta - ci[0]], [ci[1] - delta]], fmt="o", color="#1f6feb",
                           capsize=6, linewidth=1.8, markersize=6)
        else:
            right.plot([0], [delta], "o", color="#1f6feb")
        level = f"{data['level'] * 100:.0f}% CI" if data.get("level") else "CI"
        right.set_title(f"effect (treatment − baseline), {level}", fontsize=9, loc="left")
    else:
        right.text(0, 0, "no effect\n(too few scores)", ha="center", va="center", color="#57606a", fontsize=8)
        right.set_title("effect", fontsize=9, loc="left")
    right.set_xticks([])
    right.set_xlim(-1, 1)
    fig.tight_layout()
    return _to_svg(fig)
