"""The nightly's HTML report: one self-contained file (inline CSS and SVG, no scripts, no network).

Top: the counts, then the new findings, then the known ones. Then one card per comparison (per-seed
scores and the effect's CI) and one per run with findings (metric versus step, with the last training
step and the reported step marked). Code locations link to the file (relative link, `#L<line>`), or to
`[tool.auditor.nightly] link_template` ("https://host/repo/blob/{sha}/{path}#L{line}") when set.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
from pathlib import Path
from typing import Any

from auditor.findings import SEVERITY_RANK, Finding
from auditor.locations import RunLocation

MAX_RUN_PLOTS = 40
MAX_RUN_ROWS = 1000

CSS = """
:root { --err:#cf222e; --warn:#9a6700; --info:#0969da; --muted:#57606a; --line:#d0d7de; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; color:#1f2328;
       margin:0; background:#fff; }
header { background:#24292f; color:#fff; padding:18px 32px; }
header h1 { margin:0; font-size:22px; } header p { margin:4px 0 0; color:#d0d7de; }
main { padding: 8px 32px 48px; max-width: 1200px; }
h2 { border-bottom:1px solid var(--line); padding-bottom:4px; margin-top:32px; }
.cards { display:flex; gap:12px; flex-wrap:wrap; margin:16px 0; }
.card { border:1px solid var(--line); border-radius:8px; padding:10px 16px; min-width:120px; background:var(--bg); }
.card b { display:block; font-size:26px; } .card span { color:var(--muted); }
.card.error b { color:var(--err); } .card.warning b { color:var(--warn); } .card.new b { color:#8250df; }
table { border-collapse:collapse; width:100%; margin:8px 0; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--bg); font-weight:600; }
.sev { display:inline-block; border-radius:10px; padding:0 8px; font-size:12px; font-weight:600; color:#fff; }
.sev.error { background:var(--err); } .sev.warning { background:var(--warn); } .sev.info { background:var(--info); }
.new-tag { color:#8250df; font-weight:600; font-size:12px; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:12.5px; background:var(--bg);
       padding:1px 4px; border-radius:4px; }
.panel { border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:14px 0; }
.panel h3 { margin:0 0 6px; font-size:16px; }
.facts { color:var(--muted); margin:0 0 8px; }
.verdict { font-weight:600; }
svg.plot { width:100%; max-width:900px; height:auto; display:block; }
details summary { cursor:pointer; color:var(--muted); margin:8px 0; }
.ok { color:#1a7f37; font-weight:600; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


_READABLE = (".yaml", ".yml", ".json", ".txt", ".md", ".log", ".csv")  # a browser shows these as text


def remote_template(repo_root: Path | None) -> str | None:
    """A permalink template ({sha}, {path}, {line}) for a GitHub or GitLab `origin`, else None."""
    if repo_root is None:
        return None
    import subprocess

    try:
        url = subprocess.run(["git", "-C", str(repo_root), "remote", "get-url", "origin"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"^(?:https://|ssh://git@|git@)(github\.com|gitlab\.com)[:/]([\w.-]+/[\w.-]+?)(?:\.git)?/?$", url)
    if not match:
        return None
    host, project = match.groups()
    blob = "blob" if host == "github.com" else "-/blob"
    return f"https://{host}/{project}/{blob}/{{sha}}/{{path}}#L{{line}}"


class Links:
    """Where a finding's location points to, relative to the report's folder.

    Code found at a commit links to that commit's file (a permalink through the configured `link_template`
    or the GitHub/GitLab `origin`), never to today's working tree, where the line may have moved; with no
    known remote the report shows the lines around it, read from git at that commit."""

    def __init__(self, out_dir: Path, repo_root: Path | None, template: str | None, runs: list):
        self.out_dir = Path(out_dir).resolve()
        self.repo_root = repo_root
        self.template = template or remote_template(repo_root)
        self.records = {run.id: run.record_path for run in runs if run.record_path}
        self._repo = None

    def _relative(self, target: Path) -> str:
        rel = Path(os.path.relpath(target, self.out_dir)).as_posix()
        return rel if rel.startswith(("../", "./", "/")) else "./" + rel  # a folder named `javascript:x` stays a path

    def code(self, path: str, line: int | None, sha: str | None = None) -> str | None:
        if self.template and sha:
            return self.template.format(path=path, line=line or 1, sha=sha)
        if sha or (self.repo_root is None and not Path(path).is_absolute()):
            return None  # the working tree is not the code at that commit: see excerpt()
        target = Path(path) if Path(path).is_absolute() else self.repo_root / path
        return self._relative(target) + (f"#L{line}" if line else "")

    def excerpt(self, path: str, line: int | None, sha: str, around: int = 3) -> str | None:
        """The lines around `line` of `path` at `sha`, read from git (None when unknown)."""
        if self.repo_root is None or not line:
            return None
        try:
            if self._repo is None:
                from auditor.vcs import Repo

                self._repo = Repo(self.repo_root)
            data = self._repo.read_file(sha, path)
        except Exception:  # noqa: BLE001 - a missing commit only costs the excerpt
            return None
        if data is None:
            return None
        from auditor.code.sources import source_lines

        lines = source_lines(data)
        first = max(1, line - around)
        shown = lines[first - 1:line + around]
        return "\n".join(f"{'>' if first + i == line else ' '}{first + i:5d}  {text}" for i, text in enumerate(shown))

    def run(self, run_id: str) -> str | None:
        """A readable view of the run's record: the file when it is text, else its folder (a W&B `.wandb` or a
        TensorBoard event file is binary; the folder beside it holds the config and summary as text)."""
        record = self.records.get(run_id)
        if not record:
            return None
        path = Path(record)
        if path.is_dir() or path.suffix.lower() in _READABLE:
            return self._relative(path)
        return self._relative(path.parent) + "/"


def _where(f: Finding, links: Links) -> str:
    loc = f.location
    if loc.path is not None:
        label = loc.display()
        shas = f.evidence.get("shas") if isinstance(f.evidence, dict) else None
        sha = shas[-1] if shas else None
        href = links.code(loc.path, loc.line, sha)
        if href:
            return f'<a href="{_e(href)}"><code>{_e(label)}</code></a>'
        excerpt = links.excerpt(loc.path, loc.line, sha) if sha else None
        if excerpt:
            return (f"<details><summary><code>{_e(label)}</code> at <code>{_e(sha[:10])}</code></summary>"
                    f"<pre>{_e(excerpt)}</pre></details>")
        return f"<code>{_e(label)}</code>"
    if isinstance(loc, RunLocation):
        href = links.run(loc.run)
        anchor = f'<a href="#run-{_e(loc.run)}">{_e(loc.run)}</a>'
        record = f' (<a href="{_e(href)}">record</a>)' if href else ""
        return f"run {anchor}{record}"
    return loc.display(lambda name: f"<code>{_e(name)}</code>")


def _code_context(f: Finding) -> str:
    """For code found at the runs' SHAs: which commits have it and which runs used them."""
    evidence = f.evidence if isinstance(f.evidence, dict) else {}
    shas, runs = evidence.get("shas"), evidence.get("runs")
    if not shas:
        return ""
    runs = list(runs or [])
    total = evidence.get("runs_total", len(runs))
    shown = runs[:6]  # enough to see which experiments; the JSON report has the list
    used = ", ".join(f'<a href="#run-{_e(r)}">{_e(r)}</a>' for r in shown)
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return (f'<div class="facts">at {", ".join(f"<code>{_e(s[:10])}</code>" for s in shas)}'
            + (f"; used by {used}{more}" if used else "") + "</div>")


def _findings_table(findings: list[Finding], new: set[str], links: Links) -> str:
    if not findings:
        return '<p class="ok">None.</p>'
    rows = []
    for f in findings:
        tag = ' <span class="new-tag">NEW</span>' if f.fingerprint in new else ""
        rows.append(f'<tr><td><span class="sev {_e(f.severity)}">{_e(f.severity)}</span>{tag}</td>'
                    f'<td><code>{_e(f.rule)}</code> {_e(f.name)}</td><td>{_where(f, links)}</td>'
                    f'<td>{_e(f.message)}{_code_context(f)}</td></tr>')
    return ("<table><thead><tr><th>severity</th><th>rule</th><th>where</th><th>finding</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _by_severity(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-SEVERITY_RANK.get(f.severity, 0), *f.sort_key()))


class PlotMaker:
    """Renders plots, reusing ones already stored in the nightly state for identical data."""

    def __init__(self, cache=None):
        self.cache = cache

    def get(self, kind: str, data: dict) -> str:
        from auditor.nightly.state import digest
        from auditor.report import plots

        key = digest(kind, plots.PLOT_VERSION, _matplotlib_version(), json.dumps(data, sort_keys=True, default=str))
        if self.cache is not None:
            svg = self.cache.plot(key)
            if svg is not None:
                return svg
        svg = plots.run_curve_svg(data) if kind == "run" else plots.comparison_svg(data)
        if self.cache is not None:
            self.cache.store_plot(key, svg)
        return svg


@functools.lru_cache(maxsize=1)
def _matplotlib_version() -> str:
    """matplotlib's version and our plotting code: a change in either draws the plots anew.

    Read without importing either (0.25 s): a night whose plots all come from the cache draws nothing."""
    import hashlib
    from importlib import metadata

    try:
        version = metadata.version("matplotlib")
    except metadata.PackageNotFoundError:
        version = "none"
    plots_source = Path(__file__).with_name("plots.py").read_bytes()
    return version + ":" + hashlib.sha256(plots_source).hexdigest()[:16]


def _run_facts(run) -> str:
    facts = []
    for label, value in (("group", run.group), ("seed", run.seed), ("state", run.state),
                         ("git", (run.git_sha or "")[:12] or None), ("max steps", run.max_steps)):
        if value is not None:
            facts.append(f"{label} <code>{_e(value)}</code>")
    reported = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in (run.reported or {}).items()}
    if reported:
        facts.append("reported " + ", ".join(f"<code>{_e(k)}={_e(v)}</code>" for k, v in sorted(reported.items())))
    return " · ".join(facts)


def _comparison_panel(report, new: set[str], links: Links, plot: PlotMaker) -> str:
    from auditor.report import plots

    data = plots.comparison_data(report)
    verdict = report.summary.get("verdict") if isinstance(report.summary, dict) else None
    reasons = report.summary.get("reasons") if isinstance(report.summary, dict) else None
    if verdict and reasons:
        verdict = f"{verdict}: {'; '.join(map(str, reasons))}"
    ci = f" [{data['ci'][0]:+.4g}, {data['ci'][1]:+.4g}]" if data["ci"] else ""
    effect = f"effect {data['delta']:+.4g}{ci}" if data["delta"] is not None else "no effect estimate"
    if isinstance(report.summary, dict) and report.summary.get("headline"):
        effect = report.summary["headline"]  # the direction and size, as report.md and summary.json say them
    return (f'<section class="panel" id="cmp-{_e(report.name)}"><h3>{_e(report.name)}</h3>'
            f'<p class="facts"><code>{_e(report.baseline)}</code> → <code>{_e(report.treatment)}</code> on '
            f'<code>{_e(report.metric)}</code> · {_e(effect)}'
            + (f' · <span class="verdict">{_e(verdict)}</span>' if verdict else "") + "</p>"
            + (f'<p class="facts">{_e(report.derived)}</p>' if getattr(report, "derived", None) else "")
            + plot.get("comparison", data) + _findings_table(_by_severity(report.findings), new, links) + "</section>")


def _run_panel(run, findings: list[Finding], new: set[str], links: Links, plot: PlotMaker) -> str:
    from auditor.report import plots

    data = plots.run_curve_data(run)
    curve = plot.get("run", data) if plots.has_curve(data) else '<p class="facts">no metric history to plot</p>'
    return (f'<section class="panel" id="run-{_e(run.id)}"><h3>run {_e(run.id)}</h3>'
            f'<p class="facts">{_run_facts(run)}</p>' + curve
            + _findings_table(_by_severity(findings), new, links) + "</section>")


def render_html(outcome, summary: dict, *, out_dir: Path, config, plot_cache=None) -> str:
    settings = config.nightly
    links = Links(out_dir, outcome.repo_root, settings.link_template, outcome.runs)
    plot = PlotMaker(plot_cache)
    findings, new = outcome.findings, outcome.new
    fresh = _by_severity([f for f in findings if f.fingerprint in new])
    known = _by_severity([f for f in findings if f.fingerprint not in new])
    counts = summary["by_severity"]
    cards = "".join(f'<div class="card {cls}"><b>{value}</b><span>{_e(label)}</span></div>' for cls, value, label in (
        ("new", summary["new"], "new findings"), ("error", counts["error"], "errors"),
        ("warning", counts["warning"], "warnings"), ("", counts["info"], "info"),
        ("", summary["runs"], "runs"), ("", len(summary["comparisons"]), "comparisons")))

    parts = [f"<header><h1>Nightly reproducibility audit</h1><p>{summary['runs']} runs · "
             f"{summary['groups']} groups · {len(outcome.comparisons)} comparisons · "
             f"{summary['findings']} findings</p></header><main>", f'<div class="cards">{cards}</div>',
             f"<h2>New findings ({len(fresh)})</h2>", _findings_table(fresh, new, links)]
    if known:
        parts += [f"<details><summary>Known findings ({len(known)}), seen in earlier nightlies</summary>",
                  _findings_table(known, new, links), "</details>"]

    if outcome.comparisons:
        parts.append(f"<h2>Comparisons ({len(outcome.comparisons)})</h2>")
        parts += [_comparison_panel(c, new, links, plot) for c in outcome.comparisons]

    by_run: dict[str, list[Finding]] = {}
    for f in findings:
        if isinstance(f.location, RunLocation):
            by_run.setdefault(f.location.run, []).append(f)
    runs = {run.id: run for run in outcome.runs}
    flagged = sorted((rid for rid in by_run if rid in runs), key=lambda rid: (
        not any(f.fingerprint in new for f in by_run[rid]),
        -max(SEVERITY_RANK.get(f.severity, 0) for f in by_run[rid]), rid))
    limit = MAX_RUN_PLOTS if settings.max_run_plots is None else settings.max_run_plots
    if flagged:
        parts.append(f"<h2>Runs with findings ({len(flagged)})</h2>")
        parts += [_run_panel(runs[rid], by_run[rid], new, links, plot) for rid in flagged[:limit]]
        if len(flagged) > limit:
            parts.append(f"<p class='facts'>{len(flagged) - limit} more run(s) with findings are listed in the tables "
                         "above (plots are drawn for the first ones; `max_run_plots` raises the limit).</p>")
    clean = [run for run in outcome.runs if run.id not in by_run]
    if clean:
        parts.append(f"<details><summary>Runs without findings ({len(clean)})</summary><table><thead><tr>"
                     "<th>run</th><th>group</th><th>seed</th><th>state</th><th>reported</th></tr></thead><tbody>")
        for run in clean[:MAX_RUN_ROWS]:
            reported = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in sorted((run.reported or {}).items()))
            parts.append(f"<tr><td>{_e(run.id)}</td><td>{_e(run.group or '')}</td><td>{_e(run.seed if run.seed is not None else '')}"
                         f"</td><td>{_e(run.state or '')}</td><td>{_e(reported)}</td></tr>")
        parts.append("</tbody></table>")
        if len(clean) > MAX_RUN_ROWS:
            parts.append(f"<p class='facts'>and {len(clean) - MAX_RUN_ROWS} more.</p>")
        parts.append("</details>")
    parts.append("</main>")
    body = "\n".join(parts)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Nightly reproducibility audit</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n")
