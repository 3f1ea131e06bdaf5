"""Writes a docs rule example (doc text, runs, existing files) as a real lab: repo, results dir, doc."""

import subprocess
from pathlib import Path

import yaml


def write_docs_example(root: Path, example: dict) -> tuple[Path, Path, Path]:
    repo, results = root / "repo", root / "results"
    (repo / "docs").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    results.mkdir()
    for record in example.get("runs", []):
        folder = results / record["id"]
        folder.mkdir(parents=True)
        (folder / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    for name in example.get("files", []):
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("placeholder\n", encoding="utf-8")
    doc = repo / "docs" / "RESULTS.md"
    doc.write_text(example["doc"], encoding="utf-8")
    return repo, results, doc
