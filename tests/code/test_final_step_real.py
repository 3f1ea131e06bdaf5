"""RA101/RA102 on real training scripts (copies of files of the development set in ../shared/realcode): the
labelled verdicts hold, and hazards planted into temp copies are caught at the planted line, whatever the
loop's names."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.code.scan import scan_paths
from auditor.config import Config

REALCODE = Path(__file__).resolve().parents[3] / "shared" / "realcode"
pytestmark = pytest.mark.skipif(not REALCODE.is_dir(), reason="the development set (../shared/realcode) is absent")

TIMM = "huggingface+pytorch-image-models/train.py"
TORCHTUNE = "pytorch+torchtune/recipes/lora_finetune_distributed.py"
LITGPT = "Lightning-AI+litgpt/extensions/thunder/pretrain.py"
XLA_ADAPTER = "Lightning-AI+litgpt/extensions/xla/finetune/adapter.py"

# (file, text replaced, replacement, what RA101/RA102 report in the copy as planted)
PLANTS = {
    # timm's schedule turned around: the last epoch takes the `continue` (a several-statement skip: reported at its `if`)
    "timm-continue": (TIMM, "if epoch_p_1 % args.val_interval != 0 and epoch_p_1 != num_epochs:",
                      "if epoch_p_1 % args.val_interval != 0 or epoch_p_1 == num_epochs:", {("RA101", 1138)}),
    # timm without its last-epoch exception: a schedule that can miss the last epoch
    "timm-schedule": (TIMM, "if epoch_p_1 % args.val_interval != 0 and epoch_p_1 != num_epochs:",
                      "if epoch_p_1 % args.val_interval != 0:", {("RA102", 1138)}),
    # torchtune: the validation excluded in the last epoch of `range(self.epochs_run, self.total_epochs)`
    "torchtune-epoch": (TORCHTUNE, "                        and self.global_step % self._run_val_every_n_steps == 0\n",
                        ("                        and self.global_step % self._run_val_every_n_steps == 0\n"
                         "                        and curr_epoch != self.total_epochs - 1\n"), {("RA101", 865)}),
    # litgpt: `<` against the bound the loop breaks at (`if state["iter_num"] >= max_iters: break` at the top)
    "litgpt-lt": (LITGPT, 'state["step_count"] % eval.interval == 0:',
                  'state["step_count"] % eval.interval == 0 and state["iter_num"] < max_iters:', {("RA101", 387)}),
    # litgpt on XLA: `for iter_num in range(1, max_iters + 1)` ends at max_iters, which `<` excludes
    "xla-adapter-lt": (XLA_ADAPTER, "if not is_accumulating and step_count % eval_interval == 0:",
                       "if not is_accumulating and step_count % eval_interval == 0 and iter_num < max_iters:",
                       {("RA101", 208)}),
}

# What the copies report as they are (labelled tp in the development set, or judged so)
UNCHANGED = {TIMM: set(), TORCHTUNE: {("RA102", 865)}, LITGPT: {("RA102", 387)}, XLA_ADAPTER: {("RA102", 208)}}


def _scan(tmp_path: Path, rel: str, text: str) -> set[tuple[str, int]]:
    target = tmp_path / Path(rel).name
    target.write_text(text, encoding="utf-8")
    config = Config(root=tmp_path, select=["RA101", "RA102"])
    return {(f.rule, f.location.line) for f in scan_paths([tmp_path], config, use_cache=False).findings}


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_hazard_is_caught_at_its_line(name, tmp_path):
    rel, old, new, expected = PLANTS[name]
    source = (REALCODE / rel).read_text(encoding="utf-8")
    assert source.count(old) == 1
    assert _scan(tmp_path, rel, source.replace(old, new)) == expected


@pytest.mark.parametrize("rel", sorted(UNCHANGED))
def test_unplanted_copy_reports_only_its_real_findings(rel, tmp_path):
    assert _scan(tmp_path, rel, (REALCODE / rel).read_text(encoding="utf-8")) == UNCHANGED[rel]


@pytest.mark.parametrize("rel, tp_line, accumulation_line", [
    ("pytorch+torchtune/recipes/full_finetune_distributed.py", 1132, None),
    ("pytorch+torchtune/recipes/lora_finetune_distributed.py", 865, 784),
    ("pytorch+torchtune/recipes/qat_distributed.py", 1097, 1004),
    ("pytorch+torchtune/recipes/qat_lora_finetune_distributed.py", 835, 758),
])
def test_torchtune_schedule_is_reported_not_its_gradient_accumulation_step(rel, tp_line, accumulation_line, tmp_path):
    found = _scan(tmp_path, rel, (REALCODE / rel).read_text(encoding="utf-8"))
    assert found == {("RA102", tp_line)}
    assert ("RA102", accumulation_line) not in found
