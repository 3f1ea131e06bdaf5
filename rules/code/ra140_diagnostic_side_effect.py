import ast
from dataclasses import dataclass, field

from auditor.code import apis
from auditor.code.resolve import dotted
from auditor.code.rule_base import ModuleRule, Needs
from auditor.code.syntax import enclosing_function, walk_local, words

# Words that make a name diagnostic: `args.diag`, `self.debug`, `run_diagnostics`, `DEBUG`; not
# `diagonal_gaussian` or `block_diagonal` (words are matched whole, not as substrings).
DIAG_WORDS = frozenset({"diag", "diags", "diagnose", "diagnostic", "diagnostics", "debug", "debugging", "dbg"})
_INPLACE = frozenset({"add_", "sub_", "mul_", "div_", "copy_", "zero_", "fill_", "clamp_", "clamp_min_",
                      "clamp_max_", "normal_", "uniform_", "addcmul_", "addcdiv_", "lerp_", "masked_fill_",
                      "set_", "neg_", "abs_", "sign_"})
_PARAM_NAMES = frozenset({"p", "param", "params", "parameter", "w", "weight", "weights", "bias"})
_PARAM_ATTRS = frozenset({"data", "weight", "bias", "grad"})
_RNG_SAVE = ("get_rng_state", "getstate", "get_state", "get_rng_state_all")
_RNG_RESTORE = ("set_rng_state", "setstate", "set_state", "set_rng_state_all")
_FORK_RNG = frozenset({"torch.random.fork_rng", "torch.cuda.random.fork_rng"})
_GRAD_EFFECTS = {"backward": "runs `.backward()`", "zero_grad": "clears gradients"}


def _is_diag_name(name: str, flags: set[str]) -> bool:
    return name.lower() in flags or any(w in DIAG_WORDS or w.startswith("debug") for w in words(name))


def _flag_names(test: ast.expr):
    """The names a condition switches on: a name or attribute chain used as a truth value (`args.diag`,
    `cfg.diagnostics.enabled`), or the last name of one compared to a value (`self.debug_level > 1`), but not
    the owner of a compared attribute (`old_diag.device.type == "meta"` tests a tensor, not a switch), nor
    anything inside a call (`isEnabledFor(logging.DEBUG)` is a log level)."""
    if isinstance(test, ast.BoolOp):
        for value in test.values:
            yield from _flag_names(value)
    elif isinstance(test, ast.UnaryOp):
        yield from _flag_names(test.operand)
    elif isinstance(test, ast.Compare):
        for side in (test.left, *test.comparators):
            if isinstance(side, (ast.Name, ast.Attribute)):
                yield side.id if isinstance(side, ast.Name) else side.attr
    elif isinstance(test, (ast.Name, ast.Attribute)):
        for node in ast.walk(test):
            if isinstance(node, ast.Name):
                yield node.id
            elif isinstance(node, ast.Attribute):
                yield node.attr


@dataclass
class _Region:
    node: ast.AST  # the `if` or the def
    why: str
    parts: list = field(default_factory=list)  # what runs as diagnostic code


class DiagnosticSideEffect(ModuleRule):
    id = "RA140"
    name = "diagnostic-side-effect"
    severity = "error"
    text = ("diag", "debug", "DEBUG", "Debug", "Diag", "dbg")

    def needs(self, config=None) -> Needs:
        flags = tuple(getattr(config, "diagnostic_flags", None) or ())
        return Needs(text=(*self.text, *flags))

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
    incident = (
        'Diagnostic code behind a debug switch entered a solver\'s training path, and the "same" baseline came'
        ' out 110-175x worse. The team spent weeks comparing runs before finding the change in the code '
        'between the two commits.'
    )
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
        # `diag` inside a word is not a diagnostic: diagonal matrices, diagonal Gaussians
        """
        import torch

        def diagonal_gaussian(mean, logvar):
            return mean + torch.randn_like(mean) * (0.5 * logvar).exp()

        def test_block_diagonal_matmul(self):
            x = torch.randn(4, 4)
            x.sum().backward()

        def update(old_diag, lora_diag, opt):
            if old_diag.device.type == "meta":
                lora_diag.data.normal_()
                opt.step()
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

    def check(self, ctx):
        flags = {f.lower() for f in getattr(ctx.config, "diagnostic_flags", None) or ()}
        regions = list(_regions(ctx, flags))
        if not regions:
            return
        forked = _inside_fork_rng(ctx)
        effects = _module_effects(ctx) if any(_calls_plain_name(r) for r in regions) else {}
        reported: set[int] = set()
        for region in regions:
            for node, what in _side_effects(ctx, region, forked, effects):
                if id(node) in reported:
                    continue
                reported.add(id(node))
                yield self.finding(
                    f"{region.why} (line {region.node.lineno}) {what}: diagnostics must observe training, not change it",
                    ctx.location(node), {"region_line": region.node.lineno}, anchor=ctx.anchor(node))


def _regions(ctx, flags: set[str]):
    """Diagnostic code: the test and body of an `if` whose condition names a diagnostic flag (not its else
    branch: that is the normal path), and the whole of a function whose name says it is diagnostic."""
    for node in ctx.nodes(ast.If, ast.FunctionDef, ast.AsyncFunctionDef):
        if isinstance(node, ast.If):
            flag = next((n for n in _flag_names(node.test) if _is_diag_name(n, flags)), None)
            if flag:
                test = " ".join(ast.unparse(node.test).split())
                yield _Region(node, f"diagnostic code under `if {test}`", [node.test, *node.body])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_diag_name(node.name, flags):
            yield _Region(node, f"diagnostic function `{node.name}`", list(node.body))


def _calls_plain_name(region: _Region) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) for part in region.parts for n in ast.walk(part))


def _inside_fork_rng(ctx) -> set[int]:
    """ids of the nodes inside `with torch.random.fork_rng():` blocks (draws there do not shift training's)."""
    inside: set[int] = set()
    for node in ctx.nodes(ast.With, ast.AsyncWith):
        if any(
                isinstance(item.context_expr, ast.Call) and ctx.qualified_name(item.context_expr.func) in _FORK_RNG
                for item in node.items):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def _param_names(ctx, region: _Region) -> set[str]:
    """Loop variables over `.parameters()` / `.named_parameters()` in the function around the region."""
    scope = region.node if isinstance(region.node, (ast.FunctionDef, ast.AsyncFunctionDef)) else \
        enclosing_function(ctx.parent, region.node)
    names: set[str] = set()
    for node in walk_local(scope) if scope is not None else ():
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Attribute) \
                and node.iter.func.attr in ("parameters", "named_parameters"):
            target = node.target.elts[-1] if isinstance(node.target, ast.Tuple) and node.target.elts else node.target
            if isinstance(target, ast.Name):
                names.add(target.id)
    return names


def _is_param(node: ast.AST, loops: set[str]) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in _PARAM_ATTRS
    return isinstance(node, ast.Name) and (node.id in _PARAM_NAMES or node.id in loops)


def _side_effects(ctx, region: _Region, forked: set[int], effects: dict[str, tuple[str, int]]):
    loops = _param_names(ctx, region)
    modes: list[tuple[str, str, ast.Call]] = []
    draws: list[tuple[ast.Call, str]] = []
    nodes = sorted((n for part in region.parts for n in ast.walk(part) if isinstance(n, (ast.Call, ast.Assign))),
                   key=lambda n: (n.lineno, n.col_offset))
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "data" and _is_param(target.value, loops):
                    yield node, f"overwrites `{dotted(target) or ast.unparse(target)}`"
            continue
        func = node.func
        name = ctx.qualified_name(func) or ""
        if apis.CONSUME_APIS.get(name, ("", ""))[1] == "draw":
            excused = any(kw.arg in apis.CONSUME_UNLESS_KWARG.get(name, ()) for kw in node.keywords)
            if not excused and id(node) not in forked:
                draws.append((node, name))
            continue
        method = func.attr if isinstance(func, ast.Attribute) else ""
        receiver = (dotted(func.value) or "") if isinstance(func, ast.Attribute) else ""
        owner = receiver.rsplit(".", 1)[-1]
        if method == "backward":
            yield node, "runs `.backward()`, accumulating gradients into the training step"
        elif method == "zero_grad":
            yield node, f"calls `{receiver}.zero_grad()`, clearing the training gradients"
        elif method == "step" and (any(w in owner.lower() for w in ("optim", "sched")) or owner == "opt"):
            yield node, f"steps `{receiver}`, updating the model or the schedule"
        elif method in _INPLACE and _is_param(func.value, loops):
            yield node, f"writes parameters in place (`{receiver}.{method}`)"
        elif method == "eval" and receiver and not node.args:
            modes.append((receiver, "eval", node))
        elif method == "train" and receiver:
            modes.append((receiver, "train", node))
        elif isinstance(func, ast.Name) and func.id in effects:
            effect, line = effects[func.id]
            yield node, f"calls `{func.id}` (line {line}), which {effect}"
    for receiver, mode, call in modes:
        if mode == "eval" and not any(r == receiver and m == "train" and (c.lineno, c.col_offset) > (call.lineno, call.col_offset)
                                      for r, m, c in modes):
            yield call, f"puts `{receiver}` in eval mode and never restores train mode"
    if draws and not _saves_and_restores_rng(region):
        for call, name in draws:
            yield call, f"draws random numbers (`{name}`), shifting every later draw of training"


def _saves_and_restores_rng(region: _Region) -> bool:
    called = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
              for part in region.parts for n in ast.walk(part) if isinstance(n, ast.Call)}
    return bool(called & set(_RNG_SAVE)) and bool(called & set(_RNG_RESTORE))


def _module_effects(ctx) -> dict[str, tuple[str, int]]:
    """Module-level functions that run backward or clear gradients: calling them from diagnostic code counts."""
    effects: dict[str, tuple[str, int]] = {}
    for stmt in ctx.tree.body:
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        calls = sorted((n for s in stmt.body for n in walk_local(s) if isinstance(n, ast.Call)
                        and isinstance(n.func, ast.Attribute) and n.func.attr in _GRAD_EFFECTS),
                       key=lambda n: (n.lineno, n.col_offset))
        if calls:
            effects[stmt.name] = (_GRAD_EFFECTS[calls[0].func.attr], stmt.lineno)
    return effects
