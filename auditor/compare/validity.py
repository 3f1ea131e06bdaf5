"""What the validity rules (RA301-RA305) look at: per-side values of eval settings and config keys."""

from __future__ import annotations

import fnmatch
from typing import Any, Callable

from auditor.compare.comparison import Comparison
from auditor.compare.groups import DEFAULT_IGNORE_KEYS, is_ignored, seed_keys, show  # noqa: F401 (old import path)
from auditor.runs.record import Run, flatten

# Quantization modes that mean "no fake quantization": evaluating in bf16 is evaluating unquantized.
UNQUANTIZED = {"none", "bf16", "bfloat16", "fp16", "float16", "fp32", "float32", "full", "off", "false", "no"}


def side_values(runs: list[Run], get: Callable[[Run], Any]) -> dict[str, list[str]]:
    """{shown value: [run ids]} over the runs of one side."""
    out: dict[str, list[str]] = {}
    for run in runs:
        out.setdefault(show(get(run)), []).append(run.id)
    return dict(sorted(out.items()))


def describe(values: dict[str, list[str]], label: str) -> str:
    """'E13h: mxfp4-w4a4' for one value, 'grp: a (r1, r2), b (r3)' for mixed sides."""
    if len(values) == 1:
        return f"{label}: {next(iter(values))}"
    return f"{label}: " + ", ".join(f"{v} ({', '.join(ids)})" for v, ids in values.items())


def normalize_quant(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    return "none" if text in UNQUANTIZED else text


def raw_eval_quant(run: Run, key_map: dict) -> Any:
    value = run.eval.get("quant")
    return value if value is not None else run.config_value("eval_quant", key_map)


def eval_quant(run: Run, key_map: dict) -> str | None:
    """The eval quantization mode, with every unquantized spelling (none, bf16, fp32...) as "none"."""
    return normalize_quant(raw_eval_quant(run, key_map))


def train_quant(run: Run, key_map: dict) -> str | None:
    value = run.config_value("train_quant", key_map)
    if isinstance(value, dict):  # e.g. quant: {mode: mxfp4-w4a4, ...} when the key map names the table
        value = value.get("mode") or value.get("format")
    if value is None and run.replay and isinstance(run.replay.get("quant"), str) and ":" not in run.replay["quant"]:
        value = run.replay["quant"]
    return normalize_quant(value)


def eval_attributes(run: Run, key_map: dict) -> dict[str, Any]:
    """The eval protocol besides quantization: everything in the record's `eval` section (dataset,
    framework, split, metric definitions...) and the config keys the key map says name the eval data
    or framework."""
    out = {f"eval.{k}": v for k, v in flatten(run.eval).items() if k != "quant"}
    for meaning, name in (("eval_dataset", "eval.dataset"), ("eval_framework", "eval.framework")):
        if name not in out:
            value = run.config_value(meaning, key_map)
            if value is not None:
                out[name] = value
    return out


def eval_config_keys(key_map: dict) -> set[str]:
    """Config keys that the eval rules (RA302, RA305) own, so RA304 does not report them twice."""
    keys = set()
    for meaning in ("eval_quant", "eval_dataset", "eval_framework"):
        keys.update(key_map.get(meaning, []))
    return keys


def is_treatment_key(key: str, treatment_keys: list[str]) -> bool:
    return any(key == t or key.startswith(t + ".") or fnmatch.fnmatch(key, t) for t in treatment_keys)


# Treatment keys that declare the quantization itself as what the comparison varies.
QUANT_WORDS = {"quant", "quantization", "quantize", "precision"}


def declared(comparison: Comparison, meanings: tuple[str, ...], keys: tuple[str, ...] = ()) -> bool:
    """Whether a declared treatment key covers one of `keys` or a config key that the key map says
    means one of `meanings` (so the comparison means this to differ)."""
    treatment = comparison.treatment_keys or []
    key_map = comparison.config.key_map
    names = list(keys) + [name for meaning in meanings for name in key_map.get(meaning, [])]
    return any(is_treatment_key(name, treatment) or is_treatment_key(t, [name]) for name in names for t in treatment)


def quant_is_treatment(comparison: Comparison) -> bool:
    """--treatment-keys quant (or eval.quant, or the project's own quantization key): measuring what
    quantization costs is a comparison, not a mismatch."""
    words = {t.rsplit(".", 1)[-1].lower() for t in comparison.treatment_keys or []}
    return bool(words & QUANT_WORDS) or declared(comparison, ("eval_quant", "train_quant"), ("eval.quant",))


def set_on_one_side_only(b: dict[str, list[str]], t: dict[str, list[str]]) -> bool:
    """A key that some runs do not record at all while the others set it (a new command-line flag, an
    old run from before it existed): "unset vs value", weaker evidence than two different values."""
    b_set, t_set = set(b) - {"(unset)"}, set(t) - {"(unset)"}
    return not b_set or not t_set or b_set == t_set


def config_differences(comparison: Comparison, ignore: list[str]) -> dict[str, tuple[dict, dict]]:
    """{flattened key: (baseline values, treatment values)} for every config key whose values differ
    between the sides, leaving out seed keys, the eval keys of RA302/RA305 and ignored patterns."""
    key_map = comparison.config.key_map
    skip = set(seed_keys(comparison.config)) | eval_config_keys(key_map)
    # A run that logged no config at all is RA211's finding; here it would make every key "differ".
    flat = {run.id: flatten(run.config) for run in comparison.runs if run.config}
    baseline = [r for r in comparison.baseline if r.id in flat]
    treatment = [r for r in comparison.treatment if r.id in flat]
    if not baseline or not treatment:
        return {}
    keys = sorted({k for f in flat.values() for k in f})
    out = {}
    for key in keys:
        if key in skip or is_ignored(key, ignore):
            continue
        b = side_values(baseline, lambda r, key=key: flat[r.id].get(key))
        t = side_values(treatment, lambda r, key=key: flat[r.id].get(key))
        if set(b) != set(t):
            out[key] = (b, t)
    return out
