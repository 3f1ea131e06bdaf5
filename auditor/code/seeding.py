"""What one entry point does with random number generators, from the project index.

Shared by the seed rules (RA110-RA113) and the determinism rule (RA120).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.code import apis
from auditor.code.project_index import EntryPoint, ProjectIndex, Step
from auditor.code.syntax import is_validation_name
from auditor.findings import code_location
from auditor.locations import CodeLocation

RNG_LABELS = {"python": "python `random`", "numpy": "numpy", "torch": "torch", "cuda": "CUDA"}


@dataclass
class RngProfile:
    entry: EntryPoint
    steps: list[Step]
    seeds: dict[str, int] = field(default_factory=dict)  # rng -> index of the first step seeding it
    uses: dict[str, int] = field(default_factory=dict)  # rng -> index of the first step consuming it
    early: dict[str, int] = field(default_factory=dict)  # rng -> first step that draws before iteration starts
    trains: bool = False

    @property
    def seeded(self) -> set[str]:
        return set(self.seeds)

    @property
    def used(self) -> set[str]:
        return set(self.uses)

    def step(self, index: int) -> Step:
        return self.steps[index]


def profile(index: ProjectIndex, entry: EntryPoint) -> RngProfile:
    steps = index.flatten(entry.qualname)
    prof = RngProfile(entry, steps)
    prof.trains = any(s.event.kind == "train" and s.event.detail.get("how") in apis.UPDATES for s in steps)
    validators = getattr(index.config, "validation_functions", None) or ()
    for i, step in enumerate(steps):
        ev = step.event
        if ev.kind == "seed" and seeds_the_program(step, validators):
            for rng in ev.detail.get("rngs", ()):
                prof.seeds.setdefault(rng, i)
        elif ev.kind == "consume" and reaches_result(ev.detail.get("strength"), prof.trains):
            rng = ev.detail.get("rng", "torch")
            prof.uses.setdefault(rng, i)
            if ev.detail.get("strength") != "loader":
                prof.early.setdefault(rng, i)
    return prof


def seeds_the_program(step: Step, validators) -> bool:
    """A seed that holds for what follows: not one a helper restores afterwards (`with numpy_seed(s):`), not
    one set only on the way into an evaluation (a fixed validation seed leaves training's draws unseeded)."""
    if step.event.detail.get("scoped"):
        return False
    return not any(is_validation_name(call.target.rsplit(".", 1)[-1], validators) for _, call in step.chain)


def reaches_result(strength: str | None, trains: bool) -> bool:
    """Whether a draw of this kind can change what the program produces. A data split, sample or shuffle
    always can; random initial weights, random tensors and a shuffled loader only when the program trains
    on them (otherwise they are a benchmark's or an export's dummy input, a demo's noise, a model whose
    weights are loaded next)."""
    return strength == "draw" or (trains and strength in ("init", "tensor", "loader"))


def entry_location(entry: EntryPoint) -> CodeLocation:
    return code_location(entry.path, entry.line, 0)


def describe(step: Step) -> str:
    return f"{step.where()} `{step.event.text}`"


def rng_list(rngs) -> str:
    return ", ".join(RNG_LABELS[r] for r in apis.RNGS if r in rngs)
