"""One walk over a module's CST that records, per function, the events the project index needs.

The summary does not depend on the configuration (the engine caches it per file content): calls are
recorded with their qualified names, and the index decides which of them are the project's
configured seed helpers, quantization hooks or validation functions.
"""

from __future__ import annotations

import builtins
import re

import libcst as cst

from auditor.code import apis
from auditor.code.index import MODULE_CODE, Event, FunctionSummary, ModuleSummary

_BUILTINS = frozenset(dir(builtins))
# Tokens whose absence means a file can neither start a program nor do anything the index tracks.
_RELEVANT = re.compile(
    r"seed|random|rand|cudnn|determinis|quant|mxfp|nvfp|load|pretrained|wandb|mlflow|SummaryWriter|"
    r"init_trackers|__main__|hydra|click|typer|argparse|parse_args|DataLoader|backward|nn\.|Linear|"
    r"train_test_split|Trainer|fire|validat|evaluat|optim|step\("
)


# Draws on a line or in a function with these words make names, ports and delays, not experiments.
_INCIDENTAL = frozenset({"sleep", "delay", "jitter", "backoff", "retry", "retries", "port", "uuid", "string",
                         "letters", "digits", "ascii", "suffix", "prefix", "tmp", "temp", "color", "colour",
                         "timeout", "wait", "hostname", "nonce", "token", "salt"})
_WORDS = re.compile(r"[a-z]+")


def needs_summary(source: str) -> bool:
    return _RELEVANT.search(source) is not None


def _dotted(node) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def _literal(node):
    """True/False/None/int for simple literals, otherwise the marker `...`."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer):
        try:
            return int(node.value.replace("_", ""), 0)
        except ValueError:
            return ...
    return ...


def _kwarg(call: cst.Call, name: str):
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _has_splat(call: cst.Call) -> bool:
    return any(arg.star in ("*", "**") for arg in call.args)


def _positional(call: cst.Call) -> list[cst.BaseExpression]:
    return [arg.value for arg in call.args if arg.keyword is None and not arg.star]


def _is_main_guard(test: cst.BaseExpression) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    left, right = test.left, test.comparisons[0].comparator
    names = {n.value for n in (left, right) if isinstance(n, cst.Name)}
    strings = {s.evaluated_value for s in (left, right) if isinstance(s, cst.SimpleString)}
    return names == {"__name__"} and strings == {"__main__"}


def _quant_word(name: str) -> bool:
    low = name.lower()
    return "dequant" not in low and any(word in low for word in apis.QUANT_NAME_WORDS)


def _receiver_word(node) -> str:
    """The last identifier of a call's receiver: `self.optimizer.step` -> "optimizer"."""
    if isinstance(node, cst.Attribute):
        inner = node.value
        if isinstance(inner, cst.Name):
            return inner.value
        if isinstance(inner, cst.Attribute):
            return inner.attr.value
    return ""


class _Frame:
    def __init__(self, summary: FunctionSummary):
        self.summary = summary
        self.types: dict[str, str] = {}  # local name -> "qualified.Class()" of what it was built from
        self.nested: dict[str, str] = {}  # nested def name -> qualname
        self.parses_args = False


class Summarizer(cst.CSTVisitor):
    def __init__(self, ctx):
        self.ctx = ctx
        self.aliases = ctx.aliases
        self.module = ctx.module_name or ctx.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        top = FunctionSummary(qualname=f"{self.module}.{MODULE_CODE}", line=1, text="")
        self.summary = ModuleSummary(path=ctx.path, module_name=self.module,
                                     imported_modules=sorted(ctx.imported_modules),
                                     aliases={k: v for k, v in sorted(ctx.aliases.items())
                                              if not v.startswith(self.module + ".") or "." in v[len(self.module) + 1:]})
        self.summary.functions[top.qualname] = top
        self.frames: list[_Frame] = [_Frame(top)]
        self.classes: list[str] = []  # qualnames of enclosing classes
        self.self_types: dict[str, dict[str, str]] = {}  # class -> self.attr -> type
        self.script_line = 0

    # -- helpers ---------------------------------------------------------------------------
    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def add(self, kind: str, target: str, node: cst.CSTNode, **detail) -> None:
        line, col = self.ctx.position(node)
        self.frame.summary.events.append(Event(kind, target, line, col, self.ctx.anchor(node), detail))

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
                return self.ctx.qualified_name(node), True
            return dotted, False
        return self.ctx.qualified_name(node), False

    # -- structure -------------------------------------------------------------------------
    def _qualname(self, name: str) -> str:
        if len(self.frames) > 1:
            return f"{self.frame.summary.qualname}.{name}"
        if self.classes:
            return f"{self.classes[-1]}.{name}"
        return f"{self.module}.{name}"

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        qual = self._qualname(node.name.value)
        bases = []
        for arg in node.bases:
            name, _ = self.resolve(arg.value)
            if name:
                bases.append(name)
        self.summary.classes[qual] = bases
        self.classes.append(qual)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        qual = self._qualname(node.name.value)
        if len(self.frames) > 1:
            self.frame.nested[node.name.value] = qual
        line, _ = self.ctx.position(node.name)
        summary = FunctionSummary(qualname=qual, line=line, text=self.ctx.anchor(node.name),
                                  cls=self.classes[-1] if self.classes and len(self.frames) == 1 else "")
        summary.entry = self._decorator_entry(node)
        self.summary.functions[qual] = summary
        self.frames.append(_Frame(summary))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        frame = self.frames.pop()
        if frame.parses_args and not frame.summary.entry:
            frame.summary.entry = "argparse"

    def _decorator_entry(self, node: cst.FunctionDef) -> str:
        for dec in node.decorators:
            expr = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            name, resolved = self.resolve(expr)
            if not name:
                continue
            if name == "hydra.main":
                return "hydra"
            root = name.split(".")[0]
            if resolved and root in ("click", "typer") and name.rsplit(".", 1)[-1] in ("command", "group", "main"):
                return "click"
            # @cli.command() / @app.command(): a click group or typer app defined in this module
            if isinstance(dec.decorator, cst.Call) and isinstance(expr, cst.Attribute) and \
                    isinstance(expr.value, cst.Name) and expr.attr.value in ("command", "callback"):
                return "click"
        return ""

    def visit_If(self, node: cst.If) -> None:
        if len(self.frames) == 1 and not self.classes and _is_main_guard(node.test):
            top = self.frame.summary
            if not top.entry:
                line, _ = self.ctx.position(node)
                top.entry, top.line, top.text = "main-guard", line, self.ctx.anchor(node)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(self.frames) == 1 and not self.classes and not self.script_line:
            if any(isinstance(s, cst.Expr) and isinstance(s.value, cst.Call) for s in node.body):
                self.script_line = self.ctx.position(node)[0]

    def _script_statement(self, node) -> None:
        if len(self.frames) == 1 and not self.classes and not self.script_line:
            self.script_line = self.ctx.position(node)[0]

    def visit_For(self, node: cst.For) -> None:
        self._script_statement(node)

    def visit_While(self, node: cst.While) -> None:
        self._script_statement(node)

    def visit_With(self, node: cst.With) -> None:
        self._script_statement(node)

    # -- assignments: types of locals, determinism switches, tracker config ------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        built = None
        if isinstance(value, cst.Call):
            name, resolved = self.resolve(value.func)
            if name and resolved and "()" not in name:
                built = f"{name}()"
        for target in node.targets:
            self._assigned(target.target, value, built, node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            built = None
            if isinstance(node.value, cst.Call):
                name, resolved = self.resolve(node.value.func)
                if name and resolved and "()" not in name:
                    built = f"{name}()"
            self._assigned(node.target, node.value, built, node)

    def _assigned(self, target, value, built: str | None, node) -> None:
        if isinstance(target, cst.Name):
            if built:
                self.frame.types[target.value] = built
            else:
                self.frame.types.pop(target.value, None)
            return
        if isinstance(target, cst.Attribute):
            dotted = _dotted(target)
            if dotted and dotted.startswith("self.") and dotted.count(".") == 1 and self.classes and built:
                self.self_types.setdefault(self.classes[-1], {})[target.attr.value] = built
            name, _ = self.resolve(target)
            if name in apis.CUDNN_BENCHMARK:
                self.add("determinism", name, node, setting="benchmark", value=_literal(value) if _literal(value) is not ... else "?")
            elif name in apis.CUDNN_DETERMINISTIC:
                self.add("determinism", name, node, setting="deterministic", value=_literal(value) if _literal(value) is not ... else "?")
            elif name and name.startswith("wandb.config."):
                self.add("config_log", name, node, tracker="wandb")
        elif isinstance(target, cst.Subscript):
            name, _ = self.resolve(target.value)
            if name == "wandb.config":
                self.add("config_log", name, node, tracker="wandb")

    # -- calls -----------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        name, resolved = self.resolve(node.func)
        if not name:
            return
        method = node.func.attr.value if isinstance(node.func, cst.Attribute) else ""
        if self._classify(node, name, resolved, method):
            return
        if not resolved and "." not in name and name in _BUILTINS:
            return
        self.add("call", name, node, resolved=resolved)

    def _classify(self, node: cst.Call, name: str, resolved: bool, method: str) -> bool:
        """Record what a library call does; True when it was fully described (no plain call event)."""
        args = _positional(node)
        has_args = bool(args) or any(a.keyword is not None or a.star for a in node.args)
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
            if rng == "torch" and device is not None and "cuda" in self.ctx.anchor(device):
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

    def _incidental(self, node: cst.Call) -> bool:
        words = set(_WORDS.findall(self.ctx.anchor(node).lower()))
        for frame in self.frames[1:]:
            words.update(_WORDS.findall(frame.summary.qualname.rsplit(".", 1)[-1].lower()))
        return bool(words & _INCIDENTAL)

    def _dataloader(self, node: cst.Call, name: str) -> None:
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
            lines = self.ctx.lines
            top.text = " ".join(lines[top.line - 1].split()) if top.line <= len(lines) else ""
        return self.summary


def summarize(ctx) -> ModuleSummary:
    walker = Summarizer(ctx)
    ctx.tree.visit(walker)
    return walker.finish()
