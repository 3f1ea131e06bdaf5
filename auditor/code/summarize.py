"""One walk over a module that records, per function, the events the project index needs.

The walk uses Python's own `ast` over the module's source: it is an order of magnitude cheaper than
libcst's parse plus PositionProvider, and the index needs only names, calls and line numbers. Names
resolve through the same kind of import table as auditor/code/imports.py (aliases, relative imports,
module-level definitions).

The summary does not depend on the configuration (the engine caches it per file content): calls are
recorded with their qualified names, and the index decides which of them are the project's
configured seed helpers, quantization hooks or validation functions.
"""

from __future__ import annotations

import ast
import builtins
import re

from auditor.code import apis
from auditor.code.index import MODULE_CODE, Event, FunctionSummary, ModuleSummary
from auditor.code.relative import resolve_relative

_BUILTINS = frozenset(dir(builtins))
# Tokens whose absence means a file can neither start a program nor do anything the index tracks.
_RELEVANT = re.compile(
    r"seed|random|rand|cudnn|determinis|quant|mxfp|nvfp|load|pretrained|wandb|mlflow|SummaryWriter|"
    r"init_trackers|__main__|hydra|click|typer|argparse|parse_args|DataLoader|backward|nn\.|Linear|"
    r"train_test_split|Trainer|fire|validat|evaluat|optim|step\(|config|log_param|add_hparams|add_text"
)


# Draws on a line or in a function with these words make names, ports and delays, not experiments.
_INCIDENTAL = frozenset({"sleep", "delay", "jitter", "backoff", "retry", "retries", "port", "uuid", "string",
                         "letters", "digits", "ascii", "suffix", "prefix", "tmp", "temp", "color", "colour",
                         "timeout", "wait", "hostname", "nonce", "token", "salt"})
_WORDS = re.compile(r"[a-z]+")
# Libraries whose functions are never the project's own (their calls are not recorded as plain calls).
_EXTERNAL = frozenset({
    "os", "sys", "re", "json", "math", "time", "logging", "collections", "typing", "itertools", "functools",
    "pathlib", "subprocess", "shutil", "copy", "warnings", "inspect", "dataclasses", "contextlib", "abc",
    "enum", "string", "io", "pickle", "glob", "tempfile", "argparse", "datetime", "threading", "asyncio",
    "multiprocessing", "socket", "hashlib", "uuid", "traceback", "operator", "textwrap", "importlib",
    "torch", "numpy", "scipy", "pandas", "tqdm", "yaml", "omegaconf", "packaging", "safetensors", "einops",
    "triton", "ray", "requests", "huggingface_hub", "datasets", "tokenizers", "PIL", "cv2",
})


def needs_summary(source: str) -> bool:
    return _RELEVANT.search(source) is not None


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


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


def _quant_word(name: str) -> bool:
    low = name.lower()
    return "dequant" not in low and any(word in low for word in apis.QUANT_NAME_WORDS)


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


def _statements(tree: ast.Module):
    """The statements of `ast.walk(tree)`, in its order, without entering expressions (which hold no
    statements, so no import is missed; they are most of a module's nodes)."""
    from collections import deque

    todo = deque([tree])
    while todo:
        node = todo.popleft()
        todo.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, _STATEMENT_LEVEL))
        yield node


def import_table(tree: ast.Module, module_name: str, is_package: bool) -> tuple[dict[str, str], set[str]]:
    """local name -> qualified name, and the imported modules (see auditor/code/imports.py)."""
    aliases: dict[str, str] = {}
    modules: set[str] = set()
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.name)
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    aliases.setdefault(top, top)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_relative(module_name, is_package, node.level, node.module) if node.level else \
                (node.module or "")
            if not base:
                continue
            modules.add(base)
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    if module_name:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                aliases.setdefault(node.name, f"{module_name}.{node.name}")
    return aliases, modules


class _Frame:
    def __init__(self, summary: FunctionSummary):
        self.summary = summary
        self.types: dict[str, str] = {}  # local name -> "qualified.Class()" of what it was built from
        self.nested: dict[str, str] = {}  # nested def name -> qualname
        self.parses_args = False


_LEAVES = (ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop)
_DISPATCH: dict[tuple[type, type], object] = {}


class Summarizer(ast.NodeVisitor):
    def __init__(self, ctx, tree: ast.Module):
        self.lines = ctx.source.splitlines()
        self.module = ctx.module_name or ctx.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        self.aliases, imported = import_table(tree, ctx.module_name, ctx.is_package)
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

    # -- helpers ---------------------------------------------------------------------------
    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def text(self, line: int) -> str:
        return " ".join(self.lines[line - 1].split()) if 0 < line <= len(self.lines) else ""

    def add(self, kind: str, target: str, node, **detail) -> None:
        self.frame.summary.events.append(Event(kind, target, node.lineno, node.col_offset, self.text(node.lineno),
                                               detail))

    def qualified(self, node) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            base = self.qualified(node.func)
            return f"{base}()" if base else None
        return None

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
            if head in self.aliases:
                return self.qualified(node), True
            return dotted, False
        return self.qualified(node), False

    # -- structure -------------------------------------------------------------------------
    def _qualname(self, name: str) -> str:
        if len(self.frames) > 1:
            return f"{self.frame.summary.qualname}.{name}"
        if self.classes:
            return f"{self.classes[-1]}.{name}"
        return f"{self.module}.{name}"

    # -- the walk: ast.NodeVisitor's, with its per-node method lookup cached per class and the leaf
    # nodes without names or calls (Load/Store, operators) skipped; a third of the summary's cost.
    def visit(self, node) -> None:
        key = (type(self), node.__class__)
        method = _DISPATCH.get(key)
        if method is None:
            method = _DISPATCH[key] = getattr(type(self), "visit_" + node.__class__.__name__, type(self).generic_visit)
        method(self, node)

    def generic_visit(self, node) -> None:
        for name in node._fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST) and not isinstance(item, _LEAVES):
                        self.visit(item)
            elif isinstance(value, ast.AST) and not isinstance(value, _LEAVES):
                self.visit(value)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        qual = self._qualname(node.name)
        bases = [name for name, _ in (self.resolve(b) for b in node.bases) if name]
        self.summary.classes[qual] = bases
        self.classes.append(qual)
        for stmt in node.body:
            self.visit(stmt)
        self.classes.pop()

    def visit_FunctionDef(self, node) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        qual = self._qualname(node.name)
        if len(self.frames) > 1:
            self.frame.nested[node.name] = qual
        summary = FunctionSummary(qualname=qual, line=node.lineno, text=self.text(node.lineno),
                                  cls=self.classes[-1] if self.classes and len(self.frames) == 1 else "")
        summary.entry = self._decorator_entry(node)
        self.summary.functions[qual] = summary
        self.frames.append(_Frame(summary))
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for stmt in node.body:
            self.visit(stmt)
        frame = self.frames.pop()
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
            name, resolved = self.resolve(value.func)
            if name and resolved and "()" not in name:
                return f"{name}()"
        return None

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)  # the value runs first; then the names are bound
        built = self._built(node.value)
        for target in node.targets:
            self._assigned(target, node.value, built, node)
            if not isinstance(target, ast.Name):
                self.visit(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._assigned(node.target, node.value, self._built(node.value), node)

    def _assigned(self, target, value, built: str | None, node) -> None:
        if isinstance(target, ast.Name):
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
                self.add("determinism", name, node, setting="deterministic", value=_literal(value) if _literal(value) is not ... else "?")
            elif name and name.startswith("wandb.config."):
                self.add("config_log", name, node, tracker="wandb")
        elif isinstance(target, ast.Subscript):
            name, _ = self.resolve(target.value)
            if name == "wandb.config":
                self.add("config_log", name, node, tracker="wandb")

    # -- calls -----------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        self._call(node)
        self.generic_visit(node)

    def _call(self, node: ast.Call) -> None:
        name, resolved = self.resolve(node.func)
        if not name:
            return
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if self._classify(node, name, resolved, method):
            return
        if not resolved and "." not in name and name in _BUILTINS:
            return
        if resolved and name.split(".", 1)[0] in _EXTERNAL and not self.module.startswith(name.split(".", 1)[0]):
            return  # a library call never resolves to a project function
        self.add("call", name, node, resolved=resolved)

    def _classify(self, node: ast.Call, name: str, resolved: bool, method: str) -> bool:
        """Record what a library call does; True when it was fully described (no plain call event)."""
        args = _positional(node)
        has_args = bool(node.args) or bool(node.keywords)
        if name in apis.DETERMINISTIC_CALLS and resolved:
            value = _literal(args[0]) if args else True
            self.add("determinism", name, node, setting="algorithms", value=value if value is not ... else "?")
        if name in apis.SEED_APIS and resolved:
            if name not in apis.SEED_NEEDS_ARGUMENT or has_args:
                self.add("seed", name, node, rngs=sorted(apis.SEED_APIS[name]))
                return True
        if name in apis.CONSUME_APIS and resolved:
            if any(_kwarg(node, k) is not None for k in apis.CONSUME_UNLESS_KWARG.get(name, ())):
                return True
            if name in apis.CONSUME_ONLY_IF_SHUFFLE and _literal(_kwarg(node, "shuffle")) is not True:
                return True
            rng, strength = apis.CONSUME_APIS[name]
            if strength == "draw" and self._incidental(node):
                strength = "incidental"  # a random name, port or retry delay: not part of the experiment
            device = _kwarg(node, "device")
            if rng == "torch" and device is not None and "cuda" in ast.unparse(device):
                rng = "cuda"
            self.add("consume", name, node, rng=rng, strength=strength)
            return True
        if name in apis.DATALOADERS and resolved:
            self._dataloader(node, name)
            return True
        if name in apis.DETERMINISTIC_CALLS and resolved:
            return True
        if name in apis.DETERMINISTIC_TRAINERS and resolved:
            value = _literal(_kwarg(node, "deterministic")) if _kwarg(node, "deterministic") is not None else None
            if value is not None:
                self.add("determinism", name, node, setting="trainer", value=value if value is not ... else "?")
            self.add("train", name, node, how="trainer")
            return True
        if name in apis.TRACKER_STARTS and resolved:
            tracker = apis.TRACKER_STARTS[name]
            config = _kwarg(node, "config")
            has_config = _has_splat(node) or (config is not None and _literal(config) is not None)
            resumes = tracker == "mlflow" and _kwarg(node, "run_id") is not None
            self.add("tracker", name, node, tracker=tracker, config=has_config, resumes=resumes)
            return True
        if method == "init_trackers":
            has_config = _has_splat(node) or len(args) >= 2 or _kwarg(node, "config") is not None
            self.add("tracker", name, node, tracker="accelerate", config=has_config)
            return True
        for tracker, loggers in apis.CONFIG_LOGGERS.items():
            if name in loggers and resolved:
                self.add("config_log", name, node, tracker=tracker)
                return True
        if method:
            for tracker, methods in apis.CONFIG_LOGGER_METHODS.items():
                if any(name.endswith("." + m) for m in methods):
                    self.add("config_log", name, node, tracker=tracker)
                    return True
        if (name in apis.QUANT_APIS and resolved) or _quant_word(name.rsplit(".", 1)[-1]):
            self.add("quant", name, node)
            return False
        if method in apis.HOOK_METHODS or method == "apply":
            hook = args[0] if args else None
            hook_name = (self.resolve(hook)[0] or "") if hook is not None else ""
            if _quant_word(hook_name.rsplit(".", 1)[-1] if hook_name else ""):
                self.add("quant", hook_name, node, via=method)
                return True
        if name in apis.LOAD_APIS and resolved or method in apis.LOAD_METHODS:
            self.add("load", name, node)
            return method == "" and name in apis.LOAD_APIS
        if method in apis.TRAIN_METHODS:
            self.add("train", name, node, how=method)
            return True
        if method in ("step", "zero_grad"):
            word = _receiver_word(node.func).lower()
            if "optim" in word or "sched" in word or word in ("opt", "optim"):
                self.add("train", name, node, how=method)
                return True
        if method in ("parse_args", "parse_known_args", "parse_args_into_dataclasses") and len(self.frames) > 1:
            self.frame.parses_args = True
        if name in ("fire.Fire", "typer.run", "jsonargparse.CLI", "jsonargparse.auto_cli") and resolved and args:
            target, _ = self.resolve(args[0])
            if target:
                self.add("entry_call", target, node)
                self.add("call", target, node, resolved=True)  # the CLI runs it from here
            return True
        return False

    def _incidental(self, node: ast.Call) -> bool:
        words = set(_WORDS.findall(self.text(node.lineno).lower()))
        for frame in self.frames[1:]:
            words.update(_WORDS.findall(frame.summary.qualname.rsplit(".", 1)[-1].lower()))
        return bool(words & _INCIDENTAL)

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
            self.add("consume", name, node, rng="torch", strength="draw")

    def finish(self) -> ModuleSummary:
        top = self.summary.functions[f"{self.module}.{MODULE_CODE}"]
        if not top.entry and self.script_line:
            top.entry = "script"  # the index keeps it only if no other module imports this one
            top.line = self.script_line
            top.text = self.text(top.line)
        return self.summary


class _Source:
    """What the summary needs of a module (a ModuleContext has the same attributes)."""

    def __init__(self, path: str, source: str, module_name: str, is_package: bool):
        self.path, self.source, self.module_name, self.is_package = path, source, module_name, is_package


def summarize_source(path: str, source: str, module_name: str, is_package: bool, tree=None) -> ModuleSummary:
    if tree is None:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return ModuleSummary(path=path, module_name=module_name)  # nothing to index
    walker = Summarizer(_Source(path, source, module_name, is_package), tree)
    walker.visit(tree)
    return walker.finish()


def summarize(ctx) -> ModuleSummary:
    return summarize_source(ctx.path, ctx.source, ctx.module_name, ctx.is_package)
