"""One walk over a module that records, per function, the events the project index needs.

The walk uses Python's own `ast` over the module's source: it is an order of magnitude cheaper than
libcst's parse, and the index needs only names, calls and line numbers. Names resolve through the one
scope-aware resolver (auditor/code/resolve.py), as in every module rule.

The summary does not depend on the configuration (the engine caches it per file content): calls are
recorded with their qualified names, and the index decides which of them are the project's
configured seed helpers, quantization hooks or validation functions.
"""

from __future__ import annotations

import ast
import builtins
import re
from functools import cached_property

from auditor.code import apis
from auditor.code.index import MODULE_CODE, Event, FunctionSummary, ModuleSummary
from auditor.code.node_index import NodeIndex, child_fields, reversed_child_fields
from auditor.code.resolve import Resolver
from auditor.code.summary_text import mentions_optim
from auditor.code.resolve import dotted as _dotted  # the one definition of a plain name chain

_BUILTINS = frozenset(dir(builtins))


# Draws on a line or in a function with these words make names, ports and delays, not experiments.
_INCIDENTAL = frozenset({"sleep", "delay", "jitter", "backoff", "retry", "retries", "port", "uuid", "string",
                         "letters", "digits", "ascii", "suffix", "prefix", "tmp", "temp", "color", "colour",
                         "timeout", "wait", "hostname", "nonce", "token", "salt"})
_WORDS = re.compile(r"[a-z]+")
# Words in a function's name that say a determinism switch set to False there puts things back.
_RESTORE_WORDS = frozenset({"disable", "restore", "reset", "teardown", "tear", "cleanup", "exit", "undo", "revert"})
# Libraries whose functions are never the project's own (their calls are not recorded as plain calls).
_EXTERNAL = frozenset({
    "os", "sys", "re", "json", "math", "time", "logging", "collections", "typing", "itertools", "functools",
    "pathlib", "subprocess", "shutil", "copy", "warnings", "inspect", "dataclasses", "contextlib", "abc",
    "enum", "string", "io", "pickle", "glob", "tempfile", "argparse", "datetime", "threading", "asyncio",
    "multiprocessing", "socket", "hashlib", "uuid", "traceback", "operator", "textwrap", "importlib",
    "torch", "numpy", "scipy", "pandas", "tqdm", "yaml", "omegaconf", "packaging", "safetensors", "einops",
    "triton", "ray", "requests", "huggingface_hub", "datasets", "tokenizers", "PIL", "cv2",
})


_CONFIG_DUMPS = frozenset({"json.dump", "yaml.dump", "yaml.safe_dump", "omegaconf.OmegaConf.save", "toml.dump",
                           "pickle.dump"})
_CONFIG_WORDS = frozenset({"args", "arg", "params", "param", "hparams", "config", "cfg", "conf", "opt", "opts",
                           "hyperparameters", "settings", "flags"})


def _names_config(node) -> bool:
    """An expression that names the run's configuration: `vars(args)`, `cfg`, `params_file`,
    `os.path.join(out_dir, "hparams.yaml")` (for a call, its last argument is what is named)."""
    while isinstance(node, ast.Call) and _positional(node):
        node = _positional(node)[-1]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.Name):
        text = node.id
    elif isinstance(node, ast.Attribute):
        text = node.attr
    else:
        return False
    return bool(set(_WORDS.findall(text.lower())) & _CONFIG_WORDS)


def _wandb_config(name: str) -> bool:
    """`wandb.config`, `wandb.run.config`, or the config of a run object built by wandb.init()."""
    return name in ("wandb.config", "wandb.run.config") or (name.startswith("wandb.init()") and name.endswith(".config"))


def line_text(lines: list[str], line: int) -> str:
    """A line's text, whitespace normalized, as the summary quotes it."""
    return " ".join(lines[line - 1].split()) if 0 < line <= len(lines) else ""


def _incidental_words(text: str) -> bool:
    """Words that make a draw incidental (see Summarizer._incidental)."""
    words = set(_WORDS.findall(text.lower()))
    return bool(words & _INCIDENTAL) or any("seed" in w for w in words)


def _literal(node):
    """True/False/None/int for simple literals, otherwise the marker `...`."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, (bool, int))):
        return node.value
    return ...


def _kwarg(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _has_splat(call: ast.Call) -> bool:
    return any(kw.arg is None for kw in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args)


def _positional(call: ast.Call) -> list:
    return [a for a in call.args if not isinstance(a, ast.Starred)]


def _is_main_guard(test) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = (test.left, test.comparators[0])
    names = {n.id for n in sides if isinstance(n, ast.Name)}
    strings = {n.value for n in sides if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return names == {"__name__"} and strings == {"__main__"}


_QUANT_WORDS: dict[str, bool] = {}  # a name's last part -> _quant_word (the same names recur in every file)


def _quant_word(name: str) -> bool:
    found = _QUANT_WORDS.get(name)
    if found is None:
        low = name.lower()
        found = "dequant" not in low and any(word in low for word in apis.QUANT_NAME_WORDS)
        if len(_QUANT_WORDS) < 100_000:
            _QUANT_WORDS[name] = found
    return found


# A seed after a saved RNG state and before it is put back (or inside `fork_rng`) is temporary.
_RNG_SAVES = frozenset({"get_state", "getstate", "get_rng_state", "get_rng_state_all", "fork_rng"})
_RNG_RESTORES = frozenset({"set_state", "setstate", "set_rng_state", "set_rng_state_all"})


def _between(saves: list[int], line: int, restores: list[int]) -> bool:
    return any(s <= line for s in saves) and any(r >= line for r in restores)
_CLI_RUNNERS = ("fire.Fire", "typer.run", "jsonargparse.CLI", "jsonargparse.auto_cli")
# Every name _classify looks up only when it resolved: a call named in none of them skips those checks.
_KNOWN_NAMES = frozenset().union(
    apis.DETERMINISTIC_CALLS, apis.SEED_APIS, apis.CONSUME_APIS, apis.DATALOADERS, apis.DETERMINISTIC_TRAINERS,
    apis.TRACKER_STARTS, *apis.CONFIG_LOGGERS.values(), apis.QUANT_APIS, apis.LOAD_APIS, apis.LOCAL_GENERATORS)
_LOGGER_METHOD_ENDS = frozenset(m.rsplit(".", 1)[-1] for methods in apis.CONFIG_LOGGER_METHODS.values() for m in methods)


# Every method name a check of _classify looks for; with _plain_call, a call none of them can describe
# skips them all (most calls of a module).
_METHODS_LOOKED_AT = frozenset().union(
    apis.SEED_METHODS, _LOGGER_METHOD_ENDS, apis.HOOK_METHODS, apis.LOAD_METHODS, apis.TRAIN_METHODS,
    apis.LAUNCHER_NAMES, {"init_trackers", "apply", "prepare", "convert", "step", "zero_grad", "fit", "train",
                          "parse_args", "parse_known_args", "parse_args_into_dataclasses"})


def _plain_call(name: str, resolved: bool, method: str) -> bool:
    """A call whose name no table or check of _classify (the unknown-name part of it) can match."""
    last = name.rsplit(".", 1)[-1]
    return method not in _METHODS_LOOKED_AT and last not in apis.LAUNCHER_NAMES and name != "open" and \
        not (resolved and (name in _CONFIG_DUMPS or name in _CLI_RUNNERS)) and not _quant_word(last)


def _receiver_word(node) -> str:
    """The last identifier of a call's receiver: `self.optimizer.step` -> "optimizer"."""
    if isinstance(node, ast.Attribute):
        inner = node.value
        if isinstance(inner, ast.Name):
            return inner.id
        if isinstance(inner, ast.Attribute):
            return inner.attr
    return ""


_STATEMENT_LEVEL = (ast.stmt, ast.ExceptHandler, ast.match_case)


class _Made:
    """On the expression stack: the call whose arguments have all been visited."""
    __slots__ = ("call",)

    def __init__(self, call: ast.Call):
        self.call = call


class _Frame:
    def __init__(self, summary: FunctionSummary):
        self.summary = summary
        self.types: dict[str, str] = {}  # local name -> "qualified.Class()" of what it was built from
        self.nested: dict[str, str] = {}  # nested def name -> qualname
        self.callables: dict[str, list[str]] = {}  # local name -> the project callables assigned to it
        self.parses_args = False
        self.params: set[str] = set()
        self.conditions: list[tuple[ast.expr, bool]] = []  # the enclosing `if` tests and which branch
        self.rng_saves: list[int] = []  # lines that save an RNG state (`state = np.random.get_state()`)
        self.rng_restores: list[int] = []  # lines that put one back (`np.random.set_state(state)`)


_LEAF_NODES = frozenset({ast.Name, ast.Constant})  # no child, no call: never pushed
_THROUGH = frozenset({ast.Attribute, ast.keyword})  # one child (`value`) and nothing else of interest: skipped over


def _paren_lines(source: str) -> list[int] | None:
    """parens[n]: how many of the first n lines hold a "(" (None when the source has line endings other
    than "\n", whose line numbering this would not match)."""
    if "\r" in source:
        return None
    from itertools import accumulate, repeat
    from operator import contains

    lines = source.split("\n")
    return list(accumulate(map(contains, lines, repeat("(", len(lines))), initial=0))


class Summarizer(ast.NodeVisitor):
    def __init__(self, ctx, resolver: Resolver | None = None):
        """`ctx`: the module (a ModuleContext, or a _Source with the same attributes)."""
        self.ctx = ctx
        self.lines = ctx.lines
        self.tree = tree = ctx.tree
        self.mentions_optim = mentions_optim(ctx.source)
        self._optimized: set[tuple[int, str]] | None = None  # (function line, model ref) fed to optimizers
        self.module = ctx.module_name or ctx.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if resolver is None or resolver.module_name != self.module:
            resolver = Resolver(tree, self.module, ctx.is_package)
        self.resolver = resolver
        self.aliases, imported = self.resolver.aliases, self.resolver.imported_modules
        top = FunctionSummary(qualname=f"{self.module}.{MODULE_CODE}", line=1, text="")
        own = self.module + "."
        self.summary = ModuleSummary(path=ctx.path, module_name=self.module, imported_modules=sorted(imported),
                                     aliases={k: v for k, v in sorted(self.aliases.items())
                                              if not v.startswith(own) or "." in v[len(own):]})
        self.summary.functions[top.qualname] = top
        self.frames: list[_Frame] = [_Frame(top)]
        self.classes: list[str] = []  # qualnames of enclosing classes
        self.self_types: dict[str, dict[str, str]] = {}  # class -> self.attr -> type
        self.script_line = 0
        self.guards = 0  # enclosing `if` statements (the __main__ guard aside) and `finally` blocks
        self.parens = _paren_lines(ctx.source)
        self._texts: dict[int, str] = {}
        self._last_call: tuple = (None, None, False)  # (func, resolve(func)) of the last call met

    # -- helpers ---------------------------------------------------------------------------
    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def text(self, line: int) -> str:
        """The line's text, whitespace normalized (several events often share a line). Every text read lands
        in the summary, as an event's, a function's or an entry point's text: `retext` re-reads them all."""
        found = self._texts.get(line)
        if found is None:
            found = self._texts[line] = line_text(self.lines, line)
        return found

    def add(self, kind: str, target: str, node, **detail) -> None:
        if kind == "consume":
            requires = _parameter_conditions(self.frame)
            if requires:
                detail["requires"] = requires
        self.frame.summary.events.append(Event(kind, target, node.lineno, node.col_offset, self.text(node.lineno),
                                               detail))

    def qualified(self, node) -> str | None:
        return self.resolver.qualified_name(node)

    def resolve(self, node) -> tuple[str | None, bool]:
        """Qualified name of an expression and whether it went through the import/def table or a known type."""
        dotted = _dotted(node)
        if dotted is not None:
            head, _, rest = dotted.partition(".")
            if head in ("self", "cls") and self.classes and rest:
                attr, _, more = rest.partition(".")
                cls = self.classes[-1]
                known = self.self_types.get(cls, {}).get(attr)
                if known and more:
                    return f"{known}.{more}", True
                if more:  # self.attr.method() on an attribute of unknown type
                    return dotted, False
                return f"{cls}.{rest}", True
            for frame in reversed(self.frames):
                if head in frame.types:
                    return (frame.types[head] + ("." + rest if rest else "")), True
                if head in frame.nested:
                    return (frame.nested[head] + ("." + rest if rest else "")), True
            first = node
            while first.__class__ is ast.Attribute:
                first = first.value
            names, bound = self.resolver.dotted_names(head, rest, (first.lineno, first.col_offset))
            if bound:
                return (min(names) if names else None), True
            return dotted, False
        return self.qualified(node), False

    # -- structure -------------------------------------------------------------------------
    def _qualname(self, name: str) -> str:
        if len(self.frames) > 1:
            return f"{self.frame.summary.qualname}.{name}"
        if self.classes:
            return f"{self.classes[-1]}.{name}"
        return f"{self.module}.{name}"

    # -- the walk -------------------------------------------------------------------------------
    # The same visits as ast.NodeVisitor (depth first, fields in order) at a fraction of its cost: statements
    # dispatch to their visit_ method by type; an expression holds no statement, and inside it only calls
    # record anything, so it is walked with a plain stack (and skipped outright when its lines hold no "(").
    def walk(self, node) -> None:
        if isinstance(node, (*_STATEMENT_LEVEL, ast.mod)):
            _STMT_DISPATCH.get(node.__class__, Summarizer.generic_visit)(self, node)
        else:
            self.visit_expression(node)

    def generic_visit(self, node) -> None:
        for name in child_fields(node.__class__):
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, _STATEMENT_LEVEL):
                        _STMT_DISPATCH.get(item.__class__, Summarizer.generic_visit)(self, item)
                    elif isinstance(item, ast.AST):
                        self.visit_expression(item)
            elif isinstance(value, ast.AST):
                self.visit_expression(value)

    def visit_expression(self, root) -> None:
        if root.__class__ in _LEAF_NODES:
            return
        end = getattr(root, "end_lineno", None)
        parens = self.parens
        if end is not None and parens is not None and parens[end] == parens[root.lineno - 1]:
            return  # no "(" on its lines: no call under it
        stack = [root]
        pop, push, call, is_ast, leaves, through = stack.pop, stack.append, ast.Call, ast.AST, _LEAF_NODES, _THROUGH
        while stack:
            node = pop()
            cls = node.__class__
            if cls is _Made:
                self._call(node.call)  # after its arguments: they are evaluated before the call runs
                continue
            if cls is call:
                push(_Made(node))
            for name in reversed_child_fields(cls):  # reversed field order: the first child is popped first
                value = getattr(node, name, None)
                if value.__class__ is list:
                    for item in reversed(value):
                        while item.__class__ in through:  # `a.b.c`, `key=value`: only their value matters
                            item = item.value
                        if item.__class__ not in leaves and isinstance(item, is_ast):
                            push(item)
                else:
                    while value.__class__ in through:
                        value = value.value
                    if value.__class__ not in leaves and isinstance(value, is_ast):
                        push(value)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for dec in node.decorator_list:
            self.visit_expression(dec)
        qual = self._qualname(node.name)
        bases = [name for name, _ in (self.resolve(b) for b in node.bases) if name]
        self.summary.classes[qual] = bases
        self.classes.append(qual)
        for stmt in node.body:
            _STMT_DISPATCH.get(stmt.__class__, Summarizer.generic_visit)(self, stmt)
        self.classes.pop()

    def visit_FunctionDef(self, node) -> None:
        for dec in node.decorator_list:
            self.visit_expression(dec)
        qual = self._qualname(node.name)
        if len(self.frames) > 1:
            self.frame.nested[node.name] = qual
        summary = FunctionSummary(qualname=qual, line=node.lineno, text=self.text(node.lineno),
                                  cls=self.classes[-1] if self.classes and len(self.frames) == 1 else "")
        summary.entry = self._decorator_entry(node)
        self.summary.functions[qual] = summary
        self.frames.append(_Frame(summary))
        self.frame.params = {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
        guards, self.guards = self.guards, 0  # a function body runs unconditionally once called
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit_expression(default)
        for stmt in node.body:
            _STMT_DISPATCH.get(stmt.__class__, Summarizer.generic_visit)(self, stmt)
        frame = self.frames.pop()
        self.guards = guards
        for ev in frame.summary.events:  # `numpy_seed(s)`: saves the state, seeds for a block, restores it
            if ev.kind == "seed" and _between(frame.rng_saves, ev.line, frame.rng_restores):
                ev.detail["scoped"] = True
        if frame.parses_args and not frame.summary.entry:
            frame.summary.entry = "argparse"

    visit_AsyncFunctionDef = visit_FunctionDef

    def _decorator_entry(self, node) -> str:
        for dec in node.decorator_list:
            expr = dec.func if isinstance(dec, ast.Call) else dec
            name, resolved = self.resolve(expr)
            if not name:
                continue
            if name == "hydra.main":
                return "hydra"
            root = name.split(".")[0]
            if resolved and root in ("click", "typer") and name.rsplit(".", 1)[-1] in ("command", "group", "main"):
                return "click"
            # @cli.command() / @app.command(): a click group or typer app defined in this module
            if isinstance(dec, ast.Call) and isinstance(expr, ast.Attribute) and \
                    isinstance(expr.value, ast.Name) and expr.attr in ("command", "callback"):
                return "click"
        return ""

    def _top_level(self) -> bool:
        return len(self.frames) == 1 and not self.classes

    def visit_If(self, node: ast.If) -> None:
        if self._top_level() and _is_main_guard(node.test):
            top = self.frame.summary
            if not top.entry:
                top.entry, top.line, top.text = "main-guard", node.lineno, self.text(node.lineno)
            self.generic_visit(node)
            return
        self.visit_expression(node.test)
        self.guards += 1
        for branch, holds in ((node.body, True), (node.orelse, False)):
            self.frame.conditions.append((node.test, holds))
            for stmt in branch:
                _STMT_DISPATCH.get(stmt.__class__, Summarizer.generic_visit)(self, stmt)
            self.frame.conditions.pop()
        self.guards -= 1

    def visit_Try(self, node) -> None:
        for stmt in [*node.body, *node.handlers, *node.orelse]:
            _STMT_DISPATCH.get(stmt.__class__, Summarizer.generic_visit)(self, stmt)
        self.guards += 1
        for stmt in node.finalbody:
            _STMT_DISPATCH.get(stmt.__class__, Summarizer.generic_visit)(self, stmt)
        self.guards -= 1

    visit_TryStar = visit_Try

    def _restores_default(self, value) -> bool:
        """A determinism switch set back to torch's default (False) where it reads as a restore or a choice:
        under a condition, in a `finally`, or in a function that disables, restores, resets or tears down."""
        if value is not False:
            return False
        if self.guards:
            return True
        words = set(_WORDS.findall(" ".join(f.summary.qualname.rsplit(".", 1)[-1].lower() for f in self.frames[1:])))
        return bool(words & _RESTORE_WORDS)

    def visit_Expr(self, node: ast.Expr) -> None:
        if self._top_level() and not self.script_line and isinstance(node.value, ast.Call):
            self.script_line = node.lineno
        self.generic_visit(node)

    def _script_statement(self, node) -> None:
        if self._top_level() and not self.script_line:
            self.script_line = node.lineno
        self.generic_visit(node)

    visit_For = visit_While = visit_With = visit_AsyncFor = visit_AsyncWith = _script_statement

    # -- assignments: types of locals, determinism switches, tracker config ------------------
    def _built(self, value) -> str | None:
        if isinstance(value, ast.Call):
            last = self._last_call  # the value's own call was the last one met (its arguments come before it)
            name, resolved = last[1:] if last[0] is value.func else self.resolve(value.func)
            if name and resolved and "()" not in name:
                return f"{name}()"
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit_expression(node.value)  # the value runs first; then the names are bound
        built = self._built(node.value)
        self._builds_trained_model(node.targets, node.value)
        for target in node.targets:
            self._assigned(target, node.value, built, node)
            if not isinstance(target, ast.Name):
                self.visit_expression(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit_expression(node.value)
            self._assigned(node.target, node.value, self._built(node.value), node)

    def _assigned(self, target, value, built: str | None, node) -> None:
        if isinstance(target, ast.Name):
            self._note_callable(target.id, value)
            if built:
                self.frame.types[target.id] = built
            else:
                self.frame.types.pop(target.id, None)
            return
        if isinstance(target, ast.Attribute):
            dotted = _dotted(target)
            if dotted and dotted.startswith("self.") and dotted.count(".") == 1 and self.classes and built:
                self.self_types.setdefault(self.classes[-1], {})[target.attr] = built
            name, _ = self.resolve(target)
            if name in apis.CUDNN_BENCHMARK:
                self.add("determinism", name, node, setting="benchmark", value=_literal(value) if _literal(value) is not ... else "?")
            elif name in apis.CUDNN_DETERMINISTIC:
                self.add("determinism", name, node, setting="deterministic", value=_literal(value) if _literal(value) is not ... else "?",
                         restores=self._restores_default(_literal(value)))
            elif name and _wandb_config(name.rsplit(".", 1)[0]):
                self.add("config_log", name, node, tracker="wandb")  # wandb.config.lr = ..., run.config.lr = ...
        elif isinstance(target, ast.Subscript):
            name, _ = self.resolve(target.value)
            if name and _wandb_config(name):
                self.add("config_log", name, node, tracker="wandb")

    def _builds_trained_model(self, targets, value) -> None:
        """`model = create_model(args.model, ...)` whose parameters are later given to an optimizer: whatever
        builds it (a registry, a factory behind a variable, a config's `instantiate`) draws the initial weights,
        seen or not. A call that wraps, moves or loads the model (`DDP(model)`, `model.to(dev)`,
        `from_pretrained`) builds nothing new."""
        if not isinstance(value, ast.Call):
            return
        if self._optimized is None:  # every optimizer call this looks for names "optim" somewhere in the file
            self._optimized = _optimized_refs(self.ctx.node_index, self.resolver) if self.mentions_optim else set()
        if not self._optimized:
            return
        names = {_dotted(t) for t in _flat_targets(targets)} - {None}
        scope = self.frame.summary.line if len(self.frames) > 1 else 0
        if not any((scope, n) in self._optimized or (n.startswith("self.") and (-1, n) in self._optimized)
                   for n in names):
            return
        name, _ = self.resolve(value.func)
        if not name or name.rsplit(".", 1)[-1] in apis.LOAD_METHODS or name in apis.LOAD_APIS:
            return
        inputs = {_dotted(n) for n in ast.walk(value) if isinstance(n, (ast.Name, ast.Attribute))}
        if names & inputs:
            return
        self.add("consume", name, value, rng="torch", strength="init", builds="model")

    def _note_callable(self, local: str, value) -> None:
        """`model_class = CLIP` (in each branch of an `if`): a later `model_class(...)` may call any of them.
        Assignments add up, as branches would, rather than replace each other."""
        if len(self.frames) > 1 and isinstance(value, (ast.Name, ast.Attribute)):
            name, resolved = self.resolve(value)
            if name and resolved and "()" not in name and name.split(".", 1)[0] not in _EXTERNAL:
                self.frame.callables.setdefault(local, []).append(name)

    # -- calls (met in visit_expression) --------------------------------------------------------
    def _call(self, node: ast.Call) -> None:
        func, frame = node.func, self.frames[-1]
        method = func.attr if func.__class__ is ast.Attribute else ""
        if method in _RNG_SAVES:
            frame.rng_saves.append(node.lineno)
            if method == "fork_rng":  # `with torch.random.fork_rng(): ...` restores on leaving
                frame.rng_restores.append(node.end_lineno or node.lineno)
        elif method in _RNG_RESTORES:
            frame.rng_restores.append(node.lineno)
        if func.__class__ is ast.Name and func.id in frame.callables:
            for target in frame.callables[func.id]:
                self.add("call", target, node, resolved=True)
            return
        name, resolved = self.resolve(func)
        self._last_call = (func, name, resolved)
        if not name:
            return
        if self._classify(node, name, resolved, method):
            return
        if not resolved and "." not in name and name in _BUILTINS:
            return
        if resolved and name.split(".", 1)[0] in _EXTERNAL and not self.module.startswith(name.split(".", 1)[0]):
            return  # a library call never resolves to a project function
        passed = {}
        if node.keywords:
            literals = _keyword_literals(node)
            if literals:
                passed["literals"] = literals
            forwards = {kw.arg: kw.value.id for kw in node.keywords
                        if kw.arg and isinstance(kw.value, ast.Name) and kw.value.id in frame.params}
            if forwards:  # `get_feature_iterator(sample_pct=sample_pct)`: a constant given to this function goes on
                passed["forwards"] = forwards
        self.add("call", name, node, resolved=resolved, **passed)

    def _classify(self, node: ast.Call, name: str, resolved: bool, method: str) -> bool:
        """Record what a library call does; True when it was fully described (no plain call event)."""
        # `known`: one lookup instead of a dozen for the many calls no API table names
        known = resolved and name in _KNOWN_NAMES
        if not known and _plain_call(name, resolved, method):
            return False
        has_args = bool(node.args) or bool(node.keywords)
        if known and name in apis.DETERMINISTIC_CALLS:
            args = _positional(node)
            value = _literal(args[0]) if args else True
            self.add("determinism", name, node, setting="algorithms", value=value if value is not ... else "?",
                     restores=self._restores_default(value))
        if known and name in apis.SEED_APIS:
            if name not in apis.SEED_NEEDS_ARGUMENT or has_args:
                self.add("seed", name, node, rngs=sorted(apis.SEED_APIS[name]))
                return True
        if method in apis.SEED_METHODS and not (known and name in apis.SEED_APIS):
            self.add("seed", name, node, rngs=sorted(apis.ALL_RNGS))
            return True
        if known and name in apis.LOCAL_GENERATORS and has_args:
            return True  # a private generator with its own seed: neither seeds nor draws from the process's RNGs
        if known and name in apis.CONSUME_APIS:
            if any(_kwarg(node, k) is not None for k in apis.CONSUME_UNLESS_KWARG.get(name, ())):
                return True
            if name in apis.CONSUME_ONLY_IF_SHUFFLE and _literal(_kwarg(node, "shuffle")) is not True:
                return True
            rng, strength = apis.CONSUME_APIS[name]
            if name in apis.TENSOR_DRAWS:
                strength = "tensor"
            if strength in ("draw", "tensor") and self._incidental(node):
                strength = "incidental"  # a random name, port or retry delay: not part of the experiment
            device = _kwarg(node, "device")
            if rng == "torch" and device is not None and "cuda" in ast.unparse(device):
                rng = "cuda"
            self.add("consume", name, node, rng=rng, strength=strength)
            return True
        if known and name in apis.DATALOADERS:
            self._dataloader(node, name)
            return True
        if known and name in apis.DETERMINISTIC_CALLS:
            return True
        if known and name in apis.DETERMINISTIC_TRAINERS:
            value = _literal(_kwarg(node, "deterministic")) if _kwarg(node, "deterministic") is not None else None
            if value is not None:
                self.add("determinism", name, node, setting="trainer", value=value if value is not ... else "?")
            self.add("train", name, node, how="trainer")
            return True
        if known and name in apis.TRACKER_STARTS:
            tracker = apis.TRACKER_STARTS[name]
            config = _kwarg(node, "config")
            has_config = _has_splat(node) or (config is not None and _literal(config) is not None)
            resumes = tracker == "mlflow" and _kwarg(node, "run_id") is not None
            self.add("tracker", name, node, tracker=tracker, config=has_config, resumes=resumes)
            return True
        if self._writes_config(node, name, resolved):
            self.add("config_log", name, node, tracker="file")
            return False
        if method == "init_trackers":
            has_config = _has_splat(node) or len(_positional(node)) >= 2 or _kwarg(node, "config") is not None
            self.add("tracker", name, node, tracker="accelerate", config=has_config)
            return True
        for tracker, loggers in apis.CONFIG_LOGGERS.items() if known else ():
            if name in loggers:
                self.add("config_log", name, node, tracker=tracker)
                return True
        if method in _LOGGER_METHOD_ENDS:  # the last part of a name in CONFIG_LOGGER_METHODS
            for tracker, methods in apis.CONFIG_LOGGER_METHODS.items():
                if any(name.endswith("." + m) for m in methods):
                    self.add("config_log", name, node, tracker=tracker)
                    return True
        if (known and name in apis.QUANT_APIS) or _quant_word(name.rsplit(".", 1)[-1]):
            self.add("quant", name, node)
            return False
        if method in apis.HOOK_METHODS or method == "apply":
            args = _positional(node)
            hook = args[0] if args else None
            hook_name = (self.resolve(hook)[0] or "") if hook is not None else ""
            if _quant_word(hook_name.rsplit(".", 1)[-1] if hook_name else ""):
                self.add("quant", hook_name, node, via=method)
                return True
            if hook is not None and isinstance(hook, (ast.Name, ast.Attribute)) and hook_name:
                # the hook runs on every forward (apply: on every module): what it does is on the path from here
                self.add("call", hook_name, node, resolved=self.resolve(hook)[1], hook=method)
        if method in ("prepare", "convert") and "quantiz" in _receiver_word(node.func).lower():
            self.add("quant", name, node)  # torchtune's `quantizer.prepare(model)`
            return False
        if known and name in apis.LOAD_APIS or method in apis.LOAD_METHODS:
            self.add("load", name, node)
            return method == "" and name in apis.LOAD_APIS
        if method in apis.TRAIN_METHODS:
            self.add("train", name, node, how=method)
            return True
        if method in ("step", "zero_grad"):
            word = _receiver_word(node.func).lower()
            if "optim" in word or "sched" in word or "scaler" in word or word in ("opt", "optim"):
                self.add("train", name, node, how=method)
                return True
        if method in ("fit", "train") and "trainer" in _receiver_word(node.func).lower():
            self.add("train", name, node, how="fit")
        self._launches(node, name, method)
        if method in ("parse_args", "parse_known_args", "parse_args_into_dataclasses") and len(self.frames) > 1:
            self.frame.parses_args = True
        if resolved and name in _CLI_RUNNERS and node.args and _positional(node):
            self._cli_targets(node, _positional(node)[0])
            return True
        return False

    def _cli_targets(self, node: ast.Call, given) -> None:
        """`fire.Fire(main)` runs main from here. `CLI({"train": train, "eval": evaluate})` (a table of
        subcommands, given as a literal or a module-level name bound to one) runs one of them per invocation:
        each is a program of its own, an entry point not called from here."""
        table = self._module_literal(given.id) if isinstance(given, ast.Name) else None
        table = table if table is not None else given
        if isinstance(table, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
            for item in table.values if isinstance(table, ast.Dict) else table.elts:
                target, resolved = self.resolve(item) if isinstance(item, (ast.Name, ast.Attribute)) else (None, False)
                if target and resolved:
                    self.add("entry_call", target, node)
            return
        target, _ = self.resolve(given)
        if target:
            self.add("entry_call", target, node)
            self.add("call", target, node, resolved=True)  # the CLI runs it from here

    def _module_literal(self, name: str):
        """The dict/list/tuple literal a module-level `NAME = {...}` binds (the last such binding), else None."""
        found = None
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None and \
                    isinstance(stmt.value, (ast.Dict, ast.List, ast.Tuple, ast.Set)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found = stmt.value
        return found

    def _writes_config(self, node: ast.Call, name: str, resolved: bool) -> bool:
        """The run's arguments written to a file of their own: `open(params_file, "w")`, `json.dump(vars(args), f)`,
        `OmegaConf.save(cfg, path)`, `yaml.dump(config, f)`."""
        args = _positional(node)
        if not args:
            return False
        if name == "open" and not resolved:
            mode = args[1] if len(args) > 1 else _kwarg(node, "mode")
            writes = isinstance(mode, ast.Constant) and isinstance(mode.value, str) and "w" in mode.value
            return writes and _names_config(args[0])
        if resolved and name in _CONFIG_DUMPS:
            return _names_config(args[0])
        return False

    def _incidental(self, node: ast.Call) -> bool:
        # `opt.manualSeed = random.randint(1, 10000)`, `def set_seed(seed=None)`: drawing a seed to seed with
        return _incidental_words(self.text(node.lineno)) or \
            any(_incidental_words(frame.summary.qualname.rsplit(".", 1)[-1]) for frame in self.frames[1:])

    def _launches(self, node: ast.Call, name: str, method: str) -> None:
        """`mp.spawn(main, ...)`, `Process(target=run)`, `fabric.launch(main)`, `call_main(cfg, main)`: the function
        handed over is the program's body, so it is recorded as called from here."""
        if (method or name.rsplit(".", 1)[-1]) not in apis.LAUNCHER_NAMES:
            return
        given = [kw.value for kw in node.keywords if kw.arg in apis.LAUNCHER_KWARGS]
        args = _positional(node)
        if not given and args:
            # call_main(cfg, main): the function is not always first
            given = [a for a in args if isinstance(a, (ast.Name, ast.Attribute))][:2]
        for value in given:
            if not isinstance(value, (ast.Name, ast.Attribute)):
                continue
            target, resolved = self.resolve(value)
            if target and target not in _BUILTINS:
                self.add("call", target, node, resolved=resolved, launched=True)

    def _dataloader(self, node: ast.Call, name: str) -> None:
        shuffle = _literal(_kwarg(node, "shuffle")) if _kwarg(node, "shuffle") is not None else False
        args = _positional(node)
        if len(args) >= 3 and _kwarg(node, "shuffle") is None:
            shuffle = _literal(args[2])
        workers_node = _kwarg(node, "num_workers")
        workers = _literal(workers_node) if workers_node is not None else 0
        sampler = _kwarg(node, "sampler") is not None or _kwarg(node, "batch_sampler") is not None
        self.add("dataloader", name, node, shuffle=shuffle is True and not sampler,
                 workers=workers if isinstance(workers, int) and workers is not True else "?",
                 generator=_kwarg(node, "generator") is not None,
                 worker_init_fn=_kwarg(node, "worker_init_fn") is not None, splat=_has_splat(node))
        if shuffle is True and not sampler and _kwarg(node, "generator") is None and not _has_splat(node):
            self.add("consume", name, node, rng="torch", strength="loader")

    def finish(self) -> ModuleSummary:
        top = self.summary.functions[f"{self.module}.{MODULE_CODE}"]
        if not top.entry and self.script_line:
            top.entry = "script"  # the index keeps it only if no other module imports this one
            top.line = self.script_line
            top.text = self.text(top.line)
        return self.summary


_LITERAL_TYPES = (int, float, bool, str, type(None))
_COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
                ast.Is: "==", ast.IsNot: "!="}


def _keyword_literals(call: ast.Call) -> dict:
    """`f(sample_pct=1.0)`: the constants a call gives by name (the callee's draws may be dead under them)."""
    return {kw.arg: kw.value.value for kw in call.keywords
            if kw.arg and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, _LITERAL_TYPES)}


def _parameter_conditions(frame: "_Frame") -> list:
    """The enclosing `if <parameter> <op> <constant>` tests, as [parameter, op, constant, branch taken]."""
    out = []
    for test, holds in frame.conditions:
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Name) and \
                test.left.id in frame.params and type(test.ops[0]) in _COMPARISONS and \
                isinstance(test.comparators[0], ast.Constant) and isinstance(test.comparators[0].value, _LITERAL_TYPES):
            out.append([test.left.id, _COMPARISONS[type(test.ops[0])], test.comparators[0].value, holds])
    return out


def _flat_targets(targets) -> list:
    out = []
    for t in targets:
        out.extend(_flat_targets(t.elts) if isinstance(t, (ast.Tuple, ast.List)) else [t])
    return out


def _optimized_refs(index: NodeIndex, resolver: Resolver) -> set[tuple[int, str]]:
    """The models whose parameters a function of this module hands to an optimizer: `Adam(model.parameters())`,
    `create_optimizer_v2(model, ...)`, `instantiate(cfg.optimizer, self._model.parameters())`, or hands to a
    function of this module that does (`do_train(cfg, model)`). Keyed by the line of the function that does
    it (0: module code); `self.x` refs by -1, as any method may build them."""
    found: set[tuple[int, str]] = set()
    signatures = {f.name: (f.lineno, [a.arg for a in [*f.args.posonlyargs, *f.args.args]]) for f in index.functions}
    calls = [(0 if owner is index.tree else owner.lineno, call)
             for owner, owned in index.owned.items() for call in owned.calls]
    for scope, call in calls:
        how = _optimizer_call(call, resolver)
        for ref in _model_refs(call, how) if how else ():
            found.add((-1 if ref.startswith("self.") else scope, ref))
    for scope, call in calls:
        given = _optimized_arguments(call, signatures, found)
        found.update((-1 if ref.startswith("self.") else scope, ref) for ref in given)
    return found


def _optimized_arguments(call: ast.Call, signatures, found) -> set[str]:
    """The arguments a call hands to parameters its callee (a function of this module) optimizes."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) and _dotted(func.value) == "self" else None
    if name not in signatures:
        return set()
    line, params = signatures[name]
    if isinstance(func, ast.Attribute):
        params = params[1:]  # self
    wanted = {p for p in params if (line, p) in found}
    given = dict(zip(params, call.args, strict=False)) | {k.arg: k.value for k in call.keywords if k.arg}
    return {_dotted(v) for p, v in given.items() if p in wanted and _dotted(v)}


# `create_optimizer_v2`, and factories of an optimizer with something else (`create_optimizer_and_scheduler`,
# nanotron's `init_optimizer_and_grad_accumulator`)
_OPTIMIZER_FACTORY = re.compile(r"^_*(create|build|make|get|setup|init|configure)_?\w*optim(izer|iser)?s?(_v\d+)?"
                                r"(_and_\w+)?$", re.IGNORECASE)
_MODEL_KEYWORDS = ("model", "models", "module", "net", "network")
_NOT_A_MODEL = ("optim", "param", "group", "cfg", "conf", "arg", "opt", "device", "step", "lr")


def _optimizer_call(call: ast.Call, resolver: Resolver) -> str:
    """"builds" for `torch.optim.AdamW(...)` and `create_optimizer_v2(...)` (their model or parameters are
    arguments); "config" for `config.instantiate(cfg_optimizer, model.parameters())`; "" otherwise."""
    name = resolver.qualified_name(call.func) or _dotted(call.func) or ""
    if (name.startswith("torch.optim.") and ".lr_scheduler." not in name) or \
            _OPTIMIZER_FACTORY.match(name.rsplit(".", 1)[-1]):
        return "builds"
    first = _dotted(call.args[0]).lower() if call.args and _dotted(call.args[0]) else ""
    return "config" if "optim" in first and ("cfg" in first or "conf" in first) else ""


def _model_refs(call: ast.Call, how: str) -> set[str]:
    refs = set()
    # create_optimizer(model, ...), build_optimizer(cfg, model), init_optimizer(model=self.model)
    named = [k.value for k in call.keywords if k.arg in _MODEL_KEYWORDS]
    for given in [*call.args, *named] if how == "builds" else ():
        name = _dotted(given) if isinstance(given, (ast.Name, ast.Attribute)) else None
        if name and not any(w in name.lower() for w in _NOT_A_MODEL):
            refs.add(name)
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                    sub.func.attr in ("parameters", "named_parameters") and _dotted(sub.func.value):
                refs.add(_dotted(sub.func.value))
    return refs


_STMT_DISPATCH = {cls: getattr(Summarizer, "visit_" + cls.__name__) for cls in (
    ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.If, ast.Expr, ast.For, ast.While, ast.With, ast.AsyncFor,
    ast.AsyncWith, ast.Assign, ast.AnnAssign, ast.Try, *([ast.TryStar] if hasattr(ast, "TryStar") else []))}


class _Source:
    """What the summary needs of a module (a ModuleContext has the same attributes)."""

    def __init__(self, path: str, source: str, module_name: str, is_package: bool, tree: ast.Module):
        self.path, self.source, self.module_name, self.is_package, self.tree = path, source, module_name, is_package, tree

    @cached_property
    def lines(self) -> list[str]:
        return self.source.splitlines()

    @cached_property
    def node_index(self) -> NodeIndex:
        return NodeIndex.of(self.tree)


def summarize_source(path: str, source: str, module_name: str, is_package: bool) -> ModuleSummary:
    """The summary of a module's text (parsed here)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ModuleSummary(path=path, module_name=module_name)  # nothing to index
    return summarize_module(_Source(path, source, module_name, is_package, tree))


def retext(summary: ModuleSummary, source: str) -> bool:
    """Re-read every line `summary` quotes from `source`, a version of its module with every line of code the
    same text at the same line and the same whole_text_facts (only comments differ: analysis.Layout.lines):
    its summary differs only in those texts. False (`summary` is then half done) when a text that changed
    could change more than itself: a draw's line decides whether the draw is incidental."""
    lines = source.splitlines()
    top = summary.functions.get(f"{summary.module_name}.{MODULE_CODE}")
    for function in summary.functions.values():
        if function is not top or top.entry:  # the module's code quotes a line only as an entry point's
            function.text = line_text(lines, function.line)
        for event in function.events:
            text = line_text(lines, event.line)
            if event.kind == "consume" and text != event.text and \
                    _incidental_words(text) != _incidental_words(event.text):
                return False
            event.text = text
    return True


def summarize_module(ctx, resolver: Resolver | None = None) -> ModuleSummary:
    """The summary of a parsed module: a ModuleContext (its node index shared with the module rules)."""
    walker = Summarizer(ctx, resolver)
    walker.walk(ctx.tree)
    return walker.finish()
