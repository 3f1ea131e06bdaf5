"""The training path: files an entry point reaches by imports, and nothing else."""

from auditor.trainpath import training_path

FILES = {
    "train.py": b"import torch\nfrom lab.trainer import Trainer\nfrom lab import data\nimport lab.models.mlp as mlp\n",
    "lab/__init__.py": b"",
    "lab/trainer.py": b"from .diag import cd_diag\nfrom ..outside import nothing\n",
    "lab/diag.py": b"def cd_diag():\n    from lab.lazy import helper\n",
    "lab/lazy.py": b"helper = 1\n",
    "lab/data.py": b"x = 1\n",
    "lab/models/__init__.py": b"from .mlp import MLP\n",
    "lab/models/mlp.py": b"class MLP: pass\n",
    "lab/models/unused.py": b"class Unused: pass\n",
    "scripts/plot.py": b"import matplotlib\nimport lab.data\n",
    "scripts/eval.py": b"import helpers_local\n",
    "scripts/helpers_local.py": b"y = 2\n",
    "broken.py": b"def (:\n",
}


def test_reachable_files_from_a_script():
    reach = training_path(FILES, "train.py")
    assert reach == {"train.py", "lab/__init__.py", "lab/trainer.py", "lab/diag.py", "lab/lazy.py",
                     "lab/data.py", "lab/models/__init__.py", "lab/models/mlp.py"}


def test_script_folder_is_on_the_import_path():
    assert training_path(FILES, "./scripts/eval.py") == {"scripts/eval.py", "scripts/helpers_local.py"}


def test_entry_point_as_module_name_and_unknown_entry():
    # running a module imports its package first
    assert training_path(FILES, "lab.trainer") == {"lab/__init__.py", "lab/trainer.py", "lab/diag.py", "lab/lazy.py"}
    assert training_path(FILES, "python -m lab.data") == {"lab/__init__.py", "lab/data.py"}
    assert training_path(FILES, "missing.py") == set()
    # a whole command line, as trackers record it
    assert training_path(FILES, "python -u scripts/eval.py --lr 3e-4") == {"scripts/eval.py", "scripts/helpers_local.py"}
    assert training_path(FILES, "torchrun --nproc 8 -m lab.data") == {"lab/__init__.py", "lab/data.py"}


def test_syntax_errors_do_not_stop_the_walk():
    files = {"main.py": b"import broken\nimport ok\n", "broken.py": b"def (:\n", "ok.py": b""}
    assert training_path(files, "main.py") == {"main.py", "broken.py", "ok.py"}


def test_src_layout():
    files = {"src/pkg/__init__.py": b"", "src/pkg/run.py": b"from pkg import core\n", "src/pkg/core.py": b""}
    assert training_path(files, "src/pkg/run.py") == {"src/pkg/run.py", "src/pkg/__init__.py", "src/pkg/core.py"}
