"""What a module's summary reads of its whole text, comments included: whether it is summarized at all and
whether optimizers are looked for. Kept apart from summarize.py so that telling whether an edit can change a
summary (analysis.code_layout) needs none of the summary's machinery."""

from __future__ import annotations

import re
from functools import lru_cache

# Tokens whose absence means a file can neither start a program nor do anything the index tracks.
_RELEVANT = re.compile(
    r"seed|random|rand|cudnn|determinis|quant|mxfp|nvfp|load|pretrained|wandb|mlflow|SummaryWriter|"
    r"init_trackers|__main__|hydra|click|typer|argparse|parse_args|DataLoader|backward|nn\.|Linear|"
    r"train_test_split|Trainer|fire|validat|evaluat|optim|step\(|config|log_param|add_hparams|add_text"
)


# Each is asked of one source several times (by the analysis, its layout, the summary): the last answer is kept.
@lru_cache(maxsize=1)
def needs_summary(source: str) -> bool:
    return _RELEVANT.search(source) is not None


@lru_cache(maxsize=1)
def mentions_optim(source: str) -> bool:
    return "optim" in source.lower()


def whole_text_facts(source: str) -> str:
    """Besides the lines it quotes, what a summary reads of the text: both facts above."""
    return f"{needs_summary(source):d}{mentions_optim(source):d}"
