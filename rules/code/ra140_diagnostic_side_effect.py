import re
from functools import cached_property, lru_cache

import libcst as cst

from auditor.code import apis
from auditor.code.rule_base import ModuleRule

_DIAG_WORDS = re.compile(r"^(diag\w*|debug\w*)$")
_INPLACE = frozenset({"add_", "sub_", "mul_", "div_", "copy_", "zero_", "fill_", "clamp_", "clamp_min_",
                      "clamp_max_", "normal_", "uniform_", "addcmul_", "addcdiv_", "lerp_", "masked_fill_",
                      "set_", "mul", "neg_", "abs_", "sign_", "data_ptr_"}) - {"mul", "data_ptr_"}
_PARAM_NAMES = frozenset({"p", "param", "params", "parameter", "w", "weight", "weights", "bias"})
_PARAM_ATTRS = frozenset({"data", "weight", "bias", "grad"})
_RNG_SAVE = ("get_rng_state", "getstate", "get_state", "get_rng_state_all")
_RNG_RESTORE = ("set_rng_state", "setstate", "set_state", "set_rng_state_all")
_FORK_RNG = frozenset({"torch.random.fork_rng", "torch.cuda.random.fork_rng"})


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[._]+", name.lower()) if t]


def _identifiers(node: cst.CSTNode) -> list[str]:
    """Every Name and attribute name in an expression (`cfg.diagnostics.enabled` -> cfg, diagnostics, enabled)."""
    found: list[str] = []

    class Collect(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.append(n.value)

        def visit_Call(self, n: cst.Call) -> bool:  # `isEnabledFor(logging.DEBUG)` is logging, not a flag
            return False

        def visit_SimpleString(self, n) -> None:
            return None

    node.visit(Collect())
    return found


def _dotted(node) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    return ""


_DRAW_NAMES = frozenset(name.rsplit(".", 1)[-1] for name, (_, strength) in apis.CONSUME_APIS.items()
                        if strength == "draw")
_EFFECT_METHODS = frozenset({"backward", "zero_grad", "step", "eval", "train"}) | _INPLACE | _DRAW_NAMES


def _may_flag(node, local: set[str]) -> bool:
    """On the ast: could `_Walker` flag this node inside a region? (A superset of its visit_Call/visit_Assign.)"""
    import ast

    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            return func.attr in _EFFECT_METHODS
        return isinstance(func, ast.Name) and func.id in local
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Attribute) and t.attr == "data" for t in node.targets)
    return False


def _callable_effects(tree) -> set[str]:
    """On the ast, a superset of the plain names `_Walker` flags when called: a draw API imported under any
    name (or a name that is one), and a module-level function whose body runs backward/zero_grad."""
    import ast

    from auditor.code.tree_prefilter import statements

    names = set(_DRAW_NAMES)
    for node in statements(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):  # a plain `import a.b` binds only `a`, never a draw
            names.update(alias.asname or alias.name for alias in node.names
                         if alias.name.rsplit(".", 1)[-1] in _DRAW_NAMES
                         and (alias.asname or isinstance(node, ast.ImportFrom)))
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("backward", "zero_grad")
                for n in ast.walk(stmt)):
            names.add(stmt.name)
    return names


def _diag_function_name(name: str, flags: set[str]) -> bool:
    tokens = _tokens(name)
    return bool(tokens) and (tokens[0] in ("debug", "diag", "diagnose", "diagnostic", "diagnostics")
                             or any(t.startswith("diag") for t in tokens) or name.lower() in flags)


@lru_cache(maxsize=8)
def _text_prefilter(flags: tuple[str, ...]) -> "re.Pattern[str]":
    """A superset of the places `_Walker` treats as diagnostic: the test of an `if`/`elif` up to its colon
    (slices and `:=` allowed) mentioning an identifier part starting with debug/diag or a configured flag,
    or a `def` whose name contains debug/diag or is a configured flag."""
    words = "|".join(["debug", "diag", *(re.escape(f) for f in flags)])
    return re.compile(rf"^[ \t]*(?:el)?if\b(?:\[[^\]]*\]|:=|[^:\[])*?(?<![a-z0-9])(?:{words})"
                      rf"|\bdef\s+\w*?(?:{words})", re.IGNORECASE | re.MULTILINE)


class _Region:
    # `why` and `line` need the module's positions: computed only when the region has something to report
    def __init__(self, node, ctx, function: str, body):
        self.node, self._ctx, self._function, self._body = node, ctx, function, body
        self.modes: list[tuple[str, str, cst.Call]] = []  # (receiver, "eval"|"train", call)
        self.draws: list[tuple[cst.Call, str]] = []

    @cached_property
    def _code(self) -> str:  # the region's own code, read only when it draws random numbers
        return cst.Module(body=[]).code_for_node(self._body) if self._body is not None else ""

    @property
    def saves_rng(self) -> bool:
        return any(s + "(" in self._code for s in _RNG_SAVE)

    @property
    def restores_rng(self) -> bool:
        return any(s + "(" in self._code for s in _RNG_RESTORE)

    @cached_property
    def line(self) -> int:
        return self._ctx.position(self.node)[0]

    @cached_property
    def why(self) -> str:
        if self._function:
            return f"diagnostic function `{self._function}`"
        return f"diagnostic code under `if {self._ctx.anchor(self.node)[3:].rstrip(':')}`"


_NORMAL = object()  # marks the else branch of a diagnostic guard: normal code again


class DiagnosticSideEffect(ModuleRule):
    id = "RA140"
    name = "diagnostic-side-effect"
    severity = "error"
    prefilter = ("diag", "debug", "DEBUG", "Debug", "Diag")

    def applies_to(self, source: str, config=None) -> bool:
        # Diagnostic code is an `if`/`elif` whose test names a debug/diag flag (or a configured one), or a
        # function whose name says so; `logger.debug(...)` alone, in most files, is neither.
        flags = tuple(getattr(config, "diagnostic_flags", None) or ())
        low = source.lower()  # a cheap substring test first: the regex below is slow on big files
        if "debug" not in low and "diag" not in low and not any(f.lower() in low for f in flags):
            return False
        return _text_prefilter(flags).search(source) is not None

    def applies_to_tree(self, tree, config=None) -> bool:
        # The regions of `_Walker`, on the ast (an `if` whose test names a flag: its test and body; a diagnostic
        # def: all of it), holding something `_Walker` could flag: a call whose last name is a side effect or
        # a draw, a plain-name call that may be a draw or a module function with effects, or a `.data =` write.
        import ast

        from auditor.code.tree_prefilter import identifiers_outside_calls, statements

        flags = {f.lower() for f in getattr(config, "diagnostic_flags", None) or ()}
        local = None
        for node in statements(tree):
            if isinstance(node, ast.If):
                if not any(ident.lower() in flags or any(_DIAG_WORDS.match(t) for t in _tokens(ident))
                           for ident in identifiers_outside_calls(node.test)):
                    continue
                parts = [node.test, *node.body]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _diag_function_name(node.name, flags):
                parts = [node]
            else:
                continue
            if local is None:
                local = _callable_effects(tree)
            if any(_may_flag(sub, local) for part in parts for sub in ast.walk(part)):
                return True
        return False

    summary = ("Diagnostic or debug code consumes RNG or changes training state (backward, optimizer step, "
               "in-place parameter writes, train/eval mode not restored).")
    rationale = (
        "Diagnostics are added to look at training, and must not take part in it. A diagnostic that draws "
        "random numbers shifts every later draw (dropout masks, sampling, data order); one that calls "
        "`.backward()`, steps an optimizer, writes parameters in place or leaves the model in eval mode "
        "changes the model itself. Turning the diagnostic on then changes the result, and a regression "
        "appears that has nothing to do with the method. Code counts as diagnostic when it is guarded by a "
        "debug/diagnostic flag (`if args.diag:`, `if self.debug`, `if cfg.diagnostics.enabled`, names in "
        "`diagnostic_flags`) or lives in a function whose name says so (`_cd_diag`, `debug_*`, "
        "`log_diagnostics`). Reading under `torch.no_grad()`, drawing inside `torch.random.fork_rng()` or "
        "between get/set of the RNG state, and restoring train mode are fine."
    )
    incident = "q201-sha-regression.md: a 100x worse baseline after CD-DIAG diagnostic code entered the training path"
    bad = [
        """
        import torch

        def train_step(model, opt, batch, args):
            loss = model(batch).pow(2).mean()
            loss.backward()
            opt.step()
            if args.diag:
                noise = torch.randn_like(batch)  # expect: RA140
                probe = model(batch + noise).mean()
                probe.backward()  # expect: RA140
        """,
        """
        import torch

        class Trainer:
            def _cd_diag(self, batch):
                self.model.eval()  # expect: RA140
                with torch.no_grad():
                    for p in self.model.parameters():
                        p.data.mul_(0.5)  # expect: RA140
                    energy = self.model(batch)
                return energy.mean().item()

            def log_diagnostics(self):
                self.optimizer.zero_grad()  # expect: RA140
                self.optimizer.step()  # expect: RA140
        """,
        """
        import numpy as np

        DEBUG = True

        def langevin_probe(x):
            x.grad = None
            x.sum().backward()
            return x.grad

        def step(x):
            if DEBUG:
                idx = np.random.choice(10)  # expect: RA140
                langevin_probe(x)  # expect: RA140
        """,
    ]
    good = [
        """
        import torch

        def log_diagnostics(model, batch):
            was_training = model.training
            model.eval()
            with torch.no_grad():
                norms = [p.detach().norm().item() for p in model.parameters()]
                out = model(batch)
            model.train(was_training)
            return norms, out.mean().item()
        """,
        """
        import torch

        def train_step(model, batch, cfg):
            if cfg.diagnostics.enabled:
                with torch.random.fork_rng():
                    noise = torch.randn_like(batch)
                print(model(batch + noise).mean().item())
        """,
        """
        import random
        import torch

        def debug_sample(items):
            state = random.getstate()
            pick = random.choice(items)
            random.setstate(state)
            return pick

        def step(model, opt, loss, verbose):
            loss.backward()
            opt.step()
            if verbose:
                print(loss.item())
        """,
        # logging.DEBUG inside a call is a log level, not a diagnostic switch
        """
        import logging
        import torch

        def step(opt, loss, logger):
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("loss %s", loss.item())
            loss.backward()
            opt.step()
        """,
    ]

    def check(self, ctx, context=None):
        walker = _Walker(self, ctx)
        _visit_regions(ctx.tree.body, walker)
        return walker.findings


# libcst's visitor costs about as much as the parse: only the diagnostic regions get the full visit. Outside
# them the statements are walked by hand, keeping the walker's state that a region can depend on (the
# enclosing functions' parameter loops, `with fork_rng()` blocks) exactly as the full visit would.
def _visit_regions(block, walker: "_Walker") -> None:
    for stmt in block:
        if isinstance(stmt, cst.If):
            if walker._is_flag(stmt.test):
                stmt.visit(walker)
            else:
                _visit_regions(_block(stmt.body), walker)
                if isinstance(stmt.orelse, cst.If):
                    _visit_regions([stmt.orelse], walker)
                elif stmt.orelse is not None:
                    _visit_regions(_block(stmt.orelse.body), walker)
        elif isinstance(stmt, cst.FunctionDef):
            if walker._is_diag_function(stmt.name.value):
                stmt.visit(walker)
            else:
                walker.visit_FunctionDef(stmt)
                _visit_regions(_block(stmt.body), walker)
                walker.leave_FunctionDef(stmt)
        elif isinstance(stmt, cst.With):
            walker.visit_With(stmt)
            _visit_regions(_block(stmt.body), walker)
            walker.leave_With(stmt)
        elif isinstance(stmt, cst.For):
            walker.visit_For(stmt)
            _visit_regions(_block(stmt.body), walker)
            if stmt.orelse is not None:
                _visit_regions(_block(stmt.orelse.body), walker)
        elif isinstance(stmt, cst.Match):
            for case in stmt.cases:
                _visit_regions(_block(case.body), walker)
        elif isinstance(stmt, cst.BaseCompoundStatement):  # class, while, try
            _visit_regions(_block(stmt.body), walker)
            for handler in getattr(stmt, "handlers", ()):
                _visit_regions(_block(handler.body), walker)
            for part in (getattr(stmt, "orelse", None), getattr(stmt, "finalbody", None)):
                if part is not None:
                    _visit_regions(_block(part.body), walker)


def _block(suite) -> list:
    return suite.body if isinstance(suite, cst.IndentedBlock) else []  # a one-line suite holds no compound


class _Walker(cst.CSTVisitor):
    def __init__(self, rule: DiagnosticSideEffect, ctx):
        self.rule, self.ctx = rule, ctx
        self.flags = {f.lower() for f in getattr(ctx.config, "diagnostic_flags", []) or []}
        self.regions: list[_Region] = []
        self.fork_depth = 0
        self.param_loops: list[set[str]] = [set()]
        self.findings = []
        self.reported: set[int] = set()

    @cached_property
    def effects(self) -> dict[str, tuple[str, int]]:
        return _module_effects(self.ctx)  # needed only when a region calls a plain name

    # -- regions ---------------------------------------------------------------------------
    def _is_flag(self, test) -> str:
        for ident in _identifiers(test):
            low = ident.lower()
            if low in self.flags or any(_DIAG_WORDS.match(t) for t in _tokens(ident)):
                return ident
        return ""

    def _is_diag_function(self, name: str) -> bool:
        return _diag_function_name(name, self.flags)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.param_loops.append(set())
        if self._is_diag_function(node.name.value):
            self._enter(node, node.name.value, node.body)
        else:
            self.regions.append(None)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.param_loops.pop()
        self._leave()

    def visit_If(self, node: cst.If) -> None:
        flag = self._is_flag(node.test)
        if flag:
            self._enter(node, "", node.body)
        else:
            self.regions.append(None)

    def leave_If(self, original_node: cst.If) -> None:
        self._leave()

    def visit_If_orelse(self, node: cst.If) -> None:
        # the else branch of a diagnostic guard is the normal path
        if self.regions and self.regions[-1] not in (None, _NORMAL) and self.regions[-1].node is node:
            self.regions.append(_NORMAL)

    def leave_If_orelse(self, node: cst.If) -> None:
        if self.regions and self.regions[-1] is _NORMAL:
            self.regions.pop()

    def _enter(self, node, function: str, body) -> None:
        self.regions.append(_Region(node, self.ctx, function, body))

    def _leave(self) -> None:
        region = self.regions.pop()
        if region is None or region is _NORMAL:
            return
        for receiver, mode, call in region.modes:
            if mode != "eval":
                continue
            restored = any(r == receiver and m == "train" and self.ctx.position(c) > self.ctx.position(call)
                           for r, m, c in region.modes)
            if not restored:
                self._flag(call, region, f"puts `{receiver}` in eval mode and never restores train mode")
        if region.draws and not (region.saves_rng and region.restores_rng):
            for call, name in region.draws:
                self._flag(call, region, f"draws random numbers (`{name}`), shifting every later draw of training")

    @property
    def region(self) -> _Region | None:
        for region in reversed(self.regions):
            if region is _NORMAL:
                return None
            if region is not None:
                return region
        return None

    # -- with / for ------------------------------------------------------------------------
    def visit_With(self, node: cst.With) -> None:
        if any(isinstance(item.item, cst.Call) and self.ctx.qualified_name(item.item.func) in _FORK_RNG
               for item in node.items):
            self.fork_depth += 1

    def leave_With(self, original_node: cst.With) -> None:
        if any(isinstance(item.item, cst.Call) and self.ctx.qualified_name(item.item.func) in _FORK_RNG
               for item in original_node.items):
            self.fork_depth -= 1

    def visit_For(self, node: cst.For) -> None:
        it = node.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and \
                it.func.attr.value in ("parameters", "named_parameters"):
            target = node.target
            if isinstance(target, cst.Tuple) and target.elements:
                target = target.elements[-1].value
            if isinstance(target, cst.Name):
                self.param_loops[-1].add(target.value)

    # -- side effects ----------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        region = self.region
        if region is None:
            return
        func = node.func
        method = func.attr.value if isinstance(func, cst.Attribute) else ""
        receiver = _dotted(func.value) if isinstance(func, cst.Attribute) else ""
        name = self.ctx.qualified_name(func) or ""
        if name in apis.CONSUME_APIS and apis.CONSUME_APIS[name][1] == "draw":
            excused = any(_kwarg(node, k) for k in apis.CONSUME_UNLESS_KWARG.get(name, ()))
            if not excused and self.fork_depth == 0:
                region.draws.append((node, name))
            return
        if method == "backward":
            self._flag(node, region, "runs `.backward()`, accumulating gradients into the training step")
        elif method == "zero_grad":
            self._flag(node, region, f"calls `{receiver}.zero_grad()`, clearing the training gradients")
        elif method == "step" and any(w in receiver.rsplit(".", 1)[-1].lower() for w in ("optim", "sched")) \
                or method == "step" and receiver.rsplit(".", 1)[-1] == "opt":
            self._flag(node, region, f"steps `{receiver}`, updating the model or the schedule")
        elif method in _INPLACE and self._is_param(func.value):
            self._flag(node, region, f"writes parameters in place (`{receiver}.{method}`)")
        elif method in ("eval", "train") and receiver:
            if method == "eval" and not node.args:
                region.modes.append((receiver, "eval", node))
            elif method == "train":
                region.modes.append((receiver, "train", node))
        elif isinstance(func, cst.Name) and func.value in self.effects:
            callee_effect, line = self.effects[func.value]
            self._flag(node, region, f"calls `{func.value}` (line {line}), which {callee_effect}")

    def visit_Assign(self, node: cst.Assign) -> None:
        region = self.region
        if region is None:
            return
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and t.attr.value == "data" and self._is_param(t.value):
                self._flag(node, region, f"overwrites `{_dotted(t)}`")

    def _is_param(self, node) -> bool:
        if isinstance(node, cst.Attribute):
            return node.attr.value in _PARAM_ATTRS
        if isinstance(node, cst.Name):
            return node.value in _PARAM_NAMES or any(node.value in loops for loops in self.param_loops)
        return False

    def _flag(self, node, region: _Region, what: str) -> None:
        if id(node) in self.reported:
            return
        self.reported.add(id(node))
        self.findings.append(self.rule.finding(
            f"{region.why} (line {region.line}) {what}: diagnostics must observe training, not change it",
            self.ctx.location(node), {"region_line": region.line}, anchor=self.ctx.anchor(node)))


def _kwarg(call: cst.Call, name: str):
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _module_effects(ctx) -> dict[str, tuple[str, int]]:
    """Module-level functions that run backward/optimizer steps: calling them from diagnostic code counts."""
    effects: dict[str, tuple[str, int]] = {}
    if "backward" not in ctx.source and "zero_grad" not in ctx.source:
        return effects
    for stmt in ctx.tree.body:
        if not isinstance(stmt, cst.FunctionDef) or not _may_have_effect(stmt.body):
            continue

        class Find(cst.CSTVisitor):
            found: str = ""

            def visit_Call(self, n: cst.Call) -> None:
                if not self.found and isinstance(n.func, cst.Attribute):
                    if n.func.attr.value == "backward":
                        self.found = "runs `.backward()`"
                    elif n.func.attr.value == "zero_grad":
                        self.found = "clears gradients"

        finder = Find()
        stmt.body.visit(finder)
        if finder.found:
            effects[stmt.name.value] = (finder.found, ctx.position(stmt)[0])
    return effects


def _may_have_effect(body) -> bool:
    """A cheap walk first: does any call in the body end in `.backward` or `.zero_grad`? (The visitor then
    finds which one comes first.)"""
    from auditor.code.walk import iter_nodes

    return any(isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute)
               and n.func.attr.value in ("backward", "zero_grad") for n in iter_nodes(body))
