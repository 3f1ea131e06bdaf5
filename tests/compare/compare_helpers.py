"""Writes the compare rules' example dicts as real results directories (native run.yaml files)."""

import importlib
import json
import pkgutil
from pathlib import Path

import yaml

import auditor.rules.compare as compare_pack
from auditor.compare.examples import side_name


def compare_rule_classes():
    classes = []
    for info in sorted(pkgutil.iter_modules(compare_pack.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{compare_pack.__name__}.{info.name}")
        classes += [v for v in vars(module).values()
                    if isinstance(v, type) and getattr(v, "id", "") and v.__module__ == module.__name__]
    return classes


def write_runs(results: Path, records: list[dict]) -> Path:
    for record in records:
        folder = results / record["id"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    return results


def write_example(results: Path, example: dict) -> list[str]:
    """The results dir of one example and the `audit compare` arguments that check it."""
    write_runs(results, example["baseline"] + example["treatment"])
    argv = ["compare", side_name(example["baseline"]), side_name(example["treatment"]), "--results", str(results),
            "--metric", example["metric"], "--format", "json"]
    if example.get("treatment_keys") is not None:
        argv += ["--treatment-keys", ",".join(example["treatment_keys"])]
    if example.get("higher_is_better") is not None:
        argv.append("--higher-is-better" if example["higher_is_better"] else "--lower-is-better")
    return argv


def rules_in(stdout: str) -> list[str]:
    return [f["rule"] for f in json.loads(stdout)["findings"]]
