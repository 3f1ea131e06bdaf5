"""Choosing runs on the command line (`audit runs`, `audit compare`, `audit docs`):
`--where key=value` (repeatable: all must hold), `--seeds 0,1,2`, `--exclude RUN` (repeatable).

A `--where` key is one of the record's own fields (tracker, group, seed, state, sha, dirty, name, id)
or a config key (dotted for nested keys: optimizer.lr). `sha` matches a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.errors import UsageError
from auditor.runs.record import Run, flatten

FIELDS = {
    "tracker": lambda run: run.source, "source": lambda run: run.source, "group": lambda run: run.group,
    "seed": lambda run: run.seed, "state": lambda run: run.state, "name": lambda run: run.name,
    "id": lambda run: run.id, "dirty": lambda run: run.git_dirty,
}


def _same(value, wanted: str) -> bool:
    if value is None:
        return wanted.lower() in ("", "none", "null", "unset")
    if isinstance(value, bool):
        return wanted.lower() in (("true", "yes", "1") if value else ("false", "no", "0"))
    if isinstance(value, (int, float)):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    return str(value) == wanted


@dataclass
class RunFilter:
    where: list[tuple[str, str]] = field(default_factory=list)
    seeds: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    seed_items: list[str] = field(default_factory=list)  # --seeds as given: each a seed or a range

    @classmethod
    def parse(cls, where: tuple[str, ...] = (), seeds: str | None = None, exclude: tuple[str, ...] = ()) -> RunFilter:
        pairs = []
        for item in where:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--where {item!r}: expected KEY=VALUE (e.g. tracker=wandb, lr=0.001, sha=e2dfbd8)")
            pairs.append((key.strip(), value.strip()))
        wanted = [s.strip() for s in seeds.split(",") if s.strip()] if seeds is not None else None
        if wanted is not None and not wanted:
            raise UsageError("--seeds: expected a comma-separated list of seeds (e.g. 0,1,2)")
        for item in wanted or ():
            lo, sep, hi = item.partition("-")
            if sep and lo.strip().isdigit() and hi.strip().isdigit() and int(lo) > int(hi):
                raise UsageError(f"--seeds {item}: a range goes from the lower seed to the higher (e.g. {hi}-{lo})")
        return cls(pairs, expand_seeds(wanted) if wanted else None, [e for e in exclude if e], wanted or [])

    @property
    def active(self) -> bool:
        return bool(self.where or self.seeds is not None or self.exclude)

    def keeps(self, run: Run, seed_of=None) -> bool:
        if run.id in self.exclude or (run.name and run.name in self.exclude):
            return False
        if self.seeds is not None:
            seed = seed_of(run) if seed_of else run.seed
            if seed is None or not any(_same(seed, s) for s in self.seeds):
                return False
        return all(self._holds(run, key, value) for key, value in self.where)

    @staticmethod
    def _holds(run: Run, key: str, value: str) -> bool:
        if key == "sha":
            return bool(run.git_sha) and bool(value) and run.git_sha.lower().startswith(value.lower())
        if key in FIELDS:
            return _same(FIELDS[key](run), value)
        flat = flatten(run.config)
        return key in flat and _same(flat[key], value)

    def apply(self, runs: list[Run], seed_of=None) -> list[Run]:
        """The runs this filter keeps; an --exclude that names no run is a usage error (a typo would
        otherwise leave the run in silently)."""
        known = {run.id for run in runs} | {run.name for run in runs if run.name}
        missing = [name for name in self.exclude if name not in known]
        if missing:
            raise UsageError(f"--exclude {', '.join(missing)}: no such run")
        self._check_seeds([seed_of(run) if seed_of else run.seed for run in runs])
        return [run for run in runs if self.keeps(run, seed_of)]

    def _check_seeds(self, present: list) -> None:
        """Each seed (or range) of --seeds names a seed some run has: `0,1,x` or `a-b` is a typo, not a filter
        that quietly drops what it does not match."""
        missing = [item for item in self.seed_items
                   if not any(_same(seed, wanted) for wanted in expand_seeds([item]) for seed in present)]
        if missing:
            have = sorted({str(seed) for seed in present if seed is not None}, key=lambda s: (len(s), s))
            raise UsageError(f"--seeds {', '.join(missing)}: no run has that seed; seeds the runs have: "
                             f"{', '.join(have[:20]) or 'none'}")

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.where]
        if self.seeds is not None:
            parts.append(f"seeds {','.join(self.seeds)}")
        if self.exclude:
            parts.append(f"excluding {', '.join(self.exclude)}")
        return "; ".join(parts)


def expand_seeds(seeds: list[str]) -> list[str]:
    """'0-2' -> 0, 1, 2 (inclusive ranges of integers)."""
    out = []
    for item in seeds:
        lo, sep, hi = item.partition("-")
        if sep and lo.strip().isdigit() and hi.strip().isdigit():
            out += [str(i) for i in range(int(lo), int(hi) + 1)]
        else:
            out.append(item)
    return out


def filter_options(command):
    """--where / --seeds / --exclude on a command (the wrapped function receives where, seeds, exclude)."""
    import click

    command = click.option("--exclude", multiple=True, metavar="RUN",
                           help="Leave this run out (id or display name; repeatable).")(command)
    command = click.option("--seeds", default=None, metavar="0,1,2",
                           help="Only runs with these seeds (comma-separated; ranges like 0-4).")(command)
    command = click.option("--where", multiple=True, metavar="KEY=VALUE",
                           help="Only runs where KEY equals VALUE: a config key (dotted), or tracker, group, seed, "
                                "state, sha (prefix), dirty, name. Repeatable: all must hold.")(command)
    return command
