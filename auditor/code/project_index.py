"""The project index: module summaries joined across files.

- calls resolve to project functions through imports, re-exports (`pkg/__init__.py` importing a
  helper), classes (constructor -> `__init__`, `self.m()` and `obj.m()` through the class's bases);
- entry points: `if __name__ == "__main__":`, `@hydra.main`, click/typer commands, argparse mains,
  `fire.Fire(f)`, scripts (top-level code in a module nobody imports), and configured ones;
- `flatten(function)`: every event reachable from a function, in execution order as far as the
  source tells (each callee is expanded at its first call; cycles are safe), with the call site in
  the starting function that led to it. The project's configured seed helpers, quantization hooks
  and validation functions are recognised here, by name.
"""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from auditor.code import apis
from auditor.code.index import MODULE_CODE, Event, FunctionSummary, ModuleSummary, head_of

_ENTRY_ORDER = ("configured", "main-guard", "hydra", "click", "fire", "argparse", "script")
_NOT_SCRIPTS = ("setup.py", "conftest.py", "noxfile.py", "conf.py", "__init__.py", "__main__.py")


@dataclass(frozen=True)
class EntryPoint:
    qualname: str
    kind: str
    path: str
    line: int
    text: str

    @property
    def label(self) -> str:
        if self.qualname.endswith(MODULE_CODE):
            return f"{self.path} ({'__main__ block' if self.kind == 'main-guard' else 'script'})"
        return f"{self.qualname.rsplit('.', 1)[-1]}() in {self.path}"


@dataclass(frozen=True)
class Step:
    """One event on a flattened path, with where it is and the chain of calls that led to it."""
    event: Event
    path: str
    function: str
    chain: tuple[tuple[str, Event], ...] = ()  # (path, call event) from the starting function down

    def where(self) -> str:
        return f"{self.path}:{self.event.line}"

    @property
    def frames(self) -> tuple[tuple[str, Event], ...]:
        """The call sites, then the event itself."""
        return (*self.chain, (self.path, self.event))

    @property
    def top(self) -> Event:
        """The event in the starting function that led here (the event itself when it is there)."""
        return self.frames[0][1]

    def site_apart_from(self, other: "Step") -> tuple[str, Event]:
        """Where this step's path leaves the other's: the call (or event) to point at when comparing them."""
        mine, theirs = self.frames, other.frames
        i = 0
        while i < len(mine) - 1 and i < len(theirs) and mine[i][1] is theirs[i][1]:
            i += 1
        return mine[i]


class _ByDefiningModule(Mapping):
    """qualname -> something of the (possibly lazy) module summary that defines it first; names, membership
    and iteration come from the modules' heads, so a body is loaded only when a value is asked for."""

    def __init__(self, owner: dict):
        self._owner = owner  # qualname -> module summary

    @abstractmethod
    def _value(self, module, qual: str):
        """What this view gives for `qual`, read from the module summary that defines it."""

    def __getitem__(self, qual: str):
        return self._value(self._owner[qual], qual)

    def __contains__(self, qual) -> bool:
        return qual in self._owner

    def __iter__(self):
        return iter(self._owner)

    def __len__(self) -> int:
        return len(self._owner)


class _Functions(_ByDefiningModule):
    """qualname -> FunctionSummary."""

    def _value(self, module, qual: str) -> FunctionSummary:
        return module.functions[qual]


class _PathOf(_ByDefiningModule):
    """qualname -> path of the module defining it."""

    def _value(self, module, _qual: str) -> str:
        return module.path


class ProjectIndex:
    """Summaries may be ModuleSummary objects or index.LazySummary ones (a head, the body loaded on use):
    everything here reads the heads, and only follows calls into bodies, so that an index over thousands
    of cached modules loads just the ones a program reaches."""

    def __init__(self, summaries: list[ModuleSummary], config):
        self.config = config
        self.summaries = sorted(summaries, key=lambda s: s.path)
        self._heads = [head_of(s) for s in self.summaries]
        self.modules: dict[str, ModuleSummary] = {}
        self.classes: dict[str, list[str]] = {}
        owner: dict[str, ModuleSummary] = {}
        for summary, head in zip(self.summaries, self._heads, strict=False):
            self.modules.setdefault(summary.module_name, summary)
            self.classes.update(summary.classes)
            defined = dict.fromkeys(head["functions"], summary)
            if owner.keys().isdisjoint(defined):
                owner.update(defined)
            else:  # a name defined twice (two roots, a copied module): the first path keeps it
                for qual in defined:
                    owner.setdefault(qual, summary)
        self.functions = _Functions(owner)
        self.path_of = _PathOf(owner)
        self._by_tail: dict[str, list[str]] = {}
        for qual in self.functions:  # "a.b.c.f" -> "c.f", without splitting 50k names into lists
            last = qual.rfind(".")
            if last >= 0:
                self._by_tail.setdefault(qual[qual.rfind(".", 0, last) + 1:], []).append(qual)
        self._class_by_tail: dict[str, list[str]] = {}
        for cls in self.classes:
            parts = cls.split(".")
            if len(parts) >= 2:
                self._class_by_tail.setdefault(".".join(parts[-2:]), []).append(cls)
        self._resolved: dict[str, str | None] = {}
        self._flat: dict[str, list[Step]] = {}
        self._names = _ConfiguredNames(config)
        self.entry_points = self._find_entry_points()

    # -- iteration -------------------------------------------------------------------------
    def events(self, kind: str | None = None) -> Iterator[tuple[str, FunctionSummary, Event]]:
        """(path, function, event) for every recorded event of the project, in path/source order."""
        for summary, head in zip(self.summaries, self._heads, strict=False):
            if kind is not None and kind not in head["kinds"]:
                continue  # its body is not loaded
            for fn in summary.functions.values():
                for ev in fn.events:
                    if kind is None or ev.kind == kind:
                        yield summary.path, fn, ev

    # -- resolution ------------------------------------------------------------------------
    def resolve(self, target: str) -> FunctionSummary | None:
        qual = self.resolve_name(target)
        return self.functions.get(qual) if qual else None

    def resolve_name(self, target: str) -> str | None:
        """The qualified name of the project function a call target resolves to (no module body loaded)."""
        if target not in self._resolved:
            self._resolved[target] = None  # cycle guard for re-export chains
            qual = self._resolve(target, 0)
            self._resolved[target] = qual
        return self._resolved[target]

    def _resolve(self, target: str, depth: int) -> str | None:
        if depth > 8 or not target:
            return None
        if target in self.functions:
            return target
        if "()" in target:  # obj.method() where obj = SomeClass(...)
            cls, _, rest = target.partition("().")
            if rest and "." not in rest and "()" not in cls:
                return self._method(cls, rest, depth + 1)
            return None
        if target in self.classes:
            return self._method(target, "__init__", depth + 1)
        head, _, last = target.rpartition(".")
        if head in self.classes:
            return self._method(head, last, depth + 1)
        # a name re-exported by a package (`from .utils import set_seed` in pkg/__init__.py)
        parts = target.split(".")
        for i in range(len(parts) - 1, 0, -1):
            module = self.modules.get(".".join(parts[:i]))
            if module is not None:
                alias = module.aliases.get(parts[i])
                if alias and alias != target:
                    return self._resolve(".".join([alias, *parts[i + 1:]]), depth + 1)
                break
        # the scan root differs from the import root (`src/pkg/...` imported as `pkg...`)
        if len(parts) >= 2:
            tails = [q for q in self._by_tail.get(".".join(parts[-2:]), ()) if q.endswith("." + target)]
            if len(tails) == 1:
                return tails[0]
            if not tails:
                classes = [c for c in self._class_by_tail.get(".".join(parts[-2:]), ()) if c.endswith("." + target)]
                if len(classes) == 1:
                    return self._method(classes[0], "__init__", depth + 1)
        return None

    def _method(self, cls: str, name: str, depth: int) -> str | None:
        if depth > 8:
            return None
        qual = f"{cls}.{name}"
        if qual in self.functions:
            return qual
        for base in self.classes.get(cls, ()):
            base_cls = base if base in self.classes else self._class_of(base)
            if base_cls and base_cls != cls:
                found = self._method(base_cls, name, depth + 1)
                if found:
                    return found
        return None

    def _class_of(self, name: str) -> str | None:
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            module = self.modules.get(".".join(parts[:i]))
            if module is not None:
                alias = module.aliases.get(parts[i])
                if alias and alias in self.classes:
                    return alias
                break
        return None

    # -- flattening ------------------------------------------------------------------------
    def flatten(self, qualname: str) -> list[Step]:
        """Every event reachable from a function, in order; each callee expanded at its first call."""
        if qualname in self._flat:
            return self._flat[qualname]
        start = self.functions.get(qualname)
        out: list[Step] = []
        if start is None:
            return out
        visited = {qualname}
        # an explicit stack of (function, next event index, path, call chain that led into it, constants it was
        # called with by keyword)
        stack: list[tuple[FunctionSummary, int, str, tuple, dict]] = [(start, 0, self.path_of[qualname], (), {})]
        # (depth, call, path, chain, seeds before, opaque calls before)
        pending_helpers: list[tuple[int, Event, str, tuple, int, int]] = []
        opaque = 0  # calls met so far that neither resolve into the project nor say what they do
        while stack:
            fn, i, path, chain, given = stack[-1]
            if i >= len(fn.events):
                stack.pop()
                depth = len(stack)
                while pending_helpers and pending_helpers[-1][0] == depth:
                    _, ev, hpath, hchain, before, opaque_before = pending_helpers.pop()
                    # a named helper that seeded nothing we saw, through a call we cannot read, is taken at its
                    # name; one whose body makes no such call (`pass`, a gutted body) seeds nothing
                    if sum(s.event.kind == "seed" for s in out) == before and opaque > opaque_before:
                        out.append(Step(_synthetic(ev, "seed", rngs=sorted(apis.ALL_RNGS), helper=ev.target),
                                        hpath, fn.qualname, hchain))
                continue
            stack[-1] = (fn, i + 1, path, chain, given)
            ev = fn.events[i]
            if given and not _possible(ev, given):
                continue  # `if sample_pct < 1.0: random.sample(...)` called with sample_pct=1.0
            if ev.kind == "seed" and self._defined_here(ev):
                ev = Event("call", ev.target, ev.line, ev.col, ev.text, {"resolved": True})
            if ev.kind != "call":
                out.append(Step(ev, path, fn.qualname, chain))
                continue
            callee = self.resolve(ev.target)
            named = self._names.classify(ev, callee)
            opaque += callee is None and not named
            for kind, extra in named:
                if kind == "seed" and callee is not None:
                    pending_helpers.append((len(stack), ev, path, chain, sum(s.event.kind == "seed" for s in out),
                                            opaque))
                else:
                    out.append(Step(_synthetic(ev, kind, **extra), path, fn.qualname, chain))
            if callee is not None and callee.qualname not in visited:
                visited.add(callee.qualname)
                stack.append((callee, 0, self.path_of[callee.qualname], (*chain, (path, ev)), _passed(ev, given)))
            elif callee is not None and pending_helpers and pending_helpers[-1][1] is ev:
                pending_helpers.pop()  # already expanded earlier: its seeds are already on the path
        self._flat[qualname] = out
        return out

    def _defined_here(self, ev: Event) -> bool:
        """A known seeding API the project itself defines (`timm.utils.random_seed` inside timm): what it
        seeds is read from its body, not from the table of what the released version seeds."""
        return not ev.detail.get("synthetic") and ev.target in apis.SEED_APIS and self.resolve_name(ev.target) is not None

    def reachable(self, qualname: str) -> set[str]:
        """Project functions reachable from this one (itself included)."""
        seen = {qualname}
        todo = [qualname]
        while todo:
            fn = self.functions.get(todo.pop())
            if fn is None:
                continue
            for ev in fn.events:
                if ev.kind == "call":
                    callee = self.resolve_name(ev.target)
                    if callee is not None and callee not in seen:
                        seen.add(callee)
                        todo.append(callee)
        return seen

    def reachable_from_entry_points(self) -> set[str]:
        """Every project function some entry point reaches (library code nobody runs is not in it)."""
        if not hasattr(self, "_from_entries"):
            self._from_entries = set()
            for entry in self.entry_points:
                self._from_entries |= self.reachable(entry.qualname)
        return self._from_entries

    # -- entry points ----------------------------------------------------------------------
    def _find_entry_points(self) -> list[EntryPoint]:
        kinds: dict[str, str] = {}
        imported = self.imported = self._imported_modules()
        for summary, head in zip(self.summaries, self._heads, strict=False):
            top = f"{summary.module_name}.{MODULE_CODE}"
            marks = {qual: entry for qual, entry, _ in head["entries"]}
            if marks.get(top) == "main-guard":
                kinds[top] = "main-guard"
            elif marks.get(top) == "script" and _may_be_script(summary.path) and summary.module_name not in imported:
                kinds[top] = "script"
            if is_test_file(summary.path):
                kinds.pop(top, None)
                continue  # tests are not experiments; a configured entry point still counts
            for qual, entry, entry_calls in head["entries"]:  # in source order, as the bodies list them
                if entry and not qual.endswith(MODULE_CODE):
                    kinds.setdefault(qual, entry)
                for target in entry_calls:
                    callee = self.resolve_name(target)
                    if callee is not None:
                        kinds.setdefault(callee, "fire")
        self._promote_argument_parsers(kinds)
        for spec in getattr(self.config, "entry_points", []) or []:
            qual = self._configured_entry(spec)
            if qual:
                kinds[qual] = "configured"
        # An entry point reached from another one is part of that program, not a program of its own.
        reach = {q: self.reachable(q) for q in sorted(kinds)}
        keep = []
        for q in sorted(kinds):
            owners = [o for o in reach if o != q and q in reach[o] and not (o in reach[q] and o > q)]
            if not owners or kinds[q] == "configured":
                keep.append(q)
        out = []
        for q in keep:
            fn = self.functions[q]
            out.append(EntryPoint(q, kinds[q], self.path_of[q], fn.line, fn.text))
        return sorted(out, key=lambda e: (e.path, e.line, e.qualname))

    def _imported_modules(self) -> set[str]:
        names: set[str] = set()
        for head in self._heads:
            names.update(head["import_prefixes"])  # every dotted prefix of its imports but itself
        return names

    def _promote_argument_parsers(self, kinds: dict[str, str]) -> None:
        """`def parse_args(): ...parser.parse_args()` is a helper: the function calling it is the main."""
        helpers = {q for q, k in kinds.items() if k == "argparse"
                   and any(w in q.rsplit(".", 1)[-1].lower() for w in ("arg", "pars", "config", "opt"))}
        if not helpers:
            return
        last_names = {q.rsplit(".", 1)[-1] for q in helpers}
        for summary, head in zip(self.summaries, self._heads, strict=False):
            if last_names.isdisjoint(head["call_names"]):
                continue  # calls none of them: its body is not loaded
            for fn in summary.functions.values():
                for ev in fn.events:
                    if ev.kind != "call" or ev.target.rsplit(".", 1)[-1] not in last_names:
                        continue
                    callee = self.resolve_name(ev.target)
                    if callee is not None and callee in helpers and fn.qualname not in helpers:
                        if not fn.qualname.endswith(MODULE_CODE):
                            kinds.setdefault(fn.qualname, "argparse")
                        kinds.pop(callee, None)

    def _configured_entry(self, spec: str) -> str | None:
        if ":" in spec:
            module, _, func = spec.partition(":")
            return self.resolve_name(f"{module}.{func}")
        wanted = spec.replace("\\", "/").lstrip("./")
        for summary in self.summaries:
            if summary.path == wanted or summary.path.endswith("/" + wanted):
                return f"{summary.module_name}.{MODULE_CODE}"
        return None


class _ConfiguredNames:
    """The project's own seed helpers, quantization hooks and validation functions, matched by name.

    A plain name ("set_seed") matches the last part of a call that went through the import table,
    a `self.` method or a bare name; calls on objects of unknown type (`accelerator.prepare`) do not
    match, except for validation functions (`trainer.validate()`). A dotted name matches the end of
    the qualified name.
    """

    def __init__(self, config):
        self.seed = _names(getattr(config, "seed_helpers", None))
        self.quant = _names(getattr(config, "quant_hooks", None))
        self.validate = _names(getattr(config, "validation_functions", None))

    def classify(self, ev: Event, callee: FunctionSummary | None) -> list[tuple[str, dict]]:
        target = ev.target
        resolved = bool(ev.detail.get("resolved")) or callee is not None
        plain_ok = "()" not in target and (resolved or "." not in target)
        out = []
        if _matches(target, self.seed, plain_ok):
            out.append(("seed", {"rngs": sorted(apis.ALL_RNGS), "helper": target}))
        if _matches(target, self.quant, plain_ok):
            out.append(("quant", {"helper": target}))
        if _matches(target, self.validate, plain_ok or "()" not in target):
            out.append(("validate", {"helper": target}))
        return out


def _names(values) -> tuple[set[str], tuple[str, ...]]:
    values = list(values or [])
    return {v for v in values if "." not in v}, tuple(v for v in values if "." in v)


def _matches(target: str, names: tuple[set[str], tuple[str, ...]], plain_ok: bool) -> bool:
    plain, dotted = names
    if any(target == d or target.endswith("." + d) for d in dotted):
        return True
    return plain_ok and target.rsplit(".", 1)[-1] in plain


_TESTS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne}


def _passed(call: Event, given: dict) -> dict:
    """The constants a call hands its callee by keyword: its own literals and the caller's that it forwards."""
    passed = dict(call.detail.get("literals") or {})
    for param, source in (call.detail.get("forwards") or {}).items():
        if source in given:
            passed[param] = given[source]
    return passed


def _possible(ev: Event, given: dict) -> bool:
    """Can the event run, given the constants its function was called with? False only when one of its
    enclosing `if <parameter> <op> <constant>` tests is decided against it."""
    for param, op, constant, holds in ev.detail.get("requires", ()):
        if param in given:
            try:
                if bool(_TESTS[op](given[param], constant)) != holds:
                    return False
            except TypeError:  # a comparison Python refuses (None < 1.0): undecided
                continue
    return True


def _synthetic(ev: Event, kind: str, **detail) -> Event:
    return Event(kind, ev.target, ev.line, ev.col, ev.text, {**detail, "synthetic": True})


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py" or \
        any(part in ("tests", "test", "testing", "unittest", "unittests") for part in path.split("/")[:-1])


def _may_be_script(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name not in _NOT_SCRIPTS and "docs" not in path.split("/")[:-1]
