import re
from functools import lru_cache

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

    def applies_to_tree(self, tree, config=None) -> bool:
        import ast

        from auditor.code.tree_prefilter import identifiers_outside_calls, nodes

        flags = {f.lower() for f in getattr(config, "diagnostic_flags", None) or ()}
        for node in nodes(tree, (ast.If, ast.FunctionDef, ast.AsyncFunctionDef)):
            if isinstance(node, ast.If):
                if any(ident.lower() in flags or any(_DIAG_WORDS.match(t) for t in _tokens(ident))
                       for ident in identifiers_outside_calls(node.test)):
                    return True
            elif _diag_function_name(node.name, flags):
                return True
        return False


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
    def __init__(self, node, why: str, line: int):
        self.node, self.why, self.line = node, why, line
        self.modes: list[tuple[str, str, cst.Call]] = []  # (receiver, "eval"|"train", call)
        self.saves_rng = False
        self.restores_rng = False
        self.draws: list[tuple[cst.Call, str]] = []


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
        ctx.tree.visit(walker)
        return walker.findings


class _Walker(cst.CSTVisitor):
    def __init__(self, rule: DiagnosticSideEffect, ctx):
        self.rule, self.ctx = rule, ctx
        self.flags = {f.lower() for f in getattr(ctx.config, "diagnostic_flags", []) or []}
        self.regions: list[_Region] = []
        self.fork_depth = 0
        self.param_loops: list[set[str]] = [set()]
        self.findings = []
        self.reported: set[int] = set()
        self.effects = _module_effects(ctx)

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
            self._enter(node, f"diagnostic function `{node.name.value}`", node.body)
        else:
            self.regions.append(None)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.param_loops.pop()
        self._leave()

    def visit_If(self, node: cst.If) -> None:
        flag = self._is_flag(node.test)
        if flag:
            self._enter(node, f"diagnostic code under `if {self.ctx.anchor(node)[3:].rstrip(':')}`", node.body)
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

    def _enter(self, node, why: str, body) -> None:
        line, _ = self.ctx.position(node)
        region = _Region(node, why, line)
        source = cst.Module(body=[]).code_for_node(body) if body is not None else ""
        region.saves_rng = any(s + "(" in source for s in _RNG_SAVE)
        region.restores_rng = any(s + "(" in source for s in _RNG_RESTORE)
        self.regions.append(region)

    def _leave(self) -> None:
        region = self.regions.pop()
        if region is None or region is _NORMAL:
            return
        for receiver, mode, call in region.modes:
            if mode != "eval":
                continue
            restored = any(r == receiver and m == "train" for r, m, c in region.modes
                           if self.ctx.position(c) > self.ctx.position(call))
            if not restored:
                self._flag(call, region, f"puts `{receiver}` in eval mode and never restores train mode")
        if not (region.saves_rng and region.restores_rng):
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
    for stmt in ctx.tree.body:
        if not isinstance(stmt, cst.FunctionDef):
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
