"""The scan pipeline: bad files, suppressions, selection from real config files, cache, determinism."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from auditor.code.scan import scan_files, scan_paths
from auditor.code.sources import SourceFile
from auditor.config import Config, ScanSettings, load_config

INCIDENT = '''
import torch


class RayPPOTrainer:
    def fit(self):
        for batch in self.train_dataloader:
            metrics = {}
            is_last_step = self.global_steps >= self.total_training_steps
            if self.val_reward_fn is not None and self.config.trainer.test_freq > 0 and (
                is_last_step or self.global_steps % self.config.trainer.test_freq == 0
            ):
                if is_last_step:
                    print("[WARN] Skipping final step validation to avoid known hang issue...")
                    val_metrics = {}  # Empty dict for final step
                else:
                    # Run intermediate validations normally (these don't hang)
                    with marked_timer("testing", timing_raw, color="green"):
                        val_metrics = self._validate()
                metrics.update(val_metrics)
            self.global_steps += 1
'''


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return folder


def rules_at(result, rule=None):
    return sorted((f.location.path, f.location.line, f.rule) for f in result.findings
                  if rule is None or f.rule == rule)


def test_incident_snippet_in_a_trainer_is_flagged_at_the_emptying_line(tmp_path):
    write(tmp_path, {"verl/trainer/ppo/ray_trainer.py": INCIDENT})
    result = scan_paths([tmp_path], Config(root=tmp_path), use_cache=False)
    line = INCIDENT.lstrip("\n").splitlines().index(
        '                    val_metrics = {}  # Empty dict for final step') + 1
    assert rules_at(result, "RA101") == [("verl/trainer/ppo/ray_trainer.py", line, "RA101")]
    finding = [f for f in result.findings if f.rule == "RA101"][0]
    assert finding.severity == "error" and finding.location.col == 20


def test_bad_files_are_reported_and_the_rest_is_scanned(tmp_path):
    big = "x = 1\n" * 200_000  # 1.2 MB
    write(tmp_path, {
        "latin1.py": b"# caf\xe9\nimport torch\n",
        "declared.py": b"# -*- coding: latin-1 -*-\n# caf\xe9\nimport torch\nstate = torch.load('x.pt')\n",
        "unknown_codec.py": b"# -*- coding: no-such-codec -*-\nimport torch\n",
        "bytes_codec.py": b"# coding: rot13\nimport torch\n",
        "broken.py": "def f(:\n    pass\n",
        "binary.py": b"\x00\x01\x02torch.load",
        "huge.py": big,
        "good.py": "import torch\nstate = torch.load('x.pt')\n",
    })
    os.symlink("loop.py", tmp_path / "loop.py")
    (tmp_path / "notes.txt").write_text("just text\n")
    config = Config(root=tmp_path, scan=ScanSettings(max_file_bytes=1_000_000))
    result = scan_paths([tmp_path, tmp_path / "notes.txt"], config, use_cache=False)
    unreadable = {f.location.path: f.message for f in result.findings if f.rule == "RA001"}
    assert set(unreadable) == {"latin1.py", "unknown_codec.py", "bytes_codec.py", "broken.py", "binary.py", "huge.py",
                               "loop.py", "notes.txt"}
    assert "not a text encoding" in unreadable["bytes_codec.py"]
    assert "not UTF-8" in unreadable["latin1.py"]  # no coding declaration: Python reads it as UTF-8 and fails
    assert "encoding declaration" in unreadable["unknown_codec.py"] and "no-such-codec" in unreadable["unknown_codec.py"]
    assert "does not parse" in unreadable["broken.py"]
    assert "binary" in unreadable["binary.py"]
    assert "too large" in unreadable["huge.py"]
    assert "symlink loop" in unreadable["loop.py"]
    assert "not a Python file" in unreadable["notes.txt"]
    assert ("broken.py", 1) == (lambda f: (f.location.path, f.location.line))(
        [f for f in result.findings if f.location.path == "broken.py"][0])
    # a declared latin-1 file is Python source as CPython reads it: scanned
    assert rules_at(result, "RA170") == [("declared.py", 4, "RA170"), ("good.py", 2, "RA170")]


def test_skips_vcs_venv_and_build_trees_and_excludes(tmp_path):
    hazard = "import torch\nstate = torch.load('x.pt')\n"
    write(tmp_path, {
        "src/pkg/train.py": hazard, ".git/hooks/x.py": hazard, "venv/lib/site.py": hazard,
        "myenv/pyvenv.cfg": "home = /usr\n", "myenv/lib/a.py": hazard, "build/lib/pkg/train.py": hazard,
        "lib/site-packages/dep.py": hazard, "third_party/vendored.py": hazard,
    })
    config = Config(root=tmp_path, exclude=["third_party"])
    result = scan_paths([tmp_path], config, use_cache=False)
    assert rules_at(result) == [("src/pkg/train.py", 2, "RA170")]


def test_suppressions_used_unused_and_unknown(tmp_path):
    write(tmp_path, {"a.py": """
        import torch
        a = torch.load("a.pt")  # audit: ignore[RA170] our own checkpoint
        b = torch.load("b.pt")  # audit: ignore[unsafe-checkpoint-load]
        # audit: ignore[RA170] the next line
        c = torch.load("c.pt")
        d = torch.load("d.pt", weights_only=True)  # audit: ignore[RA170]
        e = torch.load("e.pt")  # audit: ignore[RA101]
        f = 1  # audit: ignore[RA999, RA170]
        s = "# audit: ignore[RA170] inside a string is not a comment"
    """})
    result = scan_paths([tmp_path], Config(root=tmp_path), use_cache=False)
    assert rules_at(result) == [
        ("a.py", 6, "RA002"),  # d: nothing to suppress
        ("a.py", 7, "RA002"),  # e: RA101 does not fire there ...
        ("a.py", 7, "RA170"),  # ... and RA170 is not suppressed by it
        ("a.py", 8, "RA002"),
        ("a.py", 8, "RA003"),
    ]


TRICKY_SUPPRESSIONS = '''import torch
doc = """
# audit: ignore[RA170] inside a docstring: not a comment
"""
x = f"{1}# audit: ignore[RA170] inside an f-string"
y = torch.load("y.pt",  # audit: ignore[RA170] inside brackets
    # audit: ignore[RA101] standing alone inside brackets
    map_location="cpu")

    # audit: ignore[RA170] alone, then a blank line and a comment

# plain comment
z = torch.load("z.pt")
w = 1  # audit:ignore[ RA170 , ra110 ]   spaced   out
# audit: ignore[RA170] at the end: covers its own line
'''


def _tokenized_suppressions(source: str) -> list[list]:
    """What the tokenizer says: every comment token with a marker, standing alone or not."""
    import io
    import tokenize

    from auditor.code.suppress import MARKER

    return [[*tok.start, tok.string] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type == tokenize.COMMENT and MARKER.search(tok.string)]


def test_suppression_comments_are_told_from_strings_and_cover_the_next_line_of_code():
    from auditor.code.suppress import parse_suppressions

    for source in (TRICKY_SUPPRESSIONS, TRICKY_SUPPRESSIONS.replace("\n", "\r\n")):
        found = parse_suppressions(source)
        assert [[s.comment_line, s.col] for s in found] == [t[:2] for t in _tokenized_suppressions(source)]
        assert [(s.line, s.comment_line, s.rules) for s in found] == [
            (6, 6, ("RA170",)),
            (8, 7, ("RA101",)),  # alone inside the call's brackets: the next line holding code
            (13, 10, ("RA170",)),  # past a blank line and a plain comment
            (14, 14, ("RA170", "ra110")),
            (15, 15, ("RA170",)),  # nothing after it
        ]
        assert found[3].text == "# audit:ignore[ RA170 , ra110 ] spaced out"


def test_selection_and_per_path_ignores_from_pyproject(tmp_path):
    hazard = "import torch\nstate = torch.load('x.pt', weights_only=False)\ntry:\n    evaluate(m)\nexcept Exception:\n    pass\n"
    write(tmp_path, {
        "pyproject.toml": """
            [tool.auditor]
            ignore = ["RA150"]
            [tool.auditor.per-path-ignores]
            "tests/*" = ["RA170"]
            [tool.auditor.severity]
            RA170 = "error"
        """,
        "train.py": hazard, "tests/test_train.py": hazard,
    })
    config = load_config(tmp_path)
    result = scan_paths([tmp_path], config, use_cache=False)
    assert rules_at(result) == [("train.py", 2, "RA170")]
    assert result.findings[0].severity == "error"


def test_selection_from_auditor_yaml(tmp_path):
    write(tmp_path, {
        "auditor.yaml": "select: [RA150]\nper-path-ignores:\n  'legacy/**': [RA1]\n",
        "train.py": "import torch\nstate = torch.load('x.pt')\ntry:\n    evaluate(m)\nexcept Exception:\n    pass\n",
        "legacy/old.py": "try:\n    evaluate(m)\nexcept Exception:\n    pass\n",
    })
    result = scan_paths([tmp_path], load_config(tmp_path), use_cache=False)
    assert rules_at(result) == [("train.py", 5, "RA150")]


def test_warm_cache_gives_the_same_findings_and_parses_nothing(tmp_path):
    write(tmp_path, {"verl/ray_trainer.py": INCIDENT, "b.py": "import pickle\nx = pickle.load(open('f', 'rb'))\n",
                     "c.py": "print('hello')\n"})
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    cold = scan_paths([tmp_path], config)
    warm = scan_paths([tmp_path], config)
    assert [f.to_json() for f in cold.findings] == [f.to_json() for f in warm.findings]
    assert cold.parsed >= 2 and warm.parsed == 0 and warm.cached == warm.files == 3
    (tmp_path / "c.py").write_text("import torch\ny = torch.load('y.pt')\n")
    changed = scan_paths([tmp_path], config)
    assert changed.parsed == 1 and ("c.py", 2, "RA170") in rules_at(changed)


def test_parallel_scan_equals_serial(tmp_path):
    files = [SourceFile(f"pkg/m{i}.py", INCIDENT.encode() if i % 2 else b"import dill\nx = dill.load(f)\n")
             for i in range(12)]
    config = Config(root=tmp_path)
    serial = scan_files(files, config, use_cache=False, jobs=1)
    parallel = scan_files(files, config, use_cache=False, jobs=2)
    assert [f.to_json() for f in serial.findings] == [f.to_json() for f in parallel.findings]
    assert len(serial.findings) == 12


def test_blob_ids_key_the_cache(tmp_path):
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    data = b"import torch\nstate = torch.load('x.pt')\n"
    first = scan_files([SourceFile("a.py", data, "b" * 40)], config)
    again = scan_files([SourceFile("a.py", data, "b" * 40)], config)
    assert first.parsed == 1 and again.cached == 1 and again.parsed == 0
    assert rules_at(first) == rules_at(again) == [("a.py", 2, "RA170")]


def test_project_rule_findings_are_suppressed_inline_too(tmp_path):
    source = ("import numpy as np\n\n\ndef main():\n    print(np.random.rand(3))\n\n\n"
              "if __name__ == '__main__':\n    main()\n")
    write(tmp_path, {"train.py": source})
    config = Config(root=tmp_path)
    before = [f for f in scan_paths([tmp_path], config, use_cache=False).findings if f.rule == "RA110"]
    assert before, "an unseeded entry point is RA110"
    line = before[0].location.line
    lines = source.splitlines()
    lines[line - 1] += "  # audit: ignore[RA110] a demo script"
    (tmp_path / "train.py").write_text("\n".join(lines) + "\n")
    after = scan_paths([tmp_path], config, use_cache=False).findings
    assert not [f for f in after if f.rule in ("RA110", "RA002")]


# -- incremental re-scans and config-aware prefilters -------------------------------------------------

SEEDED_PROJECT = {
    "utils/seed.py": "import random\nimport numpy as np\n\n\ndef set_everything(s):\n"
                     "    random.seed(s)\n    np.random.seed(s)\n",
    "train.py": "import random\nimport numpy as np\nimport torch as T\nfrom utils.seed import set_everything\n\n\n"
                "def main():\n    T.manual_seed(0)\n    set_everything(0)\n    print(np.random.rand(3), random.random())\n\n\n"
                "if __name__ == '__main__':\n    main()\n",
}


def _seed_findings(result):
    return sorted((f.rule, f.location.path, f.location.line) for f in result.findings
                  if f.rule.startswith("RA11"))


def test_cached_rescan_after_a_cross_file_change_equals_a_cold_scan(tmp_path):
    write(tmp_path, SEEDED_PROJECT)
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    first = scan_paths([tmp_path], config)
    assert _seed_findings(first) == []
    # the helper stops seeding numpy: the entry point in the other, unchanged file is now partly seeded
    (tmp_path / "utils/seed.py").write_text("import random\n\n\ndef set_everything(s):\n    random.seed(s)\n")
    incremental = scan_paths([tmp_path], config)
    cold = scan_paths([tmp_path], config, use_cache=False)
    assert incremental.cached == 1 and incremental.parsed == 1
    assert [f.to_json() for f in incremental.findings] == [f.to_json() for f in cold.findings]
    assert _seed_findings(cold) != [] and all(path == "train.py" for _, path, _ in _seed_findings(cold))
    # and back: the earlier project state answers again, identical to a cold scan
    write(tmp_path, SEEDED_PROJECT)
    again = scan_paths([tmp_path], config)
    assert [f.to_json() for f in again.findings] == [f.to_json() for f in first.findings]


def test_without_a_cache_the_index_loads_only_the_bodies_it_follows(tmp_path, monkeypatch):
    from auditor.code.index import LazySummary, ModuleSummary

    write(tmp_path, SEEDED_PROJECT)
    write(tmp_path, {"unrelated.py": "import random\n\n\ndef noise():\n    return random.random()\n"})
    (tmp_path / "utils/seed.py").write_text("import random\n\n\ndef set_everything(s):\n    random.seed(s)\n")
    loaded = []
    body = LazySummary.functions

    def counted(self):
        if self._functions is None:
            loaded.append(self.path)
        return body.fget(self)
    monkeypatch.setattr(LazySummary, "functions", property(counted))
    config = Config(root=tmp_path)
    lazy = scan_paths([tmp_path], config, use_cache=False)
    eager = scan_paths([tmp_path], config, use_cache=False, keep_index=True)
    assert [f.to_json() for f in lazy.findings] == [f.to_json() for f in eager.findings]
    assert _seed_findings(lazy) != []  # the helper in the other file was followed
    assert "unrelated.py" not in loaded and "utils/seed.py" in loaded
    assert all(isinstance(s, ModuleSummary) for s in eager.summaries.values()) and lazy.summaries == {}


def test_an_edit_that_leaves_every_summary_unchanged_does_not_rebuild_the_index(tmp_path):
    write(tmp_path, SEEDED_PROJECT)
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    first = scan_paths([tmp_path], config)
    with open(tmp_path / "utils/seed.py", "a") as fh:
        fh.write("# a trailing comment\n")
    touched = scan_paths([tmp_path], config)
    assert touched.parsed == 1 and touched.index is None  # the project rules' findings came from the cache
    assert [f.to_json() for f in touched.findings] == [f.to_json() for f in first.findings]
    assert scan_paths([tmp_path], config, keep_index=True).index is not None


def test_configured_diagnostic_flag_reaches_the_prefilter(tmp_path):
    # no debug/diag word anywhere: only the configured flag name makes this diagnostic code
    write(tmp_path, {"probe.py": "import torch\n\n\ndef step(model, batch, cfg):\n"
                                 "    if cfg.probe_energy:\n        torch.randn(3)\n"})
    plain = scan_paths([tmp_path], Config(root=tmp_path), use_cache=False)
    flagged = scan_paths([tmp_path], Config(root=tmp_path, diagnostic_flags=["probe_energy"]), use_cache=False)
    assert [f for f in plain.findings if f.rule == "RA140"] == []
    assert rules_at(flagged) == [("probe.py", 6, "RA140")]


def test_configured_validation_function_reaches_the_prefilter(tmp_path):
    write(tmp_path, {"loop.py": "def fit(model, steps, every):\n    for step in range(steps):\n        model.train_step()\n"
                                "        if step % every == 0:\n            score_holdout(model)\n    save(model)\n"})
    plain = scan_paths([tmp_path], Config(root=tmp_path), use_cache=False)
    configured = Config(root=tmp_path, validation_functions=["score_holdout"])
    assert [f for f in plain.findings if f.rule == "RA102"] == []
    assert ("loop.py", 4, "RA102") in rules_at(scan_paths([tmp_path], configured, use_cache=False))


# -- the stat cache: unchanged files are neither read nor hashed ----------------------------------------

def _read(tmp_path, config):
    """The project's files as the whole-tree scan reads them against its record (files on record: not read)."""
    from auditor.code.discover import discover
    from auditor.code.facts import read_facts
    from auditor.code.scan import result_cache
    from auditor.code.tree_record import TreeRecord, read_tree

    cache = result_cache(config, read_facts(tmp_path, frozenset()))
    try:
        record = TreeRecord.load(cache, config.root)
        return {f.path: f for f in read_tree(discover([tmp_path], tmp_path, config), record, 1 << 20).files}
    finally:
        cache.close()


def _reads(monkeypatch) -> list[str]:
    """The paths the whole-tree scan reads from here on (tree_record.read_one is where it reads a file)."""
    from auditor.code import tree_record

    seen: list[str] = []
    real = tree_record.read_one

    def spy(cand, *args, **kwargs):
        seen.append(cand.path)
        return real(cand, *args, **kwargs)
    monkeypatch.setattr(tree_record, "read_one", spy)
    return seen


def test_files_on_record_are_not_read_and_a_changed_one_is(tmp_path, monkeypatch):
    from auditor.code.cache import FileStats

    monkeypatch.setattr(FileStats, "RACY_NS", 0)  # files written by the test are seconds old at most
    write(tmp_path, SEEDED_PROJECT)
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    first = scan_paths([tmp_path], config)
    reads = _reads(monkeypatch)
    warm = scan_paths([tmp_path], config)
    assert reads == [] and warm.cached == 2
    assert [f.to_json() for f in warm.findings] == [f.to_json() for f in first.findings]
    # same size, mtime put back: the inode's ctime still moved, so the new content is read
    seed = tmp_path / "utils/seed.py"
    before = seed.stat()
    seed.write_text(SEEDED_PROJECT["utils/seed.py"].replace("np.random.seed(s)", "np.random.rand(1)"))
    os.utime(seed, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert seed.stat().st_size == before.st_size
    changed = scan_paths([tmp_path], config)
    assert reads == ["utils/seed.py"]
    cold = scan_paths([tmp_path], config, use_cache=False)
    assert changed.parsed == 1 and _seed_findings(changed) != []
    assert [f.to_json() for f in changed.findings] == [f.to_json() for f in cold.findings]


def test_a_file_written_just_before_the_scan_is_read_again(tmp_path, monkeypatch):
    """Its stat may not move if it is rewritten within the same tick (git's racy-clean rule): it is
    recorded without its stat, so the next scan reads it; settled files are not read."""
    from auditor.code.cache import FileStats

    write(tmp_path, {"old.py": "print('old')\n"})
    old = tmp_path / "old.py"
    os.utime(old, ns=(1, 1))  # its mtime is long past; its ctime is now, so it is racy too
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    scan_paths([tmp_path], config)
    reads = _reads(monkeypatch)
    scan_paths([tmp_path], config)
    assert reads == ["old.py"]
    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    scan_paths([tmp_path], config)  # recorded as settled now
    reads.clear()
    assert scan_paths([tmp_path], config).cached == 1 and reads == []


def test_the_record_is_rewritten_only_when_it_saves_a_later_scan_some_reading(tmp_path, monkeypatch):
    """A file edited seconds ago is recorded without its stat, so a record holding it spares no read: the old
    record stays (it tells the file changed just as well) until the edit has settled."""
    from auditor.code.cache import FileStats
    from auditor.code.tree_record import TreeRecord

    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    write(tmp_path, {"a.py": "import torch\nx = torch.load('x.pt')\n", "b.py": "print('b')\n"})
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    scan_paths([tmp_path], config)
    saves: list[int] = []
    real = TreeRecord.save
    monkeypatch.setattr(TreeRecord, "save", lambda self, *a: saves.append(len(self.files)) or real(self, *a))
    monkeypatch.setattr(FileStats, "RACY_NS", 10**18)  # every file is racy: just written
    (tmp_path / "b.py").write_text("print('b', 2)\n")
    assert rules_at(scan_paths([tmp_path], config)) == [("a.py", 2, "RA170")] and saves == []
    reads = _reads(monkeypatch)
    assert rules_at(scan_paths([tmp_path], config)) == [("a.py", 2, "RA170")]
    assert reads == ["b.py"]  # the edited file, against the old record (a.py is on it, unchanged)
    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    scan_paths([tmp_path], config)
    assert saves == [2]


def test_a_new_deleted_or_renamed_file_is_a_changed_tree(tmp_path, monkeypatch):
    from auditor.code.cache import FileStats

    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    write(tmp_path, {"a.py": "import torch\nx = torch.load('x.pt')\n", "b.py": "print('b')\n"})
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    scan_paths([tmp_path], config)
    (tmp_path / "a.py").rename(tmp_path / "c.py")
    assert rules_at(scan_paths([tmp_path], config)) == [("c.py", 2, "RA170")]
    (tmp_path / "b.py").unlink()
    assert scan_paths([tmp_path], config).files == 1
    write(tmp_path, {"d.py": "import torch\ny = torch.load('y.pt')\n"})
    assert rules_at(scan_paths([tmp_path], config)) == [("c.py", 2, "RA170"), ("d.py", 2, "RA170")]


def test_the_stat_cache_of_a_scan_outside_the_project_skips_unchanged_files(tmp_path, monkeypatch):
    """Paths outside the project root are read through FileStats: on record and unchanged, not read."""
    from auditor.code.cache import FileStats

    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    write(elsewhere, {"a.py": "import torch\nx = torch.load('x.pt')\n"})
    project.mkdir()
    config = Config(root=project, cache_dir_setting=str(tmp_path / ".cache"))
    first = scan_paths([elsewhere], config)
    from auditor.code.discover import discover
    from auditor.code.sources import read_candidates

    stats = FileStats(config.cache_dir / "code")
    try:
        files = read_candidates(discover([elsewhere], project, config), config, stats)
    finally:
        stats.close()
    assert len(files) == 1 and files[0].data is None and files[0].blob
    assert [f.to_json() for f in scan_paths([elsewhere], config).findings] == [f.to_json() for f in first.findings]


def test_a_racy_entry_is_not_trusted(tmp_path):
    """An entry recorded within RACY_NS of the file's mtime may hide a same-tick rewrite: hash again."""
    from auditor.code.cache import FileStats

    write(tmp_path, {"a.py": "import torch\nx = torch.load('x.pt')\n"})
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    stats = FileStats(config.cache_dir / "code")
    st = (tmp_path / "a.py").stat()
    # a record claiming other content for this very signature, taken just after the write
    stats.record([(str(tmp_path / "a.py"), FileStats.signature(st), "0" * 40, st.st_mtime_ns + 1)])
    from auditor.code.discover import discover
    from auditor.code.sources import read_candidates

    files = read_candidates(discover([tmp_path], tmp_path, config), config, stats)
    stats.close()
    assert files[0].path == "a.py" and files[0].data is not None  # read, not trusted
    assert rules_at(scan_paths([tmp_path], config)) == [("a.py", 2, "RA170")]


def test_a_file_on_record_that_vanishes_before_analysis_is_reported(tmp_path, monkeypatch):
    from auditor.code.cache import FileStats

    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    write(tmp_path, {"a.py": "print('a')\n", "b.py": "import torch\nx = torch.load('x.pt')\n"})
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    scan_paths([tmp_path], config)
    files = list(_read(tmp_path, config).values())
    assert all(f.data is None for f in files)
    (tmp_path / "b.py").unlink()
    # a new config fingerprint: no cached results, so the lazily read files must be read now
    other = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"), ignore=["RA160"])
    result = scan_files(files, other)
    assert [(f.location.path, f.rule) for f in result.findings] == [("b.py", "RA001")]


def test_a_single_file_scan_sees_helpers_in_the_rest_of_the_project(tmp_path):
    """`audit scan train.py` builds the index from the whole project: the seed helper in another file counts,
    and findings elsewhere are not reported."""
    write(tmp_path, {
        "pyproject.toml": "[tool.auditor]\n",
        "train.py": """
            import torch
            from utils import seed_everything_here

            def main():
                seed_everything_here(0)
                model = torch.nn.Linear(2, 1)
                model(torch.randn(4, 2)).sum().backward()

            if __name__ == "__main__":
                main()
        """,
        "utils.py": """
            import random, numpy as np, torch

            def seed_everything_here(seed):
                random.seed(seed)
                np.random.seed(seed)
                torch.manual_seed(seed)
        """,
        "other.py": "import torch\nstate = torch.load('x.pt', weights_only=False)\n",
    })
    config = load_config(tmp_path)
    result = scan_paths([tmp_path / "train.py"], config, use_cache=False)
    assert {f.location.path for f in result.findings} <= {"train.py"} and result.files == 1
    assert not [f for f in result.findings if f.rule in ("RA110", "RA111", "RA112")]
    assert result.lines == 10
    whole = scan_paths([tmp_path], config, use_cache=False)
    assert "RA170" in [f.rule for f in whole.findings]


def test_the_stat_cache_answers_only_the_paths_asked(tmp_path):
    """Several projects share one stat cache, and one range of paths is read back: a recorded path sorting
    between the asked ones, or outside them, is not an answer."""
    from auditor.code.cache import FileStats

    stats = FileStats(tmp_path)
    rows = [(f"/p/{name}.py", f"sig-{name}", f"blob-{name}", 1) for name in ("a", "b", "c", "d")]
    stats.record(rows + [("/q/a.py", "sig-q", "blob-q", 1)])
    known = stats.known(["/p/a.py", "/p/c.py", "/p/z.py"])
    stats.close()
    assert known == {"/p/a.py": ("sig-a", "blob-a", 1), "/p/c.py": ("sig-c", "blob-c", 1)}


# -- a file named outside any project: its imports are its context, not its folder's tree ----------------

LOOSE = {
    "train.py": """
        import numpy as np
        import torch
        from helpers import prepare
        from pkg.sub import mod


        def main():
            prepare(0)
            model = torch.nn.Linear(2, 2)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            for _ in range(mod.VALUE):
                loss = model(torch.randn(1, 2)).sum() + float(np.random.rand())
                loss.backward()
                opt.step()


        if __name__ == "__main__":
            main()
        """,
    "helpers.py": """
        import random
        import numpy as np
        import torch


        def prepare(s):
            random.seed(s)
            np.random.seed(s)
            torch.manual_seed(s)
        """,
    "pkg/__init__.py": "",
    "pkg/sub/__init__.py": "from . import mod\n",
    "pkg/sub/mod.py": "from .. import sub\nVALUE = 1\n",
    "downloads/other_project/train.py": "import torch\nstate = torch.load('x.pt')\n",
}


def _read_paths(monkeypatch) -> list[str]:
    from auditor.code import sources

    seen: list[str] = []
    real = sources.read_one
    monkeypatch.setattr(sources, "read_one", lambda cand, *a, **k: seen.append(cand.path) or real(cand, *a, **k))
    return seen


def test_a_file_outside_any_project_is_scanned_with_what_it_imports_only(tmp_path, monkeypatch):
    """No configuration, no repository: the folder may be a home or /tmp. Its helpers, found as Python would
    find them, count (train.py is seeded); the rest of the folder's tree is not read."""
    folder = tmp_path / "scratch"
    write(folder, LOOSE)
    config = load_config(folder / "train.py")
    assert config.source is None and config.root == folder.resolve()
    reads = _read_paths(monkeypatch)
    result = scan_paths([folder / "train.py"], config, use_cache=False)
    assert sorted(reads) == ["helpers.py", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py", "train.py"]
    assert [f.rule for f in result.findings if f.rule in ("RA110", "RA111")] == []
    assert result.files == 1
    # the same folder as a repository: the whole tree is its context again
    (folder / ".git").mkdir()
    reads.clear()
    scan_paths([folder / "train.py"], load_config(folder / "train.py"), use_cache=False)
    assert "downloads/other_project/train.py" in reads


def test_without_its_helper_the_loose_file_is_unseeded(tmp_path):
    folder = tmp_path / "scratch"
    write(folder, {**LOOSE, "helpers.py": "def prepare(s):\n    pass\n"})
    result = scan_paths([folder / "train.py"], load_config(folder / "train.py"), use_cache=False)
    assert "RA110" in {f.rule for f in result.findings}


def test_a_tree_record_of_the_wrong_shape_is_a_miss_never_a_crash(tmp_path, monkeypatch):
    import marshal
    import sqlite3

    from auditor.code.cache import FileStats
    from auditor.code.facts import read_facts
    from auditor.code.scan import result_cache
    from auditor.code.tree_record import TreeRecord

    monkeypatch.setattr(FileStats, "RACY_NS", 0)
    write(tmp_path, {"a.py": "import torch\nx = torch.load('x.pt')\n"})
    config = Config(root=tmp_path, cache_dir_setting=str(tmp_path / ".cache"))
    first = scan_paths([tmp_path], config)
    cache = result_cache(config, read_facts(tmp_path, frozenset()))
    key = TreeRecord.key(cache, config.root)
    cache.close()
    db = sqlite3.connect(str(next((tmp_path / ".cache" / "code").glob("results-v*.sqlite"))))
    for bad in ({"files": {"a.py": (None, 7, "k")}, "project": "p"}, {"files": {"a.py": (1, 2)}}, [1, 2], "x"):
        db.execute("UPDATE results SET value = ? WHERE key = ?", (marshal.dumps(bad), key))
        db.commit()
        assert [f.to_json() for f in scan_paths([tmp_path], config).findings] == [f.to_json() for f in first.findings]
    db.close()


def test_an_import_of_a_fifo_outside_any_project_is_not_followed(tmp_path):
    """A named pipe read would block the scan for good: only regular files are followed."""
    folder = tmp_path / "scratch"
    write(folder, {"train.py": "import helper\nimport torch\nx = torch.load('x.pt')\n"})
    os.mkfifo(folder / "helper.py")
    result = scan_paths([folder / "train.py"], load_config(folder / "train.py"), use_cache=False)
    assert rules_at(result) == [("train.py", 3, "RA170")]


def test_the_walk_collects_the_python_packaging_files_the_facts_read():
    """discover picks the packaging files among .py files by name (PYTHON_PACKAGING_FILES): the same names
    is_packaging_file takes."""
    from auditor.code.facts import PYTHON_PACKAGING_FILES, is_packaging_file

    names = ["__init__.py", "setup.py", "train.py", "conftest.py", "requirements.py", "pyproject.py", "setup.cfg.py"]
    assert {n for n in names if is_packaging_file(n)} == set(PYTHON_PACKAGING_FILES)
