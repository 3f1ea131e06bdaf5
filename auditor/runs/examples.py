"""A run rule's example (a native run record; `"HEAD_SHA"` as its git SHA means the commit of a real
repository made for it) written into a results folder, discovered and audited by the rule."""

from __future__ import annotations

from pathlib import Path

import yaml

from auditor.findings import Finding, run_location


def _repo_with_one_commit(path: Path) -> str:
    import git

    repo = git.Repo.init(path)
    with repo.config_writer() as writer:
        writer.set_value("user", "name", "auditor examples")
        writer.set_value("user", "email", "examples@example.invalid")
    (path / "train.py").write_text("print('train')\n", encoding="utf-8")
    repo.index.add(["train.py"])
    sha = repo.index.commit("first").hexsha
    repo.close()
    return sha


def findings_for_example(cls, example: dict, folder: Path, plugins: tuple[str, ...] = ()) -> list[Finding]:
    from auditor.config import Config
    from auditor.meta import run_rule
    from auditor.runs.audit import RunContext
    from auditor.runs.discover import discover_runs
    from auditor.vcs import Repo

    sha = _repo_with_one_commit(folder / "repo")
    record = dict(example)
    if isinstance(record.get("git"), dict) and record["git"].get("sha") == "HEAD_SHA":
        record["git"] = {**record["git"], "sha": sha}
    run_folder = folder / "results" / str(record["id"])
    run_folder.mkdir(parents=True)
    (run_folder / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    config = Config(root=folder, plugins=list(plugins))
    discovery = discover_runs(folder / "results", config, cache=False)
    if discovery.problems:  # the example itself is broken
        return list(discovery.problems)
    (run,) = discovery.runs
    context = RunContext(config=config, key_map=config.key_map, repo=Repo(folder / "repo"))
    return run_rule(cls(), run_location(run.id), run, context, config=config)
