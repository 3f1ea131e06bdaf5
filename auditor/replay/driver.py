"""Replay a run's checkpoint under its declared quantization and under none; compare with `reported`.

    replay_run(run, config, repo)       -> ReplayResult (the numbers; torch-free data)
    findings_for(result, config)        -> the replay rules' findings (RA401-RA403)
    replay_findings(run, config, repo)  -> both in one call, for `audit run`

The run's `replay` section names the model factory and the evaluate function (`module:function`,
imported with the repo first on sys.path) and the quantization (a spec string or the project's own
`module:function` hook); `checkpoint.path` is loaded safely (auditor.replay.load).
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from auditor.errors import InputError
from auditor.findings import Finding, run_location
from auditor.meta import UNREADABLE_COMMIT, input_unreadable, run_rule
from auditor.registry import selected_rules
from auditor.replay.apply import QuantOptions, apply_quant, parse_spec
from auditor.replay.imports import ImportFailure, load_callable
from auditor.replay.load import CheckpointError, load_checkpoint
from auditor.replay.result import ReplayResult, default_tolerance
from auditor.runs.record import Run

MAX_CAPTURED_OUTPUTS = 8  # forward calls whose outputs are kept to compare quantized vs plain
STRIPPED_PREFIXES = ("module.", "model.", "_orig_mod.")


class ReplayError(InputError):
    """The replay cannot run: a broken replay section, a factory that fails, no CUDA..."""


def _fail(run: Run, message: str, field: str | None = None) -> ReplayError:
    return ReplayError(f"run {run.id}: {message}", path=run.record_path, field=field)


# -- settings -----------------------------------------------------------------------------------

def reported_metric(run: Run) -> tuple[str | None, float | None]:
    """The metric named in `reported` (other than "step") and its value."""
    for key, value in sorted((run.reported or {}).items()):
        if key == "step" or isinstance(value, bool):
            continue
        try:
            return key, float(value)
        except (TypeError, ValueError):
            continue
    return None, None


def quant_options(run: Run, config) -> QuantOptions:
    """[tool.auditor.replay] settings, overridden by the same keys in the run's replay section."""
    settings = {**dataclasses.asdict(config.replay), **{k: v for k, v in (run.replay or {}).items()
                                                 if k in ("include", "exclude", "module_types", "block_size",
                                                          "scale_mode", "rounding")}}
    types = []
    for name in settings.get("module_types") or ["Linear"]:
        cls = getattr(nn, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise _fail(run, f"unknown module type {name!r} (a torch.nn class name such as Linear, Conv2d)",
                        "replay.module_types")
        types.append(cls)

    def patterns(key):
        value = settings.get(key) or []
        return (value,) if isinstance(value, str) else tuple(map(str, value))

    return QuantOptions(module_types=tuple(types), include=patterns("include"), exclude=patterns("exclude"),
                        block_size=settings.get("block_size"), scale_mode=settings.get("scale_mode", "floor"),
                        rounding=settings.get("rounding", "even"))


def tolerance_for(reported: float | None, config, explicit: float | None) -> float:
    if explicit is not None:
        return float(explicit)
    configured = config.replay.tolerance
    if configured is not None:
        return float(configured)
    return default_tolerance(reported) if reported is not None else 0.0


# -- evaluation ---------------------------------------------------------------------------------

def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value.detach().to("cpu", copy=True)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for key in sorted(value, key=str) for t in _tensors(value[key])]
    if hasattr(value, "logits"):
        return _tensors(value.logits)
    return []


def _seed_everything() -> None:
    """Both evaluations see the same random draws (data sampling, dropout left on by mistake...)."""
    random.seed(0)
    torch.manual_seed(0)
    try:
        import numpy

        numpy.random.seed(0)
    except ImportError:
        pass


def _metric_value(value: Any, metric: str | None, run: Run, target: str) -> float:
    if isinstance(value, dict):
        if metric in value:
            value = value[metric]
        elif len(value) == 1:
            value = next(iter(value.values()))
        else:
            raise _fail(run, f"evaluate {target} returned {sorted(map(str, value))}, none of them the reported "
                             f"metric {metric!r}", "replay.evaluate")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _fail(run, f"evaluate {target} returned {type(value).__name__}, not a number or a "
                         "{metric: value} dict", "replay.evaluate") from None


def evaluate_model(model: nn.Module, evaluate: Callable, metric: str | None, run: Run,
                   target: str) -> tuple[float, list[torch.Tensor]]:
    """The metric, and the outputs of the model's first forward calls."""
    outputs: list[torch.Tensor] = []

    def capture(_module, _args, output):
        if len(outputs) < MAX_CAPTURED_OUTPUTS:
            outputs.extend(_tensors(output))

    handle = model.register_forward_hook(capture)
    _seed_everything()
    try:
        with torch.no_grad():
            value = evaluate(model)
    except ReplayError:
        raise
    except (Exception, SystemExit) as exc:  # the project's code (a script's argparse may sys.exit)
        raise _fail(run, f"evaluate {target} raised {type(exc).__name__}: {exc}", "replay.evaluate") from exc
    finally:
        handle.remove()
    return _metric_value(value, metric, run, target), outputs


def _same_outputs(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool | None:
    if not a or not b:
        return None
    return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b, strict=False))


# -- model and checkpoint -----------------------------------------------------------------------

def build_model(run: Run, target: str, repo: Path) -> nn.Module:
    try:
        factory = load_callable(target, repo, "replay.model")
        model = factory()
    except ImportFailure as exc:
        raise _fail(run, str(exc), "replay.model") from exc
    except (Exception, SystemExit) as exc:
        raise _fail(run, f"replay.model {target} raised {type(exc).__name__}: {exc}", "replay.model") from exc
    if not isinstance(model, nn.Module):
        raise _fail(run, f"replay.model {target} returned {type(model).__name__}, not a torch.nn.Module",
                    "replay.model")
    return model


def load_into(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load strictly, also when the checkpoint's names carry a wrapper prefix (DDP's "module.")."""
    expected = set(model.state_dict())
    for prefix in ("", *STRIPPED_PREFIXES):
        candidate = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)} if prefix else state
        if set(candidate) == expected:
            try:
                model.load_state_dict(candidate, strict=True)
                return
            except RuntimeError as exc:  # shapes differ
                raise CheckpointError("unreadable", f"does not fit the model: {exc}".splitlines()[0], "") from exc
    missing = sorted(expected - set(state))[:5]
    unexpected = sorted(set(state) - expected)[:5]
    raise CheckpointError("unreadable", f"does not fit the model built by replay.model: missing {missing}, "
                          f"unexpected {unexpected}", "")


def _display(path: str, run: Run) -> str:
    try:
        return os.path.relpath(path, run.folder) if Path(path).resolve().is_relative_to(Path(run.folder).resolve()) else path
    except (OSError, ValueError):
        return path


# -- the replay ---------------------------------------------------------------------------------

def replay_run(run: Run, config, repo_path: str | Path = ".", device: str = "cpu",
               tolerance: float | None = None) -> ReplayResult:
    section = run.replay or {}
    if not section:
        raise _fail(run, "the record has no replay section (replay.model, replay.evaluate, replay.quant)", "replay")
    for key in ("model", "evaluate"):
        if not isinstance(section.get(key), str) or ":" not in section[key]:
            raise _fail(run, f"replay.{key} must name a function as 'module:function'", f"replay.{key}")
    quant_text = section.get("quant") or (run.eval or {}).get("quant") or "none"
    try:
        spec = parse_spec(str(quant_text))
    except ValueError as exc:
        raise _fail(run, str(exc), "replay.quant") from exc
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise _fail(run, "--device cuda was asked for, but CUDA is not available here")
    repo = Path(repo_path).resolve()
    metric, reported = reported_metric(run)
    result = ReplayResult(run_id=run.id, metric=metric, reported=reported, reported_step=(run.reported or {}).get("step"),
                          quant=str(quant_text), quant_description=spec.describe(), quant_declared=not spec.is_noop,
                          tolerance=tolerance_for(reported, config, tolerance), device=device)
    options = quant_options(run, config)

    model = build_model(run, section["model"], repo)
    checkpoint = (run.checkpoint or {}).get("path")
    if checkpoint:
        result.checkpoint = _display(str(checkpoint), run)
        try:
            load_into(model, load_checkpoint(checkpoint))
        except CheckpointError as exc:
            result.checkpoint_problem, result.checkpoint_message = exc.kind, exc.message
            result.unsafe_callables = list(exc.callables)
            return result
    else:
        result.notes.append("no checkpoint in the record: the model is evaluated as replay.model builds it")

    try:
        evaluate = load_callable(section["evaluate"], repo, "replay.evaluate")
    except ImportFailure as exc:
        raise _fail(run, str(exc), "replay.evaluate") from exc
    model.to(device).eval()
    result.unquantized, plain_outputs = evaluate_model(model, evaluate, metric, run, section["evaluate"])
    if spec.is_noop:
        result.quantized = result.unquantized
        return result
    try:
        quantized_model, report = apply_quant(model, spec, options=options, repo=repo)
    except ImportFailure as exc:
        raise _fail(run, str(exc), "replay.quant") from exc
    except (Exception, SystemExit) as exc:  # a project hook failing, or options the format rejects
        raise _fail(run, f"applying {quant_text} failed: {type(exc).__name__}: {exc}", "replay.quant") from exc
    result.quant_report = report.to_json()
    quantized_model.to(device).eval()
    result.quantized, quant_outputs = evaluate_model(quantized_model, evaluate, metric, run, section["evaluate"])
    result.outputs_identical = _same_outputs(plain_outputs, quant_outputs)
    return result


def findings_for(result: ReplayResult, config) -> list[Finding]:
    findings: list[Finding] = []
    for rule in selected_rules(config, "replay"):
        findings.extend(run_rule(rule, run_location(result.run_id), result, config=config))
    return findings


def replay(run: Run, config, repo_path: str | Path = ".", device: str = "cpu",
           tolerance: float | None = None) -> tuple[ReplayResult | None, list[Finding]]:
    """(result, findings); a replay that cannot run (or crashes, hangs, goes over a limit in its child
    process, auditor.replay.sandbox) gives (None, [an RA001 finding]) instead of raising."""
    from auditor.replay.code_at_sha import CodeUnavailable
    from auditor.replay.sandbox import replay_in_child

    try:
        result = replay_in_child(run, config, repo_path, device, tolerance)
    except InputError as exc:
        evidence = {"stage": "replay"}
        if isinstance(exc, CodeUnavailable):  # a fetch may bring the commit: the nightly tries again
            evidence[UNREADABLE_COMMIT] = exc.sha
        return None, [input_unreadable(f"replay not run: {exc}", run_location(run.id), evidence, config=config)]
    return result, findings_for(result, config)


def replay_findings(run: Run, config, repo_path: str | Path = ".", device: str = "cpu") -> list[Finding]:
    """For `audit run`: the replay's findings (RA401-RA403, or RA001 when the replay cannot run)."""
    return replay(run, config, repo_path, device)[1]
