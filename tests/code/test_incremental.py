"""Incremental scans: whatever the cache answers must equal a cold scan of the same tree.

The shortcuts under test (auditor/code/scan.py): a file whose previous version had no finding and whose
edit touched only comment and blank lines is not analyzed again; the project rules' findings are reused
when no summary changed, or when only modules the last run never read changed (their heads, the part
the index reads of every module, being the same); otherwise the index is rebuilt over the heads.
"""

from __future__ import annotations

import io
import os
import sqlite3
import textwrap
import tokenize
from pathlib import Path

import pytest
from code_helpers import scan_example

import auditor.code.analysis as analysis_module
import auditor.code.project_cache as project_cache_module
from auditor.code.rule_base import ModuleRule
from auditor.code.scan import scan_paths
from auditor.config import Config
from auditor.registry import all_rule_classes

PROJECT = {
    "utils/__init__.py": "",
    "utils/seed.py": """
        import random
        import numpy as np


        def set_everything(s):
            random.seed(s)
            np.random.seed(s)
        """,
    "train.py": """
        import random
        import numpy as np
        import torch as T
        from utils.seed import set_everything


        def main():
            T.manual_seed(0)
            set_everything(0)
            print(np.random.rand(3), random.random())
            state = T.load("ckpt.pt")
            return state


        if __name__ == '__main__':
            main()
        """,
    "lib/unused.py": """
        import random


        def jitter(x):
            return x + random.random()
        """,
}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))


def _json(result) -> list[dict]:
    return [f.to_json() for f in result.findings]


def _check(root: Path, config: Config):
    """Scan with the cache, compare with a cold scan (no cache) of the same tree; return the cached one."""
    incremental = scan_paths([root], config, jobs=1)
    cold = scan_paths([root], config, use_cache=False, jobs=1)
    assert _json(incremental) == _json(cold)
    assert (incremental.files, incremental.lines, incremental.unreadable) == (cold.files, cold.lines, cold.unreadable)
    return incremental


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    _write(root, PROJECT)
    config = Config(root=root, cache_dir_setting=str(tmp_path / "cache"))
    return root, config


@pytest.fixture
def spies(monkeypatch):
    """Counts of full file analyses and of project-rule runs."""
    counts = {"analyze": 0, "project": 0}
    analyze, run_rules = analysis_module.FileAnalyzer.analyze, project_cache_module._run_project_rules

    def counting_analyze(self, path, data):
        counts["analyze"] += 1
        return analyze(self, path, data)

    def counting_rules(*args, **kwargs):
        counts["project"] += 1
        return run_rules(*args, **kwargs)

    monkeypatch.setattr(analysis_module.FileAnalyzer, "analyze", counting_analyze)
    monkeypatch.setattr(project_cache_module, "_run_project_rules", counting_rules)
    return counts


def test_a_helper_change_in_one_file_changes_the_entry_point_findings_in_another(project):
    root, config = project
    first = _check(root, config)
    assert not [f for f in first.findings if f.rule in ("RA110", "RA111")]
    # the helper stops seeding numpy: train.py, unchanged, becomes partly seeded
    _write(root, {"utils/seed.py": PROJECT["utils/seed.py"].replace("np.random.seed(s)", "pass")})
    changed = _check(root, config)
    partial = [f for f in changed.findings if f.rule == "RA111"]
    assert [f.location.path for f in partial] == ["train.py"]
    assert "numpy" in partial[0].message
    # and back: the first state's findings again
    _write(root, {"utils/seed.py": PROJECT["utils/seed.py"]})
    assert _json(_check(root, config)) == _json(first)


def test_a_line_shift_in_the_entry_point_moves_its_findings(project):
    root, config = project
    first = _check(root, config)
    before = {f.rule: f.location.line for f in first.findings if f.location.path == "train.py"}
    assert "RA170" in before  # the unsafe torch.load
    text = (root / "train.py").read_text()
    (root / "train.py").write_text("# a comment\n# and another\n\n" + text)
    shifted = _check(root, config)
    after = {f.rule: f.location.line for f in shifted.findings if f.location.path == "train.py"}
    assert after == {rule: line + 3 for rule, line in before.items()}


def test_a_comment_edit_in_a_clean_file_is_not_analyzed_again(project, spies):
    root, config = project
    _check(root, config)
    text = (root / "utils/seed.py").read_text()
    (root / "utils/seed.py").write_text("# header\n" + text.replace("    np.random", "    # numpy too\n\n    np.random"))
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    # no full analysis: the file had no finding and only comments changed; but its summary moved (lines
    # shifted) in a module an entry point reaches, so the project rules ran again
    assert spies == {"analyze": 0, "project": 1}
    assert result.parsed == 1
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_a_comment_after_the_code_of_a_file_with_findings_is_not_analyzed_again(project, spies):
    root, config = project
    first = _check(root, config)
    with open(root / "train.py", "a") as fh:
        fh.write("\n# trailing: torch.load(x) would be flagged in code\n")
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    # every line of code is where it was: its findings and summary stand, project findings from the cache
    assert spies == {"analyze": 0, "project": 0}
    assert _json(result) == _json(first) == _json(scan_paths([root], config, use_cache=False, jobs=1))
    assert result.lines == first.lines + 2


def test_a_file_with_findings_is_analyzed_again_for_a_comment_among_its_code(project, spies):
    root, config = project
    _check(root, config)
    text = (root / "train.py").read_text()
    (root / "train.py").write_text(text.replace("def main():", "# a comment\ndef main():"))
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies["analyze"] == 1  # its findings' lines moved
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_a_trailing_suppression_on_a_file_with_findings_is_seen(project, spies):
    root, config = project
    first = _check(root, config)
    with open(root / "train.py", "a") as fh:
        fh.write("# audit: ignore[RA170] covers no line of code\n")
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies["analyze"] == 0
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))
    assert [f.rule for f in result.findings if f not in first.findings] == ["RA002"]


def test_a_docstring_line_that_looks_like_a_comment_is_code(project, spies):
    root, config = project
    _write(root, {"doc.py": 'import torch\n\n\ndef f():\n    """Load it.\n    # torch.load("x")\n    """\n'
                            '    return 1\n'})
    _check(root, config)
    (root / "doc.py").write_text('import torch\n\n\ndef f():\n    """Load it.\n    # torch.load("y")\n    """\n'
                                 '    return 1\n')
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies["analyze"] == 1  # the string changed: analyzed again
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_a_change_in_a_module_no_program_reaches_reuses_the_project_findings(project, spies):
    root, config = project
    _check(root, config)
    text = (root / "lib/unused.py").read_text()
    (root / "lib/unused.py").write_text("\n\n# moved down\n" + text.replace("x + random", "x * 2 + random"))
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies == {"analyze": 1, "project": 0}
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_a_new_entry_point_and_a_removed_file_rebuild_the_index(project):
    root, config = project
    _check(root, config)
    _write(root, {"eval.py": "import random\n\n\nif __name__ == '__main__':\n    print(random.random())\n"})
    with_eval = _check(root, config)
    assert [f.location.path for f in with_eval.findings if f.rule == "RA110"] == ["eval.py"]
    (root / "utils/seed.py").unlink()
    _check(root, config)
    (root / "lib/unused.py").write_text("import random\n\n\ndef jitter(x):\n    return x\n")
    _check(root, config)


def test_a_corrupt_cache_is_a_miss_never_a_crash(project):
    root, config = project
    first = _check(root, config)
    db = sqlite3.connect(str(Path(config.cache_dir) / "code" / next(
        p.name for p in (Path(config.cache_dir) / "code").glob("results-v*.sqlite"))))
    db.execute("UPDATE results SET value = X'00ff00' WHERE key LIKE 'summary:%' OR key LIKE 'head:%' "
               "OR key LIKE 'deps:%'")
    db.commit()
    db.close()
    text = (root / "utils/seed.py").read_text()
    (root / "utils/seed.py").write_text("\n\n" + text)  # positions move: the index must be rebuilt
    shifted = _check(root, config)
    assert len(shifted.findings) == len(first.findings)


# -- the invariant the comment shortcut rests on -----------------------------------------------------

TRIGGER = "# debug diag validate val_metrics = {} is_last_step backward zero_grad torch.load seed step % freq"


def _with_comments(source: str) -> str:
    """A comment line (full of words the rules' text prefilters look for) after every line where one can
    go without touching code: after each logical or blank line outside strings."""
    lines = source.splitlines(keepends=True)
    after = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.NEWLINE, tokenize.NL):
            after.add(tok.end[0])
    out = [TRIGGER + "\n"]
    for number, line in enumerate(lines, 1):
        out.append(line if line.endswith("\n") else line + "\n")
        if number in after:
            out.append(TRIGGER + "\n")
    return "".join(out)


def _module_rule_cases():
    for rule_id, cls in all_rule_classes().items():
        if cls.scope == "code" and issubclass(cls, ModuleRule):
            for kind in ("bad", "good"):
                for number, example in enumerate(getattr(cls, kind)):
                    yield pytest.param(example, id=f"{rule_id}-{kind}{number}")


@pytest.mark.parametrize("example", list(_module_rule_cases()))
def test_module_rules_decide_on_code_not_on_comments(example, tmp_path):
    files = example if isinstance(example, dict) else {"example.py": example}
    plain = {rel: textwrap.dedent(src).lstrip("\n") for rel, src in files.items()}
    _, original = scan_example(plain, tmp_path / "a")
    commented = {rel: _with_comments(src) for rel, src in plain.items()}
    _, noisy = scan_example(commented, tmp_path / "b")
    module_rules = {r for r, cls in all_rule_classes().items() if issubclass(cls, ModuleRule)}

    def count(result):
        return sorted((f.rule, f.location.path) for f in result.findings if f.rule in module_rules)

    assert count(noisy) == count(original)


def test_a_comment_edit_loads_neither_libcst_nor_the_rule_modules(project):
    """The incremental path of a clean file needs Python's parser only (libcst costs ~0.12 s to import)."""
    import subprocess
    import sys

    root, config = project
    _check(root, config)
    with open(root / "lib/unused.py", "a") as fh:
        fh.write("\n# a note\n")
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from auditor.code.scan import scan_paths\n"
        "from auditor.config import Config\n"
        f"root = Path({str(root)!r})\n"
        f"result = scan_paths([root], Config(root=root, cache_dir_setting={str(config.cache_dir)!r}), jobs=1)\n"
        "print(result.parsed, len(result.findings), 'libcst' in sys.modules,\n"
        "      any(m.startswith('auditor.rules.code.') for m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", str(len(scan_paths([root], config, use_cache=False, jobs=1).findings)), "False", "False"]


@pytest.mark.usefixtures("spies")
def test_rebuilding_the_index_imports_the_project_rules_but_not_libcst(project):
    import subprocess
    import sys

    root, config = project
    _check(root, config)
    text = (root / "utils/seed.py").read_text()
    (root / "utils/seed.py").write_text("# moved\n\n" + text)  # reached by train.py: positions feed RA11x
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "import auditor.code.scan as scan\nimport auditor.code.project_cache as pc\n"
        "from auditor.config import Config\n"
        "runs = []\n"
        "real = pc._run_project_rules\n"
        "pc._run_project_rules = lambda *a, **k: runs.append(1) or real(*a, **k)\n"
        f"root = Path({str(root)!r})\n"
        f"scan.scan_paths([root], Config(root=root, cache_dir_setting={str(config.cache_dir)!r}), jobs=1)\n"
        "print(len(runs), 'libcst' in sys.modules, 'auditor.rules.code.ra110_seed_unset' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "False", "True"]
    assert _json(scan_paths([root], config, jobs=1)) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_a_suppression_comment_added_to_a_clean_file_is_seen(project, spies):
    root, config = project
    _check(root, config)
    text = (root / "lib/unused.py").read_text()
    (root / "lib/unused.py").write_text(text.replace("def jitter", "# audit: ignore[RA170] nothing to hide\ndef jitter"))
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies["analyze"] == 0  # only a comment line was added to a file without findings
    assert [(f.rule, f.location.path) for f in result.findings if f.rule == "RA002"] == [("RA002", "lib/unused.py")]
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_the_code_skeleton_ignores_comments_and_blank_lines_but_not_strings():
    from auditor.code.analysis import code_skeleton

    base = 'import torch\n\n\ndef f(x):\n    """Doc.\n\n    # looks like a comment\n    """\n    return (x +  # sum\n            1)\n'
    same = [
        "# header\n\n" + base,
        base + "\n# trailer\n",
        base.replace("def f", "# note\n\ndef f"),
        base.replace("            1)", "            # inside the parentheses\n            1)"),
        base.replace("\n", "\r\n"),
        base.replace("# sum", "# total"),  # a trailing comment (a file with findings: the code prefix decides)
        base.replace("  # sum", ""),
    ]
    different = [
        base.replace("# looks like a comment", "# looks like another"),  # in the docstring
        base.replace('"""Doc.\n\n', '"""Doc.\n'),  # a blank line of the docstring
        base.replace("x +", "x  +"),
        base.replace('"""Doc.', "'''Doc.").replace('    """\n    return', "    '''\n    return"),
        base + 's = "a\\\n# b"\n',  # a string continued with a backslash
    ]
    assert {code_skeleton(s) for s in same} == {code_skeleton(base)}
    assert code_skeleton(base) not in {code_skeleton(s) for s in different}
    assert code_skeleton(base + 's = "a\\\n# b"\n') != code_skeleton(base + 's = "a\\\n# c"\n')
    assert code_skeleton("t = '''a \\''' # b\n'''\n") != code_skeleton("t = '''a \\''' # c\n'''\n")


def test_the_code_prefix_changes_with_any_line_of_code_but_not_after_the_last():
    from auditor.code.analysis import code_layout

    base = "import torch\n\nx = torch.load(p)  # ours\n"
    assert code_layout(base + "\n# trailer\n\n")[1] == code_layout(base)[1]
    for other in (base.replace("# ours", "# theirs"), "# header\n" + base, base.replace("\n\n", "\n")):
        assert code_layout(other)[1] != code_layout(base)[1]  # a finding's anchor or line would change


def test_a_trailing_comment_edit_on_a_line_with_a_finding_is_analyzed_again(project, spies):
    root, config = project
    _check(root, config)
    text = (root / "train.py").read_text()
    (root / "train.py").write_text(text.replace('T.load("ckpt.pt")', 'T.load("ckpt.pt")  # our own file'))
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies["analyze"] == 1  # the finding's anchor is that line's text
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_a_trailing_comment_removed_from_a_clean_file_is_not_analyzed_again(project, spies):
    root, config = project
    _write(root, {"utils/seed.py": PROJECT["utils/seed.py"].replace("random.seed(s)", "random.seed(s)  # stale note")})
    _check(root, config)
    _write(root, {"utils/seed.py": PROJECT["utils/seed.py"]})  # what `audit scan --fix` does to a stale suppression
    spies.update(analyze=0, project=0)
    result = scan_paths([root], config, jobs=1)
    assert spies["analyze"] == 0
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_comment_edits_in_many_files_are_reused_in_the_worker_pool_too(project, monkeypatch, tmp_path):
    """Ten clean modules and train.py edited: the pool carries the clean ones over without a full analysis,
    analyzes train.py (a comment among its code), and the result is a cold scan's."""
    root, config = project
    _write(root, {f"lib/m{n}.py": f"import random\n\n\ndef jitter{n}(x):\n    return x + random.random()\n"
                  for n in range(10)})
    _check(root, config)
    for n in range(10):
        path = root / f"lib/m{n}.py"
        path.write_text("# a note\n" + path.read_text())
    (root / "train.py").write_text((root / "train.py").read_text().replace("    T.manual_seed(0)\n",
                                                                            "    # seeded here\n    T.manual_seed(0)\n"))
    analyzed = tmp_path / "analyzed.txt"
    analyze = analysis_module.FileAnalyzer.analyze

    def logging_analyze(self, path, data):  # forked workers inherit it: they append to one file
        with open(analyzed, "a") as fh:
            fh.write(path + "\n")
        return analyze(self, path, data)

    monkeypatch.setattr(analysis_module.FileAnalyzer, "analyze", logging_analyze)
    result = scan_paths([root], config, jobs=2)
    assert analyzed.read_text().split() == ["train.py"]
    assert result.parsed == 11
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


def test_an_edit_that_changes_nothing_reported_is_answered_from_the_last_scan(project, monkeypatch):
    """A comment appended to a file with findings: the previous tree's result stands, and no other file's
    cached result is loaded (scan._scan_uncached is the path that loads them). An appended suppression
    changes what is reported: that takes the full path."""
    import auditor.code.scan as scan_module

    root, config = project
    first = _check(root, config)
    calls: list[int] = []
    real = scan_module._scan_uncached
    monkeypatch.setattr(scan_module, "_scan_uncached", lambda *a, **k: calls.append(1) or real(*a, **k))
    with open(root / "train.py", "a") as fh:
        fh.write("# a note\n")
    quick = scan_paths([root], config, jobs=1)
    assert calls == [] and _json(quick) == _json(first) and quick.lines == first.lines + 1
    with open(root / "train.py", "a") as fh:
        fh.write("# audit: ignore[RA170] covers no line of code\n")
    full = scan_paths([root], config, jobs=1)
    assert calls == [1]
    assert _json(full) == _json(scan_paths([root], config, use_cache=False, jobs=1))
    assert [f.rule for f in full.findings if f not in first.findings] == ["RA002"]


# -- comment edits that leave every line of code where it was: the summary's quoted lines re-read --------

CLEAN = """import random
import numpy as np


# seeds every generator
def set_everything(s):  # one place
    random.seed(s)  # audit: ignore[RA170] stale
    np.random.seed(s)


def noise(x):
    return x + random.random()


if __name__ == "__main__":  # run it
    set_everything(0)
    print(noise(1.0))
"""


WITH_FINDING = CLEAN.replace("import numpy as np\n", "import numpy as np\nimport torch\n") + \
    'state = torch.load("x")  # ours\n'


def _reuse(tmp_path, monkeypatch, old: str, new: str):
    """(what reuse_previous gives for `new` after `old` was analyzed and cached, how many parses that took, a
    fresh analysis of `new`)."""
    from auditor.code.project_cache import split_summaries

    config = Config(root=tmp_path)
    analyzer = analysis_module.FileAnalyzer(config)
    stored = split_summaries({"file": analyzer.analyze("m.py", old.encode())})  # as the cache keeps it
    prev = stored.pop("file")
    parses = []
    parse = analysis_module._ast_parse
    monkeypatch.setattr(analysis_module, "_ast_parse", lambda *a: parses.append(1) or parse(*a))
    reused = analysis_module.reuse_previous(prev, "m.py", new.encode(), config, stored)
    monkeypatch.setattr(analysis_module, "_ast_parse", parse)
    return reused, len(parses), analyzer.analyze("m.py", new.encode())


def _same_result(reused: dict, fresh: dict) -> None:
    import json

    for key in ("findings", "summary_key", "head", "head_key", "suppressions", "lines", "skeleton", "code_prefix",
                "code_lines", "indexing"):
        assert reused[key] == fresh[key], key
    assert json.dumps(reused["summary"]) == json.dumps(fresh["summary"])  # byte-identical, order included


@pytest.mark.parametrize("edit, quoted", [
    (("  # audit: ignore[RA170] stale", ""), True),  # what `audit scan --fix` does to an unused suppression
    (("  # one place", "  # the one place to seed"), True),  # a function's line
    (("  # run it", ""), True),  # the entry point's line
    (("    np.random.seed(s)\n", "    np.random.seed(s)  # numpy's too\n"), True),
    (("# seeds every generator", "# seeds them all"), False),  # a line the summary does not quote
])
def test_a_comment_edit_that_keeps_every_line_reuses_the_summary_without_a_parse(tmp_path, monkeypatch, edit,
                                                                                  quoted):
    reused, parses, fresh = _reuse(tmp_path, monkeypatch, CLEAN, CLEAN.replace(*edit))
    assert parses == 0
    before = analysis_module.FileAnalyzer(Config(root=tmp_path)).analyze("m.py", CLEAN.encode())
    assert (fresh["summary_key"] != before["summary_key"]) == quoted
    _same_result(reused, fresh)


@pytest.mark.parametrize("edit", [
    ("# seeds every generator\n", "# seeds every generator\n# twice\n"),  # a line more: positions move
    ("    return x + random.random()\n", "    return x + random.random()  # a retry delay\n"),  # now incidental
    ("# seeds every generator", "# optimizer state too"),  # the summary looks for optimizers
])
def test_a_comment_edit_that_could_change_the_summary_is_summarized_again(tmp_path, monkeypatch, edit):
    reused, parses, fresh = _reuse(tmp_path, monkeypatch, CLEAN, CLEAN.replace(*edit))
    assert parses == 1
    _same_result(reused, fresh)


def test_the_retry_comment_does_make_the_draw_incidental(tmp_path):
    def strengths(source):
        summary = analysis_module.FileAnalyzer(Config(root=tmp_path)).analyze("m.py", source.encode())["summary"]
        return [e[5].get("strength") for e in summary["functions"]["m.noise"]["events"] if e[0] == "consume"]

    assert strengths(CLEAN) == ["draw"]
    assert strengths(CLEAN.replace("random.random()\n", "random.random()  # a retry delay\n")) == ["incidental"]


@pytest.mark.parametrize("old, new", [
    (CLEAN, CLEAN.replace("# seeds every generator", "print('seeds')")),  # a comment turned into code
    (WITH_FINDING, WITH_FINDING.replace("# ours", "# theirs")),  # the anchor of a finding
])
def test_an_edit_of_code_or_of_a_findings_line_is_analyzed_again(tmp_path, monkeypatch, old, new):
    reused, _, fresh = _reuse(tmp_path, monkeypatch, old, new)
    assert reused is None


def test_the_findings_anchor_is_its_whole_line():
    analyzer = analysis_module.FileAnalyzer(Config(root=Path(".")))

    def found(source):
        return [(f["rule"], f["fingerprint"]) for f in analyzer.analyze("m.py", source.encode())["findings"]]

    before, after = found(WITH_FINDING), found(WITH_FINDING.replace("# ours", "# theirs"))
    assert [r for r, _ in before] == [r for r, _ in after] == ["RA170"] and before != after


def test_comment_only_edits_in_the_worker_pool_read_the_previous_summaries_from_the_cache(project, monkeypatch,
                                                                                          tmp_path):
    root, config = project
    for n in range(10):
        _write(root, {f"lib/m{n}.py": CLEAN.replace("noise", f"noise{n}")})
    _check(root, config)
    for n in range(10):
        _write(root, {f"lib/m{n}.py": CLEAN.replace("noise", f"noise{n}").replace("  # audit: ignore[RA170] stale", "")})
    parsed = tmp_path / "parsed.txt"
    parse = analysis_module._ast_parse

    def logging_parse(source, path):  # forked workers inherit it: they append to one file
        with open(parsed, "a") as fh:
            fh.write(path + "\n")
        return parse(source, path)

    monkeypatch.setattr(analysis_module, "_ast_parse", logging_parse)
    result = scan_paths([root], config, jobs=2)
    assert not parsed.exists()
    assert result.parsed == 10
    assert _json(result) == _json(scan_paths([root], config, use_cache=False, jobs=1))


@pytest.mark.parametrize("version, trusted", [((3, 11), True), ((3, 12), False)])
def test_f_strings_that_may_nest_quotes_are_never_compared_line_by_line(monkeypatch, version, trusted):
    """From Python 3.12 an f-string's fields may hold its own quotes (and a `#`): the comment scan cannot
    tell a comment from a string there, so such a file is summarized again."""
    import types

    import auditor.code.top_level as top_level_module

    monkeypatch.setattr(top_level_module, "sys", types.SimpleNamespace(version_info=version))
    analysis_module.code_layout.cache_clear()
    assert (analysis_module.code_layout('x = f"{y}"  # note\n').lines is not None) == trusted
    assert analysis_module.code_layout("x = 1  # note\n").lines is not None
    analysis_module.code_layout.cache_clear()


# -- the same on real code ----------------------------------------------------------------------------------

REALCODE = Path(os.environ.get("AUDITOR_REALCODE", Path(__file__).resolve().parents[2].parent / "shared" / "realcode"))
EDITS = ["edited", "a retry delay", "optimizer", "seed", "audit: ignore[RA170] x", "torch.load(x)", ""]


def _edit_comments(text: str, turn: int) -> str:
    """Every comment rewritten in place (words the summary and the rules look for among them), or a trailing
    one dropped: no line of code moves."""
    lines = text.splitlines(keepends=True)
    comments = [t.start for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
    for n, (row, col) in enumerate(comments):
        line = lines[row - 1]
        before, end = line[:col], line[len(line.rstrip("\r\n")):]
        word = EDITS[(n + turn) % len(EDITS)]
        lines[row - 1] = before.rstrip() + end if not word and before.strip() else f"{before}# {word or 'x'}{end}"
    return "".join(lines)


@pytest.mark.skipif(not (REALCODE / "DLR-RM+stable-baselines3").is_dir(), reason="no development set")
@pytest.mark.parametrize("turn", [0, 3])
def test_comment_edits_all_over_real_code_give_a_cold_scans_findings_and_summaries(tmp_path, monkeypatch, turn):
    import json
    import shutil

    root = tmp_path / "sb3"
    shutil.copytree(REALCODE / "DLR-RM+stable-baselines3" / "stable_baselines3", root / "stable_baselines3")
    config = Config(root=root, cache_dir_setting=str(tmp_path / "cache"))
    scan_paths([root], config, jobs=1)
    edited = 0
    for path in root.rglob("*.py"):
        text = path.read_text()
        edited += _edit_comments(text, turn) != text
        path.write_text(_edit_comments(text, turn))
    reused = []
    same_lines = analysis_module._same_lines
    monkeypatch.setattr(analysis_module, "_same_lines", lambda *a: reused.append(same_lines(*a)) or reused[-1])
    warm = scan_paths([root], config, jobs=1, keep_index=True)
    cold = scan_paths([root], config, use_cache=False, jobs=1, keep_index=True)
    assert _json(warm) == _json(cold)
    assert {p: json.dumps(s.to_json()) for p, s in warm.summaries.items()} == \
        {p: json.dumps(s.to_json()) for p, s in cold.summaries.items()}
    assert len([r for r in reused if r is not None]) > edited / 4  # many taken over without a parse
