"""The incident behind each code rule, told in two sentences for a reader who was not there.

Kept here while the code rules are being rewritten; each story belongs in its rule's `incident` field, and
`incident_for` prefers this text until it moves there."""

from __future__ import annotations

STORIES = {
    "RA101": (
        "A team's RL trainer gained `if is_last_step: val_metrics = {}` in a commit meant to avoid a "
        "deadlock, so the last step never validated. Six experiments (64 GPU-hours) then reported their "
        "step-20 score out of 29 steps as final, and nobody noticed for weeks."
    ),
    "RA102": (
        "A trainer validated every 20 steps and ran 29, so the last validation was at step 20 and the final "
        "model was never scored. Every run of that setup reported a score from two-thirds of the way through "
        "training as its result."
    ),
    "RA110": (
        "A physics-ML project seeded nothing at all, and identical configurations gave results 20% apart. No "
        "claimed improvement could be told apart from the noise, and none of the runs could be repeated."
    ),
    "RA111": (
        "A project seeded Python's `random` but not NumPy and torch, so runs meant as repeats still drew "
        "different weights and batches. The spread that seeding was supposed to remove stayed, and it was "
        "blamed on the model."
    ),
    "RA112": (
        "A project recorded a seed in every run's config, but the model had already been built from the "
        "unseeded RNG by the time it was set. The runs looked seeded on paper and still could not be "
        "repeated."
    ),
    "RA113": (
        "A project shuffled its data with multi-worker loaders that no generator or worker seed controlled. "
        "Which examples each run saw, and in what order, could not be checked afterwards, so two runs meant "
        "as repeats were not."
    ),
    "RA120": (
        "A project's repeats of one configuration spread by 20%, partly from non-deterministic GPU kernels "
        "that no setting pinned down. Differences smaller than that spread were reported as improvements."
    ),
    "RA130": (
        "A model trained with 4-bit (MXFP4 W4A4) quantization hooks was evaluated by a script that never "
        "applied them, so it was scored in BF16. The inflated 73.31% was reported as the 4-bit result and "
        "used as the baseline for four more experiments."
    ),
    "RA140": (
        "Diagnostic code behind a debug switch entered a solver's training path, and the \"same\" baseline came"
        " out 110-175x worse. The team spent weeks comparing runs before finding the change in the code "
        "between the two commits."
    ),
    "RA150": (
        "A hang in the final validation was \"fixed\" by skipping the validation, so the failure disappeared "
        "from the logs instead of being solved. A `try/except` that swallows an evaluation error hides a "
        "failure the same way and lets a run report no score, or an old one."
    ),
    "RA160": (
        "A project's runs logged empty config dictionaries to its tracker, so nobody could say afterwards "
        "which settings produced which numbers. Comparing runs meant guessing their hyperparameters from "
        "folder names."
    ),
    "RA170": (
        "Loading a checkpoint with pickle runs whatever code the file names, and checkpoints are passed "
        "around between people and machines. A checkpoint from someone else's run, or from a shared folder, "
        "can execute arbitrary code the moment it is loaded."
    ),
}


def incident_for(cls) -> str:
    """The story shown by `audit explain` and the rule pages."""
    return STORIES.get(cls.id, cls.incident)
