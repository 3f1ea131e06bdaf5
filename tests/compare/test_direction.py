"""Which way a metric is better, from its name (--higher-is-better / --lower-is-better override it)."""

import pytest

from auditor.compare.comparison import infer_higher_is_better

LOWER = ["val/loss", "eval/perplexity", "val/nll", "val/cross_entropy", "val/crossentropy", "val/ce", "val/xent",
         "val/bpb", "val/bits_per_dim", "val/bits_per_byte", "val/bpc", "val/lpips", "val/eer", "val/ter", "val/brier",
         "test_wer", "val/cer", "val/kl", "val/fid", "val/mse", "val/error_rate", "eval/latency_ms"]
HIGHER = ["val/acc", "val/accuracy", "val/acceptance", "val/center_acc", "val/precision", "val/f1", "val/bleu",
          "eval/pass_pct", "val/recall", "val/auc", "val/reward", "val/terminal_acc", "val/success_rate", "val/map",
          "val/fidelity", "val/ce_acc", "gap_closed"]


@pytest.mark.parametrize("metric", LOWER)
def test_losses_errors_and_distances_go_down(metric):
    assert not infer_higher_is_better(metric)


@pytest.mark.parametrize("metric", HIGHER)
def test_scores_go_up_and_a_short_name_inside_a_word_does_not_count(metric):
    assert infer_higher_is_better(metric)
