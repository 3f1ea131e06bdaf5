"""A small lab: a trainer repo whose history introduces and removes checkpoint-loading hazards, and runs at its SHAs."""

from __future__ import annotations

from pathlib import Path

from gitlab_helpers import write_run
from repo_helpers import make_repo

TRAIN = "import torch\nfrom lab.trainer import fit\n\nfit()\n"
TRAINER_SAFE = "import torch\n\n\ndef fit():\n    state = torch.load('ckpt.pt', weights_only=True)\n    return state\n"
TRAINER_RESUME = ("import torch\nfrom lab.diag import cd_diag\n\n\ndef fit():\n    state = torch.load('ckpt.pt')\n"
                  "    cd_diag(state)\n    return state\n")
DIAG = "def cd_diag(state):\n    print(len(state))\n"
DIAG_PICKLE = "import pickle\n\n\ndef cd_diag(state):\n    with open('stats.pkl', 'rb') as fh:\n        return pickle.load(fh)\n"
PLOT = "import pickle\n\nrows = pickle.load(open('rows.pkl', 'rb'))\n"

HISTORY = [
    ("baseline trainer", {"train.py": TRAIN, "lab/__init__.py": "", "lab/trainer.py": TRAINER_SAFE,
                          "README.md": "# lab\n"}),
    ("resume from checkpoint with diagnostics", {"lab/trainer.py": TRAINER_RESUME, "lab/diag.py": DIAG}),
    ("plot script", {"scripts/plot.py": PLOT, "README.md": "# lab\n\nplots\n"}),
    ("safe resume; diag reads pickled stats", {"lab/trainer.py": TRAINER_RESUME.replace("'ckpt.pt')", "'ckpt.pt', weights_only=True)"),
                                                 "lab/diag.py": DIAG_PICKLE}),
]


def run_record(run_id: str, group: str, sha: str, *, seed=0, value=0.5, state="completed", exit_code=0,
               lr=3e-4, extra: str = "") -> str:
    return f"""id: {run_id}
group: {group}
seed: {seed}
git: {{sha: {sha}, dirty: false}}
entry_point: train.py
config: {{lr: {lr}, strategy: adversarial, trainer: {{total_training_steps: 20, test_freq: 10}}}}
status: {{state: {state}, exit_code: {exit_code}, elapsed_s: 100}}
eval: {{quant: none, dataset: val}}
environment: {{python: "3.11.9", torch: "2.13.0", packages: {{numpy: "2.1.0"}}}}
metrics:
  val/mse: [[0, 1.0], [10, 0.7], [20, {value}]]
reported: {{val/mse: {value}, step: 20}}
{extra}"""


def build(root: Path) -> tuple[Path, Path, list[str]]:
    repo, shas = make_repo(root / "repo", HISTORY)
    results = root / "results"
    write_run(results, "old-s0", run_record("old-s0", "old", shas[0][:7]))
    write_run(results, "mid-s0", run_record("mid-s0", "mid", shas[1][:7], value=1.2))
    write_run(results, "new-s0", run_record("new-s0", "new", shas[3], value=1.5, lr=1e-3,
                                            extra='environment: {python: "3.11.9", torch: "2.14.0"}\n'.replace("environment", "notes")))
    return repo, results, shas
