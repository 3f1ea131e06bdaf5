"""The verdict a person reads before the findings: valid or not and why, the effect and its CI, the
per-seed table. Plain text for the terminal, a table for Markdown."""

from __future__ import annotations

from auditor.compare.comparison import Comparison
from auditor.report.escape import Markdown, md_code, md_text

_VERDICT = {"invalid": "INVALID comparison", "not supported": "valid comparison, effect NOT supported by the seeds",
            "supported": "valid comparison, effect supported by the seeds"}


def _num(value, signed=False) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 5e-4:
        return f"{value:+.3g}" if signed else f"{value:.3g}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def direction(comparison: Comparison, labels: list[str]) -> str | None:
    """"better" | "worse" (the treatment, by the metric's direction) | "no change" (a zero effect, or RA314 among
    the verdict's `labels`) | None (no effect estimate)."""
    effect = comparison.effect
    if effect is None or effect.delta is None:
        return None
    if effect.delta == 0 or any("RA314" in label for label in labels):
        return "no change"
    return "better" if comparison.better(effect.delta) else "worse"


def headline(summary: dict) -> str:
    """The direction and size of the effect, said beside every verdict so a supported regression reads as one:
    'treatment worse, -0.0325 (95% CI [-0.0351, -0.0299])'."""
    way = summary.get("direction")
    if way is None:
        return "no effect estimate: a side has no usable score"
    level = (summary.get("statistics") or {}).get("ci_level", 0.95)
    ci = summary.get("ci")
    interval = f"{level:.0%} CI [{_num(ci[0], True)}, {_num(ci[1], True)}]" if ci else f"{level:.0%} CI: n/a"
    lead = "no change (a no-op)" if way == "no change" else f"treatment {way}"
    return f"{lead}, {_num(summary['effect'], True)} ({interval})"


def verdict_text(summary: dict) -> str:
    """'valid comparison, effect supported by the seeds: treatment worse, -0.0325 (95% CI [...])', or, with
    reasons, 'INVALID comparison: <reasons>; measured: treatment better, +0.0189 (95% CI: n/a)'."""
    state = _VERDICT[summary["verdict"]]
    if summary["reasons"]:
        return f"{state}: {'; '.join(summary['reasons'])}; measured: {headline(summary)}"
    return f"{state}: {headline(summary)}"


def effect_line(comparison: Comparison, summary: dict) -> str:
    effect = comparison.effect
    if effect is None or effect.delta is None:
        return "no effect: a side has no usable score"
    delta = effect.delta
    way = summary["direction"]
    direction = "no change: a no-op" if way == "no change" else f"treatment {way}"
    how = (f"mean of {len(effect.deltas)} paired seed delta{'s' if len(effect.deltas) != 1 else ''}" if effect.paired
           else f"difference of means, {effect.n_baseline} baseline vs {effect.n_treatment} treatment runs, "
                f"not paired by seed")
    if effect.ci:
        ci = f"{effect.level:.0%} CI [{_num(effect.ci[0], True)}, {_num(effect.ci[1], True)}] ({effect.method_name})"
    else:
        ci = f"{effect.level:.0%} CI: n/a (needs at least 2 runs per side)"
    line = f"{_num(delta, True)} ({direction}; {how}); {ci}"
    if effect.paired:
        pos, zero, neg = effect.signs
        line += f"; signs {pos}+/{zero}=/{neg}-"
    return line + permutation_text(effect)


def permutation_text(effect) -> str:
    """'; exact sign-flip test p = 0.25 (the smallest p 3 seeds can give)' beside the interval."""
    test = effect.test
    if test is None or effect.delta is None:
        return ""
    text = f"; {'exact' if test.exact else 'sampled'} {test.name} test p = {test.p_value:.3g}"
    if test.p_min > 1 - effect.level:
        text += f" (cannot go below {test.p_min:.3g} with {effect.sizes})"
    return text


def _table(comparison: Comparison) -> list[list[str]]:
    effect = comparison.effect
    rows = [["seed", f"baseline {comparison.baseline_label}", f"treatment {comparison.treatment_label}", "delta",
             "runs"]]
    for row in comparison.rows:
        rows.append(["-" if row.seed is None else str(row.seed), _num(row.baseline), _num(row.treatment),
                     _num(row.delta, True), f"{row.baseline_run or '-'} / {row.treatment_run or '-'}"])
    if effect and effect.n_baseline + effect.n_treatment:
        rows.append(["mean", _num(effect.mean_baseline), _num(effect.mean_treatment), _num(effect.delta, True), ""])
        rows.append(["std", _num(effect.std_baseline), _num(effect.std_treatment),
                     _num(effect.std_delta) if effect.paired else "-", "(sample, ddof=1)"])
        rows.append(["cv", _pct(effect.cv_baseline), _pct(effect.cv_treatment), "", ""])
    return rows


def _left_out(comparison: Comparison) -> str:
    return ", ".join(e.describe(comparison.config) for e in comparison.excluded) + " (RA313)"


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def render_text(comparison: Comparison, summary: dict) -> str:
    direction = "higher is better" if comparison.higher_is_better else "lower is better"
    lines = [
        f"Comparison  {comparison.baseline_label} (baseline, {len(comparison.baseline)} run(s)) vs "
        f"{comparison.treatment_label} (treatment, {len(comparison.treatment)} run(s))",
        f"Metric      {comparison.metric} ({direction})",
        f"Verdict     {verdict_text(summary)}",
    ]
    if summary["caveats"]:
        lines.append(f"Also        {'; '.join(summary['caveats'])}")
    lines.append(f"Effect      {effect_line(comparison, summary)}")
    lines += [f"Seeds       {note}" for note in comparison.selection.notes]
    if comparison.excluded:
        lines.append(f"Left out    {_left_out(comparison)}")
    lines.append("")
    table = _table(comparison)
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        lines.append("  " + "  ".join(cell.ljust(w) if i in (0, 4) else cell.rjust(w)
                                      for i, (cell, w) in enumerate(zip(r, widths, strict=False))).rstrip())
    lines += ["", "Findings"]
    return "\n".join(lines) + "\n"


def render_markdown(comparison: Comparison, summary: dict) -> Markdown:
    """The comparison as Markdown the report shows as it is: every piece that came from input (labels, the
    metric, run ids, seeds, messages quoting them) is escaped here; the numbers are the auditor's own."""
    direction = "higher is better" if comparison.higher_is_better else "lower is better"
    reasons = md_text("; ".join(summary["reasons"])) + "; measured: " if summary["reasons"] else ""
    out = [f"**{md_text(comparison.baseline_label)}** (baseline) vs **{md_text(comparison.treatment_label)}** "
           f"(treatment), {md_code(comparison.metric)} ({direction})", "",
           f"- Verdict: **{_VERDICT[summary['verdict']]}**: {reasons}**{md_text(headline(summary))}**",
           f"- Effect: {md_text(effect_line(comparison, summary))}"]
    if summary["caveats"]:
        out.append(f"- Also: {md_text('; '.join(summary['caveats']))}")
    out += [f"- Seeds: {md_text(note)}" for note in comparison.selection.notes]
    if comparison.excluded:
        out.append(f"- Left out: {md_text(_left_out(comparison))}")
    out.append("")
    table = _table(comparison)
    out.append("| " + " | ".join(md_text(cell) for cell in table[0]) + " |")
    out.append("|" + "---|" * len(table[0]))
    for r in table[1:]:  # seed and run ids come from the records; the numbers are ours
        seed, *numbers, runs = r
        out.append("| " + " | ".join([md_text(seed), *numbers, md_text(runs)]) + " |")
    return Markdown("\n".join(out) + "\n")
