"""Is the final training step validated? The analysis behind RA101 and RA102, on the stdlib `ast` tree.

A training loop is found by what it does (backward passes, optimizer steps, `train_step(...)`-like calls,
directly or through functions of the same module). Its counters come from the `for` target (`range(...)`,
`enumerate(...)`) or from the variables it increments; their values at the last iteration come from the
loop's end: the `range` bound, the `while` condition or the test of a `break`/`return`. Each validation in the
loop (found by what it does: `model.eval()`, a loop over held-out data, validate/evaluate/test-like calls,
directly or through same-module functions) is reached under a condition: the enclosing `if` tests and the
`continue`/`break` guards before it. Those conditions are evaluated at the last iteration, whatever the names:

- every validation is excluded on the last iteration: RA101 (error), at the condition that excludes it;
- the validations together can miss it (a periodic `step % freq == 0` schedule): RA102 (warning);
- a validation after the loop (or after the call of the function that holds it) covers the last step.

A name the function binds once to an integer (`num_epochs = 20`, or a module's `MAX_STEPS = 601` it does not
rebind) counts as that number in bounds and schedules; a validation after the loop in a branch a constant rules
out (`if do_test:` with `do_test = False`) covers nothing (constants.py).
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from auditor.code.constants import dead_spans, literal_constants
from auditor.code.node_index import NodeIndex
from auditor.code.rule_base import ModuleRule, Needs
from auditor.code.syntax import last_name, walk_local

# -- what code does -------------------------------------------------------------------------------------------

_TRAIN_CALL = re.compile(r"^_*(?:(?:run|do|perform)_)?(?:train(?:ing)?|fit)_(?:step|one_epoch|epoch|batch|iter|iteration"
                         r"|on_batch|one_step|microbatch)s?$|^_*optimi[sz]er_step$|^_*step_optimi[sz]er$")
_STEPPER = re.compile(r"optim|^_*opt(?:_|$)|_opt$|scaler|engine|^_*model$|trainer|learner")
_EVAL_CALL = re.compile(r"^_*(?:(?:run|do|log|perform|compute|full)_)?(?:validat|evaluat|eval(?:_|$)|val(?:$|_epoch|_step"
                        r"|_loop|_one)|test(?:$|_epoch|_model|_step|_loop|_one)|estimate_loss)")
_NOT_EVAL = re.compile(r"(?:args|config|cfg|inputs?|paths?|shapes?|params|kwargs|options|dtype|device|loader|dataloader"
                       r"|dataset|data|transforms?|steps|interval|freq|every|mode|dir|file|split|fn)$")
_HELD_OUT = re.compile(r"(?:^|[^a-z])(?:val|valid|validation|eval|evaluation|test|holdout|heldout)(?:[^a-z]|s?$)",
                       re.IGNORECASE)
_DATA = re.compile(r"loader|(^|[^a-z])dl($|[^a-z])|data|(^|[^a-z])ds($|[^a-z])|batch|split|(^|[^a-z])set($|[^a-z])|iter"
                   r"|samples|examples", re.IGNORECASE)
_NO_GRAD = ("no_grad", "inference_mode")
# A debug probe or a printout that switches to eval mode is a diagnostic, not the run's validation.
_DIAGNOSTIC = re.compile(r"debug|dump|inspect|print|visuali[sz]|plot|profil", re.IGNORECASE)
_MEASURE = re.compile(r"loss|metric|accuracy|(^|_)acc($|_)|perplexity|ppl|score|f1|bleu|rouge|cross_entropy|nll",
                      re.IGNORECASE)

# Name-based fallback, used only where the loop's structure does not tell the last step.
_LAST_FLAG = re.compile(r"^_*(is_)?(last|final)(_(train(ing)?_)?(step|epoch|iter|iteration|batch|round|update))?$")
_COUNTER = re.compile(r"(^|_)(step|steps|epoch|epochs|iter|iters|iteration|iterations|it|update|updates|round|batch_idx"
                      r"|global_step|global_steps|n_iter|idx)$")
_BOUND = re.compile(r"(^|_)(total|max|num|n|last|final|limit|len|end|stop)(_|$)|^(total|max|num)")
_VALIDATION_RESULT = re.compile(r"(^|_)(val|valid|validation|eval|evaluation|test)(_|$|s$|\d)", re.IGNORECASE)
_METRICS = re.compile(r"(metric|result|score|acc)", re.IGNORECASE)


def local_callee(call: ast.Call) -> str | None:
    """The name a call may take in this module: `f(...)`, `self.f(...)`, `cls.f(...)`; not `model.train()`."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
        return func.attr
    return None


def _calls(node: ast.AST) -> Iterator[ast.Call]:
    return (n for n in walk_local(node) if isinstance(n, ast.Call))


@dataclass
class Behaviour:
    """Which functions of the module train, which evaluate (the project's configured validation names count
    as evaluation); and, by line, where the module trains and evaluates."""
    functions: dict[str, list[ast.AST]]
    configured: frozenset[str]
    module: ast.Module
    trains: set[str] = field(default_factory=set)
    evaluates: set[str] = field(default_factory=set)
    train_lines: list[int] = field(default_factory=list)
    eval_lines: list[int] = field(default_factory=list)
    _constants: dict[ast.AST, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, scopes: NodeIndex, configured: Iterable[str]) -> Behaviour:
        functions: dict[str, list[ast.AST]] = {}
        for scope in scopes.functions:
            functions.setdefault(scope.name, []).append(scope)
        found = cls(functions, frozenset(name.rsplit(".", 1)[-1] for name in configured), scopes.tree)
        found._fixpoint(scopes)
        return found

    def _fixpoint(self, scopes: NodeIndex) -> None:
        calls = {name: [c for d in defs for c in scopes.owned[d].calls] for name, defs in self.functions.items()}
        callees = {name: {local_callee(c) for c in found} - {None, name} for name, found in calls.items()}
        direct_train = {name for name, found in calls.items() if any(self._trains_directly(c) for c in found)}
        self.trains = _closure(direct_train, callees)
        direct_eval = {name for name, defs in self.functions.items() if name not in self.trains and (
            name in self.configured or _DIAGNOSTIC.search(name) is None
            and any(self._evaluates_directly(d, scopes) for d in defs))}
        self.evaluates = _closure(direct_eval, callees) - self.trains
        every = [c for owned in scopes.owned.values() for c in owned.calls]
        self.train_lines = sorted({c.lineno for c in every if self.trains_call(c)})
        held_out = [loop for owned in scopes.owned.values() for loop in owned.loops if _over_held_out(loop)]
        self.eval_lines = sorted({c.lineno for c in every if self.evaluates_call(c)}
                                 | {loop.lineno for loop in held_out if not self.trains_node(loop)})

    @staticmethod
    def _trains_directly(call: ast.Call) -> bool:
        name = last_name(call.func)
        if name == "backward":
            return True
        if name == "step" and isinstance(call.func, ast.Attribute):
            receiver = last_name(call.func.value) or ""
            return _STEPPER.search(receiver.lower()) is not None
        return bool(name) and _TRAIN_CALL.match(name) is not None

    def _named_eval(self, name: str) -> bool:
        return name in self.configured or (_EVAL_CALL.match(name.lower()) is not None
                                           and _NOT_EVAL.search(name.lower()) is None)

    def _evaluates_directly(self, function: ast.AST, scopes: NodeIndex) -> bool:
        """`model.eval()`, a loop over held-out data, a loss or metric computed without gradients, or a
        validation-named call into another module."""
        if any(_over_held_out(loop) for loop in scopes.owned[function].loops):
            return True
        no_grad = any(last_name(d) in _NO_GRAD for d in function.decorator_list) or any(
            last_name(c.func) in _NO_GRAD for c in scopes.owned[function].calls)
        if no_grad and any(_MEASURE.search(last_name(c.func) or "") for c in scopes.owned[function].calls):
            return True
        for call in scopes.owned[function].calls:
            name = last_name(call.func) or ""
            if _is_eval_mode(call) or name in self.configured or (local_callee(call) not in self.functions
                                                                   and self._named_eval(name)):
                return True
        return False

    def constants(self, scope: ast.AST) -> dict[str, int | bool | None]:
        """The names that hold one literal wherever `scope` reads them (constants.py)."""
        found = self._constants.get(scope)
        if found is None:
            around = [] if scope is self.module else [
                d for defs in self.functions.values() for d in defs
                if d is not scope and d.lineno <= scope.lineno and (d.end_lineno or 0) >= (scope.end_lineno or 0)]
            around.sort(key=lambda d: d.lineno, reverse=True)  # innermost first
            found = self._constants[scope] = literal_constants(scope, self.module, tuple(around))
        return found

    def trains_call(self, call: ast.Call) -> bool:
        return self._trains_directly(call) or local_callee(call) in self.trains

    def trains_node(self, node: ast.AST) -> bool:
        return _within(self.train_lines, node)

    def evaluates_call(self, call: ast.Call) -> bool:
        if _is_eval_mode(call):
            return True
        local = local_callee(call)
        if local in self.functions:
            return local in self.evaluates or local in self.configured
        return self._named_eval(last_name(call.func) or "")

    def evaluates_node(self, node: ast.AST) -> bool:
        """A validation under this statement: a call, or a loop over held-out data."""
        return _within(self.eval_lines, node)


def _within(lines: list[int], node: ast.AST) -> bool:
    at = bisect.bisect_left(lines, node.lineno)
    return at < len(lines) and lines[at] <= (node.end_lineno or node.lineno)


def _over_held_out(loop: ast.AST) -> bool:
    """`for batch in val_loader`, `for x, y in dataloaders["test"]`; not `range(args.num_validation_images)`."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return False
    text = ast.unparse(loop.iter)
    return _HELD_OUT.search(text) is not None and _DATA.search(text) is not None


def _is_eval_mode(call: ast.Call) -> bool:
    """`model.eval()` (not the builtin `eval(text)`)."""
    return isinstance(call.func, ast.Attribute) and call.func.attr == "eval" and not call.args and not call.keywords


def _closure(seed: set[str], callees: dict[str, set]) -> set[str]:
    found = set(seed)
    changed = True
    while changed:
        changed = False
        for name, called in callees.items():
            if name not in found and called & found:
                found.add(name)
                changed = True
    return found


# -- linear expressions ----------------------------------------------------------------------------------------

Linear = dict  # atom text -> coefficient; "" -> the constant


def _key(node: ast.AST) -> str:
    return ast.unparse(node)


def _linear(node: ast.AST) -> Linear | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return {"": node.value}
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = _linear(node.left), _linear(node.right)
        if left is None or right is None:
            return None
        return _add(left, right, 1 if isinstance(node.op, ast.Add) else -1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _linear(node.left), _linear(node.right)
        if left is None or right is None:
            return None
        if set(left) <= {""}:
            return {k: v * left.get("", 0) for k, v in right.items()}
        if set(right) <= {""}:
            return {k: v * right.get("", 0) for k, v in left.items()}
        return {_key(node): 1}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _linear(node.operand)
        return None if inner is None else {k: -v for k, v in inner.items()}
    if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Call, ast.BinOp)):
        return {_key(node): 1}
    return None


def _add(a: Linear, b: Linear, sign: int = 1) -> Linear:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
    return {k: v for k, v in out.items() if v or k == ""}


def _constant(form: Linear) -> int | None:
    return form.get("", 0) if all(k == "" for k in form) else None


# -- loops: counters, ends, scenarios --------------------------------------------------------------------------

@dataclass
class Exit:
    """One way the loop ends: a counter reaching a value (at a line), or the iteration running out."""
    counter: str | None
    value: Linear | None  # the counter's value where the end is tested
    line: float  # where it is tested (0 for a `while` condition): a flag's assignment, `is_last = step >= n`
    node: ast.AST | None  # the break/return, or the loop

    @property
    def leaves(self) -> int:
        """Where the loop is left (0: at the top): a validation after it never runs in the last iteration, one
        between the test and the `break` does."""
        return self.node.lineno if self.line else 0


@dataclass
class Loop:
    node: ast.AST
    targets: dict[str, Linear]  # for-target counters -> last value
    increments: dict[str, list[tuple[int, int]]]  # counter -> [(line, amount)]
    exits: list[Exit]
    aliases: dict[str, tuple[ast.AST, int]]  # name -> (expression, line) assigned in the body
    training_lines: list[int]
    scope: ast.AST  # the function (or module) holding the loop: a bound or a period may be one of its constants
    behaviour: Behaviour

    def scenarios(self) -> list[dict]:
        """Each way the last iteration can come: counter -> (value, exit). Several ends give several."""
        out = [{"_exit": e} for e in self.exits]
        return out or [{"_exit": None}]


def _loop_statements(loop: ast.AST) -> Iterator[ast.AST]:
    """Statements of a loop's body and else, not entering nested loops or definitions."""
    todo = list(loop.body)
    while todo:
        stmt = todo.pop()
        yield stmt
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            todo.extend(getattr(stmt, name, None) or ())
        for part in getattr(stmt, "handlers", None) or getattr(stmt, "cases", None) or ():
            todo.extend(part.body)


def _range_last(call: ast.AST) -> Linear | None:
    """The last value of `range(...)`/`trange(...)`, also wrapped in `tqdm(...)`."""
    while isinstance(call, ast.Call) and last_name(call.func) == "tqdm" and call.args:
        call = call.args[0]
    if not isinstance(call, ast.Call) or last_name(call.func) not in ("range", "trange") or call.keywords:
        return None
    args = call.args
    if len(args) == 3:
        step = _linear(args[2])
        if step is None or _constant(step) != 1:
            return None
    if not 1 <= len(args) <= 3:
        return None
    stop = _linear(args[1] if len(args) >= 2 else args[0])
    return None if stop is None else _add(stop, {"": -1})


def _for_targets(loop: ast.For) -> dict[str, Linear]:
    target, iterable = loop.target, loop.iter
    while isinstance(iterable, ast.Call) and last_name(iterable.func) == "tqdm" and iterable.args:
        iterable = iterable.args[0]
    if isinstance(target, ast.Name):
        last = _range_last(iterable)
        return {target.id: last} if last is not None else {}
    if isinstance(target, ast.Tuple) and target.elts and isinstance(target.elts[0], ast.Name) \
            and isinstance(iterable, ast.Call) and last_name(iterable.func) == "enumerate" and iterable.args:
        start = iterable.args[1] if len(iterable.args) > 1 else next(
            (k.value for k in iterable.keywords if k.arg == "start"), None)
        offset = _linear(start) if start is not None else {"": 0}
        inner = iterable.args[0]
        last = _range_last(inner)
        if last is None:
            last = {f"len({_key(inner)})": 1, "": -1}
        if offset is None:
            return {}
        return {target.elts[0].id: _add(last, offset)}
    return {}


def _parts(test: ast.AST, operator: type) -> list[ast.AST]:
    """`a and b` -> [a, b] for ast.And (likewise `or`); anything else -> [test]."""
    return list(test.values) if isinstance(test, ast.BoolOp) and isinstance(test.op, operator) else [test]


def _increment(stmt: ast.AST) -> tuple[str, int] | None:
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) and isinstance(stmt.value, ast.Constant) \
            and isinstance(stmt.value.value, int) and isinstance(stmt.target, (ast.Name, ast.Attribute, ast.Subscript)):
        return _key(stmt.target), stmt.value.value
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, ast.BinOp) \
            and isinstance(stmt.value.op, ast.Add) and isinstance(stmt.value.right, ast.Constant) \
            and isinstance(stmt.value.right.value, int) and _key(stmt.value.left) == _key(stmt.targets[0]):
        return _key(stmt.targets[0]), stmt.value.right.value
    return None


def _exit_value(test: ast.AST, counters: set[str], aliases: dict) -> tuple[str, Linear] | None:
    """`c >= N` / `c > N` / `c == N` (or flipped, or through a flag assigned from one): the counter and the
    value it has when the test first holds (counting up)."""
    if isinstance(test, ast.Name) and test.id in aliases:
        return _exit_value(aliases[test.id][0], counters, {})
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    flipped = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE, ast.Eq: ast.Eq}
    if _key(right) in counters and _key(left) not in counters and type(op) in flipped:
        left, right, op = right, left, flipped[type(op)]()
    name = _key(left)
    bound = _linear(right)
    if name not in counters or bound is None or name in bound:
        return None
    if isinstance(op, (ast.GtE, ast.Eq)):
        return name, bound
    if isinstance(op, ast.Gt):
        return name, _add(bound, {"": 1})
    return None


def analyse_loop(loop: ast.AST, behaviour: Behaviour, scope: ast.AST) -> Loop:
    targets = _for_targets(loop) if isinstance(loop, ast.For) else {}
    increments: dict[str, list[tuple[int, int]]] = {}
    aliases: dict[str, tuple[ast.AST, int]] = {}
    training: list[int] = []
    statements = list(_loop_statements(loop))
    for stmt in statements:
        found = _increment(stmt)
        if found is not None:
            increments.setdefault(found[0], []).append((stmt.lineno, found[1]))
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and isinstance(stmt.value, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Name)):
            name = stmt.targets[0].id
            aliases[name] = None if name in aliases else (stmt.value, stmt.lineno)  # assigned twice: unknown
        if not isinstance(stmt, (ast.If, ast.With, ast.Try, ast.AsyncWith)) and behaviour.trains_node(stmt):
            training.append(stmt.lineno)
    aliases = {k: v for k, v in aliases.items() if v is not None and k not in targets and k not in increments}
    counters = set(increments) | set(targets)
    exits: list[Exit] = []
    if isinstance(loop, ast.While):  # `while c < N and ...`: the loop ends when any part fails
        for part in _parts(loop.test, ast.And):
            if isinstance(part, ast.Compare) and len(part.ops) == 1:
                negated = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.NotEq: ast.Eq}.get(type(part.ops[0]))
                found = negated and _exit_value(ast.Compare(part.left, [negated()], part.comparators), counters, {})
                if found:
                    exits.append(Exit(found[0], found[1], 0, loop))
    for stmt in statements:  # `if c >= N or ...: break`: the loop ends when any part holds
        if isinstance(stmt, ast.If) and any(isinstance(s, (ast.Break, ast.Return)) for s in stmt.body):
            leave = next(s for s in stmt.body if isinstance(s, (ast.Break, ast.Return)))
            for part in _parts(stmt.test, ast.Or):
                found = _exit_value(part, counters, aliases)
                if found is not None:
                    line = aliases[part.id][1] if isinstance(part, ast.Name) else stmt.lineno
                    exits.append(Exit(found[0], found[1], line, leave))
    # a `range` can also run out; a loop over data that breaks when a step counter reaches its bound ends
    # there (diffusers' `if global_step >= max_train_steps: break` in `for step, batch in enumerate(loader)`)
    if isinstance(loop, ast.For) and targets and (_range_last(loop.iter) is not None
                                                  or not any(e.counter in increments for e in exits)):
        exits.insert(0, Exit(None, None, 0, loop))
    return Loop(loop, {k: v for k, v in targets.items()}, increments, exits, aliases, sorted(training), scope,
                behaviour)


def _value_at(loop: Loop, counter: str, line: int, scenario: dict) -> Linear | None:
    """The counter's value at `line` in the iteration where the validation (at `scenario["_site"]`) last runs
    before the loop ends this way: the last iteration, or the one before when the site is after the exit."""
    end: Exit | None = scenario.get("_exit")
    steps = loop.increments.get(counter, [])
    if end is not None and end.counter == counter:
        site = scenario.get("_site")
        previous = bool(end.leaves) and site is not None and site > end.leaves
        if counter in loop.targets and not steps:
            return _add(end.value, {"": -1}) if previous else end.value
        if counter in loop.targets:  # `for it, batch in enumerate(...)` that also counts `it += 1` before its break
            return None if previous else _add(end.value, {"": -sum(a for ln, a in steps if line < ln < end.line)})
        if end.line == 0:  # tested at the top: the increments after `line` happened before the test
            return _add(end.value, {"": -sum(a for ln, a in steps if ln > line)})
        if line <= end.line and not previous:
            return _add(end.value, {"": -sum(a for ln, a in steps if line < ln < end.line)})
        if not previous:  # read after the flag was set, before the loop is left
            return _add(end.value, {"": sum(a for ln, a in steps if end.line < ln < line)})
        return _add(end.value, {"": -sum(a for ln, a in steps if ln > line or ln < end.line)})
    if counter in loop.targets and (end is None or end.counter is None):  # set each iteration, then moved on
        return _add(loop.targets[counter], {"": sum(a for ln, a in steps if ln < line)})
    return None


# -- conditions at the last iteration ---------------------------------------------------------------------------

ALWAYS, NEVER = "always", "never"


@dataclass(frozen=True)
class Var:
    """A truth value the analysis cannot fix: a periodic schedule ("maybe") or a setting ("flag")."""
    kind: str  # "maybe" | "flag"
    key: str


@dataclass(frozen=True)
class Cond:
    """One condition on the way to a validation: `test` must be `polarity`; `cause` is where to report it."""
    test: ast.AST
    polarity: bool
    line: int  # where the test is evaluated
    cause: ast.AST
    loops: tuple  # the Loop records enclosing it, outermost first


def _formula(node: ast.AST, cond: Cond, scenario: dict, depth: int = 0):
    """The condition as a formula: ALWAYS/NEVER, a Var, or ("and"|"or"|"not", parts)."""
    if isinstance(node, ast.BoolOp):
        return ("and" if isinstance(node.op, ast.And) else "or", [_formula(v, cond, scenario, depth) for v in node.values])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ("not", [_formula(node.operand, cond, scenario, depth)])
    if isinstance(node, ast.Compare) and len(node.ops) > 1:
        parts, left = [], node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            parts.append(_formula(ast.Compare(left, [op], [right]), cond, scenario, depth))
            left = right
        return ("and", parts)
    if isinstance(node, ast.Name) and depth < 4:
        for loop in reversed(cond.loops):
            alias = loop.aliases.get(node.id)
            if alias is not None and isinstance(alias[0], (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Name)):
                inner = Cond(alias[0], True, alias[1], cond.cause, cond.loops)
                return _formula(alias[0], inner, scenario, depth + 1)
    if isinstance(node, ast.Compare):
        return _compare(node, cond, scenario)
    if isinstance(node, (ast.Name, ast.Attribute, ast.Call)) and _LAST_FLAG.match(last_name(node) or ""):
        return ALWAYS  # `is_last_step`, `self.is_final_epoch`, `is_last_step(step)`: where the loop does not tell
    return Var("flag", _key(node))


def _substitute(form: Linear, cond: Cond, scenario: dict, depth: int = 0) -> tuple[Linear, bool]:
    """Counters replaced by their value at the last iteration; whether any counter was known."""
    out: Linear = {}
    known = False
    for atom, coefficient in form.items():
        value = None
        for loop in reversed(cond.loops):
            value = _value_at(loop, atom, cond.line, scenario.get(id(loop), {}))
            if value is None and depth < 3 and atom in loop.aliases:
                alias, line = loop.aliases[atom]
                inner = _linear(alias)
                if inner is not None and atom not in inner:
                    value, found = _substitute(inner, Cond(alias, True, line, cond.cause, cond.loops), scenario, depth + 1)
                    value = value if found else None
            if value is not None:
                break
        if value is None:
            out = _add(out, {atom: coefficient})
        else:
            known = True
            out = _add(out, {k: v * coefficient for k, v in value.items()})
    return _with_constants(out, cond), known


def _with_constants(form: Linear, cond: Cond) -> Linear:
    """The form with the names that hold one integer in the loop's function (`num_epochs = 20`) replaced by it."""
    if not cond.loops or not any(atom.isidentifier() for atom in form):  # `args.epochs`, `len(loader)`: no name
        return form
    loop = cond.loops[0]
    constants = loop.behaviour.constants(loop.scope)
    out: Linear = {}
    for atom, coefficient in form.items():
        value = constants.get(atom)
        known = type(value) is int
        out = _add(out, {"": coefficient * value} if known else {atom: coefficient})
    return out


def _compare(node: ast.Compare, cond: Cond, scenario: dict):
    op, left, right = node.ops[0], node.left, node.comparators[0]
    modulo = _modulo_test(node)
    if modulo is not None:
        return _periodic(modulo, cond, scenario, node)
    a, b = _linear(left), _linear(right)
    if a is not None and b is not None and isinstance(op, (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)):
        diff, known = _substitute(_add(a, b, -1), cond, scenario)
        value = _constant(diff)
        if known and value is not None:
            holds = {ast.Eq: value == 0, ast.NotEq: value != 0, ast.Lt: value < 0, ast.LtE: value <= 0,
                     ast.Gt: value > 0, ast.GtE: value >= 0}[type(op)]
            return ALWAYS if holds else NEVER
    named = _named_last_step(node)
    if named is not None:
        return named
    return Var("flag", _key(node))


def _modulo_test(node: ast.Compare) -> ast.BinOp | None:
    """`x % k == 0` / `0 == x % k` / `x % k != 0`: the `%` operation."""
    for side in (node.left, node.comparators[0]):
        if isinstance(side, ast.BinOp) and isinstance(side.op, ast.Mod) and not isinstance(side.left, (ast.Constant, ast.JoinedStr)):
            return side
    return None


def _periodic(modulo: ast.BinOp, cond: Cond, scenario: dict, node: ast.Compare):
    left = _linear(modulo.left)
    right = _linear(modulo.right)
    other = _linear(node.comparators[0] if node.left is modulo else node.left)
    if left is not None and right is not None and other is not None:
        value, _ = _substitute(left, cond, scenario)
        v, k, o = _constant(value), _constant(_with_constants(right, cond)), _constant(_with_constants(other, cond))
        if v is not None and k and o is not None:
            holds = (v % k == o) if isinstance(node.ops[0], ast.Eq) else (v % k != o) \
                if isinstance(node.ops[0], ast.NotEq) else None
            if holds is not None:
                return ALWAYS if holds else NEVER
    if not any(_is_counter_name(n) or _is_known_counter(n, cond) for n in _names(modulo.left)):
        return Var("flag", _key(node))
    key = f"{_key(node)}@{_substitute(left, cond, scenario)[0] if left is not None else ''}"
    if isinstance(node.ops[0], ast.NotEq):
        return ("not", [Var("maybe", key.replace("!=", "==", 1))])
    return Var("maybe", key)


def _names(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Name, ast.Attribute, ast.Subscript)):
            yield _key(sub)


def _is_counter_name(text: str) -> bool:
    name = re.split(r"[.\[\]'\"]", text.rstrip("]'\""))[-1].lower() if text else ""
    return bool(_COUNTER.search(name)) and not _BOUND.search(name)


def _is_known_counter(text: str, cond: Cond) -> bool:
    return any(text in loop.targets or text in loop.increments or text in loop.aliases for loop in cond.loops)


def _strip_offset(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)) and isinstance(node.right, ast.Constant):
        node = node.left
    return node


def _counter_like(node: ast.AST) -> bool:
    name = (last_name(_strip_offset(node)) or "").lower()
    return bool(name) and _COUNTER.search(name) is not None and not _BOUND.search(name)


def _bound_like(node: ast.AST) -> bool:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(node.right, ast.Constant) \
            and node.right.value == 1 and isinstance(node.left, (ast.Name, ast.Attribute, ast.Call)):
        return True
    node = _strip_offset(node)
    if isinstance(node, ast.Call) and last_name(node.func) == "len":
        return True
    return any(_BOUND.search(n.lower()) for n in (last_name(s) for s in ast.walk(node)
                                                  if isinstance(s, (ast.Name, ast.Attribute))) if n)


def _named_last_step(node: ast.Compare):
    """Where the loop does not tell: `step == total_steps - 1` holds at the last step by its names."""
    op, left, right = node.ops[0], node.left, node.comparators[0]
    if isinstance(op, (ast.Eq, ast.GtE)) and _counter_like(left) and _bound_like(right):
        return ALWAYS
    if isinstance(op, ast.LtE) and _bound_like(left) and _counter_like(right):
        return ALWAYS
    if isinstance(op, ast.Gt) and _counter_like(left) and _bound_like(right) and isinstance(right, ast.BinOp):
        return ALWAYS
    if isinstance(op, ast.NotEq) and ((_counter_like(left) and _bound_like(right)) or (_bound_like(left) and _counter_like(right))):
        return NEVER
    if isinstance(op, ast.Lt) and isinstance(right, ast.BinOp) and _counter_like(left) and _bound_like(right):
        return NEVER
    return None


def _variables(formula, out: set) -> set:
    if isinstance(formula, Var):
        out.add(formula)
    elif isinstance(formula, tuple):
        for part in formula[1]:
            _variables(part, out)
    return out


def _truth(formula, values: dict) -> bool:
    if formula == ALWAYS:
        return True
    if formula == NEVER:
        return False
    if isinstance(formula, Var):
        return values[formula]
    kind, parts = formula
    if kind == "not":
        return not _truth(parts[0], values)
    results = (_truth(p, values) for p in parts)
    return all(results) if kind == "and" else any(results)


VALIDATED, MISSED, EXCLUDED = "validated", "can-miss", "excluded"
_MAX_VARIABLES = 12


def verdict(formula) -> str:
    """VALIDATED: some setting makes it hold whatever the schedule; EXCLUDED: it never holds; else MISSED."""
    variables = sorted(_variables(formula, set()), key=lambda v: (v.kind, v.key))
    if len(variables) > _MAX_VARIABLES:
        return MISSED
    flags = [v for v in variables if v.kind == "flag"]
    maybes = [v for v in variables if v.kind == "maybe"]
    any_true = False
    for flag_values in itertools.product((True, False), repeat=len(flags)):
        values = dict(zip(flags, flag_values, strict=True))
        outcomes = set()
        for maybe_values in itertools.product((True, False), repeat=len(maybes)):
            values.update(zip(maybes, maybe_values, strict=True))
            outcomes.add(_truth(formula, values))
        if outcomes == {True}:
            return VALIDATED
        any_true = any_true or True in outcomes
    return MISSED if any_true else EXCLUDED


# -- validations inside training loops -------------------------------------------------------------------------

@dataclass
class Site:
    node: ast.AST  # the statement that validates
    conditions: tuple[Cond, ...]
    loops: tuple[Loop, ...]


@dataclass
class Problem:
    rule: str  # "RA101" | "RA102"
    node: ast.AST  # where to report
    message: str
    condition: ast.AST | None  # the test that excludes / schedules
    loop: Loop

    def counter(self) -> tuple[str, str] | None:
        """The loop counter the condition tests and its value at the last iteration, as code text."""
        names = set(_names(self.condition)) if self.condition is not None else set()
        for loop_names in (names, set(self.loop.targets) | set(self.loop.increments)):
            for scenario in self.loop.scenarios():
                for name in sorted(loop_names):
                    value = _value_at(self.loop, name, getattr(self.condition, "lineno", 0), scenario)
                    if value is not None:
                        return name, _render(value)
            for name in sorted(loop_names & (set(self.loop.targets) | set(self.loop.increments))):
                return name, ""
        return None


class _Walker:
    """Collects the validation sites of one outermost training loop, with the conditions that reach them."""

    def __init__(self, behaviour: Behaviour, scope: ast.AST):
        self.behaviour = behaviour
        self.scope = scope
        self.sites: list[Site] = []
        self.loops: dict[int, Loop] = {}

    def loop(self, node: ast.AST, conditions: tuple, loops: tuple) -> None:
        record = analyse_loop(node, self.behaviour, self.scope)
        self.loops[id(node)] = record
        self.block(node.body, conditions, loops + (record,))

    def block(self, body: list, conditions: tuple, loops: tuple) -> None:
        guards: list[Cond] = []
        for stmt in body:
            here = conditions + tuple(guards)
            if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
                if self.behaviour.trains_node(stmt):
                    self.loop(stmt, here, loops)
                elif self.behaviour.evaluates_node(stmt):
                    self.sites.append(Site(stmt, here, loops))
                continue
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(stmt, ast.If):
                gate = any(self.behaviour.trains_node(s) for s in stmt.body)  # a gradient-accumulation step: not a schedule
                if gate:
                    self.block(stmt.body, here, loops)
                    self.block(stmt.orelse, here, loops)
                else:
                    self.block(stmt.body, here + (Cond(stmt.test, True, stmt.lineno, stmt, loops),), loops)
                    self.block(stmt.orelse, here + (Cond(stmt.test, False, stmt.lineno, stmt, loops),), loops)
                leave = next((s for s in stmt.body if isinstance(s, (ast.Continue, ast.Break, ast.Return))), None)
                if leave is not None and not gate:  # reported at a bare `if last: continue`'s continue, else the if
                    guards.append(Cond(stmt.test, False, stmt.lineno, leave if len(stmt.body) == 1 else stmt, loops))
                continue
            if isinstance(stmt, (ast.With, ast.AsyncWith)):
                self.block(stmt.body, here, loops)
                continue
            if isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                self.block(stmt.body + stmt.orelse + stmt.finalbody, here, loops)
                continue
            if isinstance(stmt, ast.Match):
                for case in stmt.cases:
                    self.block(case.body, here, loops)
                continue
            if self.behaviour.evaluates_node(stmt):
                self.sites.append(Site(stmt, here, loops))


def _scenarios(loops: tuple[Loop, ...]) -> list[dict]:
    per_loop = [[(id(loop), s) for s in loop.scenarios()] for loop in loops]
    combos = list(itertools.islice(itertools.product(*per_loop), 64))
    return [dict(c) for c in combos]


def _site_formula(site: Site, scenario: dict, reach: bool = True):
    scenario = {key: {**value, "_site": site.node.lineno} for key, value in scenario.items()}
    parts = []
    for cond in site.conditions:
        f = _formula(cond.test, cond, scenario)
        parts.append(f if cond.polarity else ("not", [f]))
    # a site after a counter's `break` in the scenario that ends there: not reached in the last iteration
    for loop in site.loops if reach else ():
        end: Exit | None = scenario.get(id(loop), {}).get("_exit")
        if end is not None and end.leaves and site.node.lineno > end.leaves and \
                any(ln < end.leaves for ln in loop.training_lines):
            parts.append(NEVER)
    return ("and", parts)


def _site_verdict(site: Site, scenarios: list[dict]) -> str:
    found = {verdict(_site_formula(site, s)) for s in scenarios}
    if found == {VALIDATED}:
        return VALIDATED
    if found == {EXCLUDED}:
        return EXCLUDED
    return MISSED


def _cause(site: Site, scenarios: list[dict], kind: str) -> tuple[ast.AST, ast.AST | None]:
    """Where to report: the innermost condition that excludes the last step (RA101) or schedules it (RA102)."""
    for cond in reversed(site.conditions):
        one = Site(site.node, (cond,), site.loops)
        found = {verdict(_site_formula(one, s, reach=False)) for s in scenarios}
        if kind == EXCLUDED and found == {EXCLUDED}:
            return cond.cause, cond.test
        if kind == MISSED and MISSED in found and _has_maybe(cond, scenarios):
            return cond.cause, cond.test
    if kind == EXCLUDED:  # left by a counter's break before the site
        for loop in reversed(site.loops):
            for s in scenarios:
                end = s.get(id(loop), {}).get("_exit")
                if end is not None and end.leaves and site.node.lineno > end.leaves:
                    return end.node, None
    return site.node, None


def _has_maybe(cond: Cond, scenarios: list[dict]) -> bool:
    return any(v.kind == "maybe" for s in scenarios for v in _variables(_formula(cond.test, cond, s), set()))


def _training_loops(function_body: list, behaviour: Behaviour) -> Iterator[ast.AST]:
    """Outermost training loops of a function (or module) body, not entering nested definitions."""
    todo = list(function_body)
    while todo:
        stmt = todo.pop(0)
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            if behaviour.trains_node(stmt):
                yield stmt
                continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            todo.extend(getattr(stmt, name, None) or ())
        for part in getattr(stmt, "handlers", None) or getattr(stmt, "cases", None) or ():
            todo.extend(part.body)


def _validates_after(scope: ast.AST, loop: ast.AST, behaviour: Behaviour, scopes: NodeIndex) -> bool:
    """A validation in the same function after the loop, or after a call of that function in the module."""
    if _evaluates_after(scope, loop.end_lineno or loop.lineno, behaviour, scopes):
        return True
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for caller, owned in scopes.owned.items():
            for call in owned.calls:
                if caller is not scope and last_name(call.func) == scope.name \
                        and _evaluates_after(caller, call.end_lineno or call.lineno, behaviour, scopes):
                    return True
    return False


def _evaluates_after(scope: ast.AST, line: int, behaviour: Behaviour, scopes: NodeIndex) -> bool:
    """A validation after `line` in `scope`, outside the branches its constants rule out (`if do_test:` with
    `do_test = False`)."""
    owned = scopes.owned[scope]
    later = [c for c in owned.calls if c.lineno > line and behaviour.evaluates_call(c)] + [
        loop for loop in owned.loops if loop.lineno > line and _over_held_out(loop) and not behaviour.trains_node(loop)]
    if not later:
        return False
    dead = dead_spans(scope, behaviour.constants(scope))
    return any(not any(first <= node.lineno <= last for first, last in dead) for node in later)


def final_step_problems(ctx, configured: Iterable[str]) -> list[Problem]:
    """Every RA101/RA102 problem of a module (a ModuleContext), each reported once, never both on one line.
    Kept on the context: RA101 and RA102 report the two halves of one analysis."""
    configured = tuple(configured)
    found = ctx.__dict__.setdefault("_final_step_problems", {})
    if configured not in found:
        found[configured] = _problems(ctx, configured) if _may_apply(ctx.source) else []
    return found[configured]


# A module can only be flagged when it trains (the loop analysis) or empties a value (emptied metrics): a
# cheap look at the text before walking the tree.
_TRAINS_TEXT = re.compile(r"backward|\.step\(|train|fit_|optimi[sz]er_step")
_EMPTIES_TEXT = re.compile(r"=\s*(?:\{\s*\}|None|dict\(\)|OrderedDict\(\))|\.clear\(\)")


def _may_apply(source: str) -> bool:
    return _TRAINS_TEXT.search(source) is not None or _EMPTIES_TEXT.search(source) is not None


def _render(form: Linear) -> str:
    """{"args.epochs": 1, "": -1} -> "args.epochs - 1"."""
    text = ""
    for atom, coefficient in sorted(form.items(), key=lambda item: item[0] == ""):
        if atom == "" and coefficient == 0 and text:
            continue
        magnitude = abs(coefficient)
        term = str(magnitude) if atom == "" else atom if magnitude == 1 else f"{magnitude} * {atom}"
        sign = "-" if coefficient < 0 else "+"
        text = (f"-{term}" if sign == "-" else term) if not text else f"{text} {sign} {term}"
    return text or "0"


def _problems(ctx, configured: tuple[str, ...]) -> list[Problem]:
    emptying = [node for node in ctx.any_order(ast.If) if any(_empties(s, None) for s in _small(node.body))]
    trains = _trains_anywhere(ctx.any_order(ast.Call))
    if not trains and not emptying:
        return []
    scopes = ctx.node_index
    behaviour = Behaviour.of(scopes, configured)
    problems: list[Problem] = []
    if trains:
        for scope in scopes.owned:
            for outer in _training_loops(scope.body, behaviour):
                problems.extend(_loop_problems(scope, outer, behaviour, scopes))
    if emptying:
        problems.extend(_emptied(scopes, behaviour, set(map(id, emptying))))
    return _dedupe(problems)


def _trains_anywhere(calls: list[ast.Call]) -> bool:
    """Does any of these calls train (`Behaviour._trains_directly`)? Asked of every call of every module: the
    distinct names are looked at first, the calls themselves only for `.step()`."""
    names = set(map(last_name, [c.func for c in calls]))
    if "backward" in names or any(_TRAIN_CALL.match(name) for name in names if name):
        return True
    return "step" in names and any(Behaviour._trains_directly(c) for c in calls if last_name(c.func) == "step")


def _loop_problems(scope, outer, behaviour: Behaviour, scopes: NodeIndex) -> list[Problem]:
    walker = _Walker(behaviour, scope)
    walker.loop(outer, (), ())
    if not walker.sites:
        return []
    every = tuple(walker.loops.values())
    scenarios = _scenarios(every)
    unions = {verdict(("or", [_site_formula(site, s) for site in walker.sites])) for s in scenarios}
    if unions == {VALIDATED}:  # together (`if step % k == 0: ... elif last: ...`) they cover the last step
        return []
    verdicts = [(site, _site_verdict(site, scenarios)) for site in walker.sites]
    if _validates_after(scope, outer, behaviour, scopes):
        return []
    out = []
    for site, kind in verdicts:
        node, test = _cause(site, scenarios, kind)
        loop = site.loops[-1]
        if kind == EXCLUDED:
            out.append(Problem("RA101", node, _excluded_message(node), test, loop))
        elif test is not None:
            out.append(Problem("RA102", node, "periodic validation can miss the last step and nothing validates "
                                              "after the loop", test, loop))
    return out


def _excluded_message(node: ast.AST) -> str:
    if isinstance(node, ast.Continue):
        return "the last step skips the validation that follows (`continue`): the final step is never validated"
    if isinstance(node, (ast.Break, ast.Return)):
        return "the loop is left at the last step before the validation that follows runs"
    return "the validation's condition excludes the last step: the final step is never validated"


# -- emptied metrics ---------------------------------------------------------------------------------------------

def _emptied(scopes: NodeIndex, behaviour: Behaviour, candidates: set[int]) -> Iterator[Problem]:
    """`if <last step>: val_metrics = {}` (or `= None`, `.clear()`) inside a loop that trains or validates (in
    any other, `left_val = None` is no validation's result)."""
    for scope in scopes.owned:
        fed = None
        for loop in scopes.owned[scope].loops:
            ifs = [s for s in _loop_statements(loop) if id(s) in candidates]
            if not ifs or not (behaviour.trains_node(loop) or behaviour.evaluates_node(loop)):
                continue
            record = analyse_loop(loop, behaviour, scope)
            if fed is None:
                fed = _fed_by_validation(scopes.owned[scope].assigns, behaviour)
            for stmt in ifs:
                cond = Cond(stmt.test, True, stmt.lineno, stmt, (record,))
                if not _last_step_only(cond, record):
                    continue
                for small in _small(stmt.body):
                    if _empties(small, fed):
                        yield Problem("RA101", small, "the last step's validation metrics are emptied or replaced",
                                      stmt.test, record)


def _last_step_only(cond: Cond, loop: Loop) -> bool:
    """Holds at the last iteration, in every way the loop can end, because of the step (a comparison of a
    counter or a last-step flag), whatever the settings it is combined with."""
    for scenario in _scenarios((loop,)):
        formula = _formula(cond.test, cond, scenario)
        if not _step_leaves(formula) or not _holds_whatever_the_schedule(formula):
            return False
    return True


def _step_leaves(formula) -> bool:
    if formula in (ALWAYS, NEVER):
        return True
    return isinstance(formula, tuple) and any(_step_leaves(p) for p in formula[1])


def _holds_whatever_the_schedule(formula) -> bool:
    """True with every setting enabled, whatever the periodic schedules say."""
    variables = _variables(formula, set())
    maybes = [v for v in variables if v.kind == "maybe"]
    values = {v: True for v in variables if v.kind == "flag"}
    for maybe_values in itertools.product((True, False), repeat=len(maybes)):
        values.update(zip(maybes, maybe_values, strict=True))
        if not _truth(formula, values):
            return False
    return True


def _small(body: list) -> Iterator[ast.AST]:
    todo = list(body)
    while todo:
        stmt = todo.pop(0)
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if hasattr(stmt, "body"):
            todo.extend(stmt.body + list(getattr(stmt, "orelse", []) or []))
        else:
            yield stmt


def _empties(stmt: ast.AST, fed: set[str] | None) -> bool:
    """Empties a validation result (`fed` None: any name, for a first cheap look)."""
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None and _is_empty(stmt.value):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(fed is None or _is_validation_result(t, fed) for t in targets)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Attribute) \
            and stmt.value.func.attr == "clear" and not stmt.value.args:
        return fed is None or _is_validation_result(stmt.value.func.value, fed)
    return False


def _is_empty(value: ast.AST) -> bool:
    if isinstance(value, ast.Dict) and not value.keys:
        return True
    if isinstance(value, ast.Constant) and value.value is None:
        return True
    return isinstance(value, ast.Call) and last_name(value.func) in ("dict", "OrderedDict") and not value.args \
        and not value.keywords


def _is_validation_result(target: ast.AST, fed: set[str]) -> bool:
    name = last_name(target)
    if not name:
        return False
    return bool(_VALIDATION_RESULT.search(name)) or (name in fed and bool(_METRICS.search(name)))


def _fed_by_validation(assigns: list[ast.Assign], behaviour: Behaviour) -> set[str]:
    """Names assigned from a validation call in the function (`metrics = self._validate()`)."""
    names = set()
    for assign in assigns:
        if any(behaviour.evaluates_call(c) for c in _calls(assign.value)):
            names.update(n for n in (last_name(t) for t in assign.targets) if n)
    return names


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """One finding per line; RA101 wins over RA102 on the same line; an emptying line wins over its `if`."""
    emptied_ifs = {p.condition for p in problems if p.rule == "RA101" and isinstance(p.node, (ast.Assign, ast.AnnAssign, ast.Expr))}
    by_line: dict[int, Problem] = {}
    for p in problems:
        if isinstance(p.node, ast.If) and p.node.test in emptied_ifs:
            continue
        line = p.node.lineno
        kept = by_line.get(line)
        if kept is None or (kept.rule == "RA102" and p.rule == "RA101"):
            by_line[line] = p
    return [by_line[line] for line in sorted(by_line)]


# -- the rules' shared base -------------------------------------------------------------------------------------

# Every validation signal contains one of these (`eval`, `validate`, `test`, `estimate_loss`, held-out loops,
# a loss computed under `no_grad`):
# a file without any cannot be flagged.
EVALUATION_TEXT = ("val", "test", "estimate_loss", "holdout", "heldout", "no_grad", "inference_mode")


class FinalStepRule(ModuleRule):
    """RA101 and RA102 report the two halves of one analysis; the subclass says which (by its id)."""
    text = EVALUATION_TEXT

    def needs(self, config=None) -> Needs:
        configured = getattr(config, "validation_functions", None) or ()
        return Needs(text=self.text + tuple(name.rsplit(".", 1)[-1] for name in configured))

    def check(self, ctx):
        for problem in final_step_problems(ctx, ctx.config.validation_functions):
            if problem.rule == self.id:
                yield self.finding(problem.message, ctx.location(problem.node), _evidence(ctx, problem),
                                   anchor=ctx.anchor(problem.node))


def _evidence(ctx, problem: Problem) -> dict:
    """What a fix and a reader need: the condition's text and place, the loop counter and its last value."""
    evidence: dict = {}
    if problem.condition is not None:
        line, col = ctx.position(problem.condition)
        evidence["condition"] = ctx.text(problem.condition)
        evidence["condition_at"] = {"line": line, "col": col}
    counter = problem.counter()
    if counter is not None:
        evidence["counter"] = counter[0]
        if counter[1]:
            evidence["last_value"] = counter[1]
    evidence["loop_at"] = {"line": problem.loop.node.lineno}
    exclusion = _exclusion(problem, counter[0] if counter else None)
    if exclusion is not None:
        evidence["exclusion"] = ctx.text(exclusion)
    return evidence


def _exclusion(problem: Problem, counter: str | None) -> ast.AST | None:
    """In `periodic and not last`, the part that excludes the last step (what a fix takes out): a conjunct that
    tests the counter or a last/final flag and is not itself the `%` schedule."""
    test = problem.condition
    if problem.rule != "RA101" or not (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And)):
        return None
    for part in test.values:
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mod) for n in ast.walk(part)):
            continue
        names = {n.id for n in ast.walk(part) if isinstance(n, ast.Name)} | \
            {n.attr for n in ast.walk(part) if isinstance(n, ast.Attribute)}
        if (counter and counter in names) or any("last" in n.lower() or "final" in n.lower() for n in names):
            return part
    return None
