"""The git layer on real repositories: SHAs, trees at a SHA, history, changed lines, clear errors."""

import hashlib
import subprocess

import git
import pytest
from repo_helpers import make_repo

from auditor.errors import InputError
from auditor.vcs import Repo

COMMITS = [
    ("initial trainer", {"train.py": "import model\nprint('train')\n", "model.py": "W = 1\n",
                         "pkg/__init__.py": "", "pkg/util.py": "def f():\n    return 1\n", "README.md": "hi\n"}),
    ("tune model", {"model.py": "W = 2\nB = 3\n"}),
    ("move util", {"pkg/util.py": None, "pkg/helpers.py": "def f():\n    return 1\n"}),
    ("big change", {"train.py": "import model\nimport pkg.helpers\nprint('train more')\n", "data.bin": "x"}),
]


@pytest.fixture
def lab(tmp_path):
    return make_repo(tmp_path / "repo", COMMITS)


def test_resolve_full_short_and_symbolic(lab):
    path, shas = lab
    repo = Repo(path)
    assert repo.root == path.resolve()
    assert repo.resolve(shas[1][:7]) == shas[1]
    assert repo.resolve(shas[1].upper()) == shas[1]
    assert repo.resolve("HEAD~1") == shas[2]
    assert repo.head_sha() == shas[-1]
    assert repo.has_commit(shas[0][:8]) and not repo.has_commit("0" * 40)


def test_repo_found_from_a_subfolder(lab):
    path, _ = lab
    assert Repo(path / "pkg").root == path.resolve()


def test_unknown_sha_message(lab):
    path, _ = lab
    with pytest.raises(InputError) as info:
        Repo(path).resolve("deadbeefcafe")
    assert "unknown revision 'deadbeefcafe'" in str(info.value)
    assert str(path) in str(info.value)


def test_option_like_revision_is_refused(lab):
    path, _ = lab
    with pytest.raises(InputError, match="not a revision"):
        Repo(path).resolve("--output=/tmp/x")


def test_ambiguous_short_sha(tmp_path):
    # enough commits that two share a first hex digit pair... git refuses abbreviations under 4,
    # so look for a 4-digit prefix shared by two objects among many blobs.
    path, _ = make_repo(tmp_path / "r", [("c", {f"f{i}.txt": f"{i}\n" for i in range(600)})])
    objects = subprocess.run(["git", "-C", str(path), "rev-list", "--objects", "--all"], capture_output=True,
                             text=True, check=True).stdout.split()
    hexes = [o for o in objects if len(o) == 40]
    prefixes = {}
    shared = None
    for h in hexes:
        if h[:4] in prefixes:
            shared = h[:4]
            break
        prefixes[h[:4]] = h
    if shared is None:
        pytest.skip("no shared 4-digit prefix among the objects")
    with pytest.raises(InputError, match="ambiguous"):
        Repo(path).resolve(shared)


def test_missing_and_non_repo_paths(tmp_path):
    with pytest.raises(InputError, match="no such directory"):
        Repo(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a git repository"):
        Repo(tmp_path / "plain")


def test_shallow_clone_says_fetch_more_history(lab, tmp_path):
    path, shas = lab
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{path}", str(clone)], check=True)
    repo = Repo(clone)
    assert repo.is_shallow()
    assert repo.resolve("HEAD") == shas[-1]
    with pytest.raises(InputError) as info:
        repo.resolve(shas[0])
    assert "the repository is shallow: fetch more history (git fetch --unshallow)" in str(info.value)
    assert not Repo(path).is_shallow()


def test_detached_head_is_fine(lab):
    path, shas = lab
    g = git.Repo(path)
    g.git.checkout(shas[1], detach=True)
    repo = Repo(path)
    assert repo.head_sha() == shas[1]
    assert [c.sha for c in repo.commits_between(shas[1], shas[3])] == shas[2:]


def _state(path):
    index = (path / ".git" / "index").read_bytes()
    tree = {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and ".git" not in p.parts}
    return hashlib.sha256(index).hexdigest(), tree


def test_read_at_sha_without_checkout(lab):
    path, shas = lab
    (path / "train.py").write_text("# local edit\n")  # a dirty working tree must stay as it is
    before = _state(path)
    repo = Repo(path)
    files = {p: (blob, data) for p, blob, data in repo.python_files_at(shas[0])}
    assert sorted(files) == ["model.py", "pkg/__init__.py", "pkg/util.py", "train.py"]
    assert files["model.py"][1] == b"W = 1\n"
    # the blob id is git's own content hash
    assert files["model.py"][0] == hashlib.sha1(b"blob 6\0W = 1\n").hexdigest()
    assert repo.read_file(shas[1][:8], "model.py") == b"W = 2\nB = 3\n"
    assert repo.read_file(shas[0], "./train.py") == b"import model\nprint('train')\n"
    assert repo.read_file(shas[3], "pkg/util.py") is None
    assert "data.bin" not in {p for p, _, _ in repo.python_files_at(shas[3])}
    repo.changed_lines_since(shas[0])  # diffs the working tree: still no index write
    assert _state(path) == before
    assert git.Repo(path).head.commit.hexsha == shas[-1]


def test_binary_and_huge_python_blobs_are_skipped(tmp_path):
    path, shas = make_repo(tmp_path / "r", [("c", {"ok.py": "x = 1\n", "bin.py": "a\0b\n"})])
    assert [p for p, _, _ in Repo(path).python_files_at(shas[0])] == ["ok.py"]


def test_commits_between_oldest_first(lab):
    path, shas = lab
    commits = Repo(path).commits_between(shas[0][:7], shas[3])
    assert [c.sha for c in commits] == shas[1:]
    assert [c.summary for c in commits] == ["tune model", "move util", "big change"]
    assert commits[0].short == shas[1][:len(commits[0].short)] and len(commits[0].short) >= 7
    assert commits[0].author == "Lab Member" and commits[0].date.startswith("2026-01-02")
    assert Repo(path).commits_between(shas[2], shas[2]) == []
    assert Repo(path).range_note(shas[0], shas[3]) is None


def test_commits_between_diverged_branches_use_merge_base(lab):
    path, shas = lab
    g = git.Repo(path)
    g.git.checkout(shas[1], b="side")
    (path / "side.py").write_text("s = 1\n")
    g.index.add(["side.py"])
    side = g.index.commit("side work").hexsha
    repo = Repo(path)
    assert repo.merge_base(side, shas[3]) == shas[1]
    assert [c.sha for c in repo.commits_between(side, shas[3])] == shas[2:]
    note = repo.range_note(side, shas[3])
    assert "not an ancestor" in note and shas[1][:10] in note
    assert "newer" in repo.range_note(shas[3], shas[0])


def test_changed_files_with_counts_and_renames(lab):
    path, shas = lab
    changes = {c.path: c for c in Repo(path).changed_files(shas[0], shas[3])}
    assert changes["model.py"].status == "M" and (changes["model.py"].added, changes["model.py"].removed) == (2, 1)
    assert changes["pkg/helpers.py"].status == "R" and changes["pkg/helpers.py"].old_path == "pkg/util.py"
    assert changes["train.py"].added == 2 and changes["train.py"].removed == 1
    assert changes["data.bin"].status == "A"
    assert list(changes) == sorted(changes)


def test_changed_lines_since_staged_unstaged_untracked(lab):
    path, shas = lab
    g = git.Repo(path)
    (path / "model.py").write_text("W = 2\nB = 4\nC = 5\n")  # unstaged: lines 2, 3
    (path / "train.py").write_text("import model\nimport pkg.helpers\nprint('train more')\nprint('done')\n")
    g.index.add(["train.py"])  # staged: line 4
    (path / "new_module.py").write_text("x = 1\n")  # untracked: whole file
    (path / "notes.txt").write_text("untracked but not python\n")
    changed = Repo(path).changed_lines_since("HEAD")
    assert changed["model.py"] == {2, 3}
    assert changed["train.py"] == {4}
    assert changed["new_module.py"] is None
    assert "notes.txt" not in changed
    # since an older base, committed changes count too (merge-base(base, HEAD) .. working tree)
    older = Repo(path).changed_lines_since(shas[0])
    assert older["train.py"] == {2, 3, 4} and older["pkg/helpers.py"] == set()


def test_changed_lines_since_uses_merge_base(lab):
    path, shas = lab
    g = git.Repo(path)
    g.git.checkout(shas[1], b="feature")
    (path / "feature.py").write_text("a = 1\n")
    g.index.add(["feature.py"])
    g.index.commit("feature")
    # base is master (ahead of the branch point): master's own later changes are not ours
    changed = Repo(path).changed_lines_since("master")
    assert changed == {"feature.py": {1}}


def test_scan_at_sha_reads_the_commit_and_skips_vendored_folders(tmp_path):
    from auditor.config import Config
    from auditor.vcs import scan_at_sha

    hazard = "import torch\nstate = torch.load('ckpt.pt')\n"
    path, shas = make_repo(tmp_path / "r", [
        ("c1", {"lab/a.py": hazard, ".venv/lib/b.py": hazard, "build/c.py": hazard, "lab/ok.py": "x = 1\n"}),
        ("c2", {"lab/a.py": "x = 2\n"}),
    ])
    repo = Repo(path)
    config = Config(root=path)
    assert [(f.rule, f.location.path) for f in scan_at_sha(repo, shas[0], config)] == [("RA170", "lab/a.py")]
    assert scan_at_sha(repo, shas[1], config) == []
    assert scan_at_sha(repo, shas[0], config, paths={"lab/ok.py"}) == []
