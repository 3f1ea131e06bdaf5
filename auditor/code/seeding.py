"""What one entry point does with random number generators, from the project index.

Shared by the seed rules (RA110-RA113) and the determinism rule (RA120).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.code import apis
from auditor.code.project_index import EntryPoint, ProjectIndex, Step
from auditor.findings import code_location

RNG_LABELS = {"python": "python `random`", "numpy": "numpy", "torch": "torch", "cuda": "CUDA"}


@dataclass
class RngProfile:
    entry: EntryPoint
    steps: list[Step]
    seeds: dict[str, int] = field(default_factory=dict)  # rng -> index of the first step seeding it
    uses: dict[str, int] = field(default_factory=dict)  # rng -> index of the first step consuming it
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
    prof.trains = any(s.event.kind == "train" for s in steps)
    for i, step in enumerate(steps):
        ev = step.event
        if ev.kind == "seed":
            for rng in ev.detail.get("rngs", ()):
                prof.seeds.setdefault(rng, i)
        elif ev.kind == "consume":
            # Random initial weights only matter when the program goes on to train them.
            if ev.detail.get("strength") == "draw" or prof.trains:
                prof.uses.setdefault(ev.detail.get("rng", "torch"), i)
    return prof


def entry_location(entry: EntryPoint) -> dict:
    return code_location(entry.path, entry.line, 0)


def describe(step: Step) -> str:
    return f"{step.where()} `{step.event.text}`"


def rng_list(rngs) -> str:
    return ", ".join(RNG_LABELS[r] for r in apis.RNGS if r in rngs)
