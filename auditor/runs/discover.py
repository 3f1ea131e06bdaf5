"""Finding the runs of a results directory: one walk, each run folder read by the reader of its format.

The walk never follows directory symlinks (so symlink loops and wandb's `latest-run` link cannot
repeat or trap it) and stops at a recognised run folder (its checkpoints are not walked). A file that
cannot be read or parsed is an RA001 finding naming the file and line or field; the rest is read.
With cache=True (the nightly), folders whose files are unchanged since the last discovery come from the
discovery cache (auditor.runs.discovery_cache) without being opened; the walk itself always runs.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from auditor import safe_read
from auditor.errors import InputError
from auditor.findings import Finding
from auditor.locations import FileLocation
from auditor.report.escape import printable
from auditor.meta import input_unreadable
from auditor.runs.normalize import normalize
from auditor.runs.parents import fold_parents
from auditor.runs.readers import guild, hydra, mlflow, native, sacred, tensorboard, wandb
from auditor.runs.readers.common import ReadError, load_json, read_text
from auditor.runs.record import Run, settle_liveness, stale_after_seconds

PARALLEL_THRESHOLD = 400  # run folders; below this a process pool costs more than it saves
SKIP_DIRS = {".git", "__pycache__", "node_modules", ".trash", "_sources", ".ipynb_checkpoints", ".venv",
             "site-packages", ".hg", ".svn"}


@dataclass
class Discovery:
    runs: list[Run] = field(default_factory=list)  # sorted by id, ids unique
    problems: list[Finding] = field(default_factory=list)  # RA001: unreadable files, duplicate ids
    errors: list[tuple[str, ReadError]] = field(default_factory=list)  # (run folder, error) behind problems

    # tracker parent runs that only group their children (auditor/runs/parents.py): not runs to audit
    parents: list[Run] = field(default_factory=list)
    results_dir: str = ""  # as given
    from_cache: int = 0  # run folders answered by the discovery cache (discover_runs(cache=True))

    def get(self, run_id: str) -> Run | None:
        return next((run for run in self.runs if run.id == run_id), None)

    def error_for(self, run_id: str) -> InputError | None:
        """Why `run_id` is not among the runs, when a broken record is the one it names (for exit 2)."""
        for folder, error in self.errors:
            if _error_concerns(folder, run_id, Path(self.results_dir)):
                return InputError(error.message, path=error.path, line=error.line, field=error.field)
        return None


@dataclass
class _Folder:
    path: str  # absolute
    display: str  # as the user named it: results dir as given + relative path
    rel: str  # relative to the results dir, '/'-separated ('' for the root)
    names: set[str]
    subdirs: list[str]


def _scan(path: str, display: str, rel: str) -> _Folder:
    names, subdirs = set(), []
    with os.scandir(path) as entries:
        for entry in entries:
            names.add(entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
            except OSError:
                continue
    return _Folder(path, display, rel, names, sorted(subdirs))


def _run_id_from_path(folder: _Folder, root_name: str) -> str:
    return folder.rel or root_name


def _read_json_record(folder: _Folder, root_name: str) -> list[Run]:
    """run.json is native unless it is Sacred's (experiment/host/status, no id)."""
    path, display = os.path.join(folder.path, "run.json"), os.path.join(folder.display, "run.json")
    text = read_text(path)
    if "config.json" in folder.names or '"experiment"' in text:
        try:
            data = load_json(path, text)
        except ReadError as exc:
            exc.path = display
            raise
        if sacred.is_sacred_record(data):
            return [sacred.from_files(folder.path, folder.display, data, _run_id_from_path(folder, root_name))]
    return native.read(folder.path, folder.display, {"run.json"})


def _classify(folder: _Folder) -> tuple[str | None, bool]:
    """(which reader reads this folder, whether to walk its subfolders), from the names alone."""
    names = folder.names
    if ".guild" in names and "attrs" in _safe_listdir(os.path.join(folder.path, ".guild")):
        return "guild", False
    if native.record_file(folder.path, names):
        return "native", False
    if hydra.is_run_folder(folder.path, names):
        return "hydra", False
    if wandb.is_run_folder(os.path.basename(folder.path), names):
        return "wandb", False
    if mlflow.is_run_folder(names):
        return "mlflow", False
    if "mlflow.db" in names or any(name.startswith(tensorboard.EVENT_PREFIX) for name in names):
        return "container", True  # holds runs, and more may sit below
    return None, True


def _safe_listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _read_folder(folder: _Folder, kind: str, seed_keys: list[str], root_name: str) -> list[Run]:
    names = folder.names
    if kind == "guild":
        return guild.read(folder.path, folder.display, names)
    if kind == "native":
        runs = (_read_json_record(folder, root_name) if native.record_file(folder.path, names) == "run.json"
                else native.read(folder.path, folder.display, names))
        if hydra.is_run_folder(folder.path, names):  # a native record beside Hydra's composed config
            for run in runs:
                if not run.config:
                    run.config = hydra.hydra_config(folder.path, folder.display)[0]
        return runs
    if kind == "hydra":
        return hydra.read(folder.path, folder.display, names, _run_id_from_path(folder, root_name), seed_keys)
    if kind == "wandb":
        return wandb.read(folder.path, folder.display, names)
    if kind == "mlflow":
        return mlflow.read(folder.path, folder.display, names)
    runs: list[Run] = []
    if "mlflow.db" in names:
        runs += mlflow.read_sqlite(os.path.join(folder.path, "mlflow.db"), os.path.join(folder.display, "mlflow.db"))
    if any(name.startswith(tensorboard.EVENT_PREFIX) for name in names):
        runs += tensorboard.read(folder.path, folder.display, names, _run_id_from_path(folder, root_name))
    return runs


def _read_safely(task: tuple) -> tuple[list[Run], ReadError | None, bool]:
    """One folder's runs, or the error that stopped it (one broken run must not stop the others), and
    whether that outcome is a function of the files alone (an OS error may be gone next time: not cached)."""
    folder, kind, seed_keys, root_name, key_map = task
    try:
        with safe_read.boundary(_results_root(folder)):  # no file symlinked from outside is read
            return [normalize(run, key_map) for run in _read_folder(folder, kind, seed_keys, root_name)], None, True
    except Exception as exc:
        transient = isinstance(exc, OSError) or isinstance(exc.__cause__, OSError)
        return [], _error_from(exc, folder), not transient


def _results_root(folder: _Folder) -> str:
    return folder.path[:len(folder.path) - len(folder.rel)].rstrip(os.sep) if folder.rel else folder.path


def _read_chunk(tasks: list[tuple]) -> list[tuple[list[Run], ReadError | None, bool]]:
    return [_read_safely(task) for task in tasks]


def _error_from(exc: BaseException, folder: _Folder) -> ReadError:
    if isinstance(exc, ReadError):
        return exc
    if isinstance(exc, OSError):
        where = exc.filename or folder.display
        if exc.filename and str(exc.filename).startswith(folder.path):
            where = str(exc.filename).replace(folder.path, folder.display, 1)
        return ReadError(f"cannot read: {exc.strerror or exc}", where)
    return ReadError(f"could not be parsed ({type(exc).__name__}: {exc})", folder.display)


def _problem(error: ReadError, config, extra: str = "") -> Finding:
    location = FileLocation(error.path, error.line or None)
    evidence = {"field": error.field} if error.field else {}
    prefix = f"{error.field}: " if error.field else ""
    return input_unreadable(f"{prefix}{error.message}{extra}", location, evidence, config=config)


def _walk(results_dir: Path) -> tuple[list[tuple[_Folder, str]], list[tuple[_Folder, ReadError]]]:
    """Every run folder with its reader, and the folders that could not be listed. Never follows symlinks."""
    root = os.path.abspath(results_dir)
    stack = [(root, str(results_dir), "")]
    found, unlisted = [], []
    while stack:
        path, display, rel = stack.pop()
        try:
            folder = _scan(path, display, rel)
        except OSError as exc:
            unlisted.append((_Folder(path, display, rel, set(), []),
                             ReadError(f"cannot list folder: {exc.strerror or exc}", display)))
            continue
        kind, descend = _classify(folder)
        if kind:
            found.append((folder, kind))
        if descend:
            tb_run = any(name.startswith(tensorboard.EVENT_PREFIX) for name in folder.names)
            for name in reversed(folder.subdirs):
                if not _utf8(name):  # surrogates would break every cache, report and JSON further on
                    shown = os.path.join(display, os.fsencode(name).decode("utf-8", "backslashreplace"))
                    unlisted.append((_Folder(os.path.join(path, name), shown, "", set(), []),
                                     ReadError("folder name is not UTF-8 text: not read", shown)))
                    continue
                if tb_run and tensorboard.HPARAMS_SUBDIR.match(name):
                    continue  # add_hparams' folder: read with the run above it
                if name not in SKIP_DIRS:
                    stack.append((os.path.join(path, name), os.path.join(display, name),
                                  f"{rel}/{name}" if rel else name))
    return found, unlisted


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _read_all(tasks: list[tuple], workers: int, bar=None) -> list[tuple[list[Run], ReadError | None, bool]]:
    """Read the folders, in a process pool when there are many (parsing YAML is the cost)."""
    if workers <= 1 or len(tasks) < PARALLEL_THRESHOLD:
        out = []
        for task in tasks:
            out.append(_read_safely(task))
            if bar is not None:
                bar.advance()
        return out
    from concurrent.futures import ProcessPoolExecutor

    size = max(50, len(tasks) // (workers * 4))
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            out = []
            for chunk in pool.map(_read_chunk, chunks):
                out += chunk
                if bar is not None:
                    bar.advance(len(chunk))
            return out
    except (OSError, RuntimeError):  # no processes available here: read in this one
        return _read_chunk(tasks)


def _workers(config) -> int:
    if config.runs.workers:
        return config.runs.workers
    return max(1, min(os.cpu_count() or 1, 8))


def _read_cached(results_dir: Path, folders: list[tuple[_Folder, str]], tasks: list[tuple], config,
                 workers: int, bar=None) -> tuple[list[tuple[list[Run], ReadError | None, bool]], int]:
    """Like _read_all (and how many folders the cache answered), but folders whose files have not changed
    since they were last read come from the discovery cache without being opened; the others are read."""
    from auditor.runs.discovery_cache import DiscoveryCache, encode, now_ns, settings_salt, signature

    store = DiscoveryCache(config.cache_dir, results_dir, settings_salt(config))
    outcomes: list = [None] * len(folders)
    todo: list[tuple[int, tuple[str, int] | None, int]] = []
    for index, (folder, kind) in enumerate(folders):
        started = now_ns()  # before the stat: a file changed after it is newer than this read
        sig = signature(folder.path, folder.names, kind, set(folder.subdirs))
        hit = store.lookup(folder.rel, sig)
        if hit is None:
            todo.append((index, sig, started))
        else:
            outcomes[index] = (*hit, True)
            if bar is not None:
                bar.advance()
    fresh = {}
    for (index, sig, started), outcome in zip(todo, _read_all([tasks[i] for i, _, _ in todo], workers, bar),
                                              strict=False):
        outcomes[index] = outcome
        runs, error, cacheable = outcome
        blob = encode(runs, error) if cacheable and sig is not None else None
        if blob is not None:
            fresh[folders[index][0].rel] = (sig[0], started, blob)
    store.save(fresh, {folder.rel for folder, _ in folders})
    return outcomes, store.hits


def discover_runs(results_dir: Path | str, config, *, cache: bool | None = None) -> Discovery:
    """Every run of the results directory. With the cache (by default; `[tool.auditor.runs] cache = false`
    or cache=False turns it off), unchanged run folders come from the discovery cache under
    config.cache_dir (see auditor.runs.discovery_cache) instead of being read and parsed again."""
    if cache is None:
        cache = config.runs.cache
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError("results directory not found", path=str(results_dir))
    discovery = Discovery(results_dir=str(results_dir))
    root = os.path.abspath(results_dir)
    root_name = os.path.basename(root.rstrip(os.sep)) or root
    folders, unlisted = _walk(results_dir)
    for folder, error in unlisted:
        discovery.errors.append((folder.path, error))
        discovery.problems.append(_problem(error, config))
    seed_keys = config.key_map.get("seed", [])
    tasks = [(folder, kind, seed_keys, root_name, config.key_map) for folder, kind in folders]
    found: list[Run] = []
    from auditor.progress import Progress

    with Progress("discover", len(tasks)) as bar:  # drawn only on an interactive terminal
        if cache:
            outcomes, discovery.from_cache = _read_cached(results_dir, folders, tasks, config, _workers(config), bar)
        else:
            outcomes = _read_all(tasks, _workers(config), bar)
    for (folder, _), (runs, error, _cacheable) in zip(folders, outcomes, strict=False):
        if error:
            discovery.errors.append((folder.path, error))
            discovery.problems.append(_problem(error, config, "; this run was not audited"))
        found.extend(runs)
    # After the cache, never inside it: whether a silent "running" run is dead depends on the clock.
    settle_liveness(found, time.time(), stale_after_seconds(config))
    found.sort(key=lambda run: (run.id, run.record_path or "", run.folder))
    for run in found:
        if discovery.runs and discovery.runs[-1].id == run.id:
            first = discovery.runs[-1]
            error = ReadError(f"duplicate run id {run.id!r} (also in {first.record_path}); this one was skipped",
                              run.record_path or run.folder)
            discovery.errors.append((run.folder, error))
            discovery.problems.append(_problem(error, config))
            continue
        discovery.runs.append(run)
    discovery.runs, discovery.parents = fold_parents(discovery.runs)
    for run, first in _look_alikes(discovery.runs):
        error = ReadError(f"run id {printable(run.id)!r} looks like {printable(first.id)!r} (also in "
                          f"{first.record_path or first.folder}): look-alike letters or invisible characters",
                          run.record_path or run.folder, field="id")
        discovery.problems.append(_problem(error, config))
    if not config.is_selected("RA001"):
        discovery.problems = []
    return discovery


# Latin look-alikes from Cyrillic and Greek (the usual homoglyph attacks); NFKC folds the rest (fullwidth...).
_HOMOGLYPHS = str.maketrans("аеорсхуіјѕԁһӏαοορτυνκιАВЕКМНОРСТХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
                            "aeopcxyijsdhlaooptuvkiABEKMHOPCTXIJSABEZHIKMNOPTYX")


def _skeleton(run_id: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKC", run_id).translate(_HOMOGLYPHS)
    return "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cc", "Mn"))


def _look_alikes(runs: list[Run]) -> list[tuple[Run, Run]]:
    """Pairs of distinct ids that read the same (homoglyphs, RLO and zero-width characters, combining marks)."""
    seen: dict[str, Run] = {}
    pairs = []
    for run in runs:
        first = seen.setdefault(_skeleton(run.id), run)
        if first is not run and first.id != run.id:
            pairs.append((run, first))
    return pairs


def _matches(run: Run, run_id: str, results_dir: Path) -> bool:
    if run.id == run_id or os.path.basename(run.folder.rstrip(os.sep)) == run_id:
        return True
    rel = os.path.relpath(run.folder, os.path.abspath(results_dir)).replace(os.sep, "/")
    return rel == run_id.strip("/")


def _error_concerns(folder: str, run_id: str, results_dir: Path) -> bool:
    parts = os.path.relpath(folder, os.path.abspath(results_dir)).replace(os.sep, "/").split("/")
    if run_id in parts or "/".join(parts) == run_id.strip("/"):
        return True
    for name in native.RECORD_NAMES:  # a broken record may still name its id: `id: q201-s0`
        try:
            text = safe_read.read_bytes(os.path.join(folder, name), results_dir, 1 << 20).decode("utf-8", "replace")
        except OSError:
            continue
        quoted = re.escape(run_id)
        if re.search(r'"id"\s*:\s*"' + quoted + '"', text) or re.search(
                r'^id\s*:\s*([\'"]?)' + quoted + r'\1\s*(#.*)?$', text, re.MULTILINE):
            return True
    return False


FORMATS = "run.yaml/run.json, W&B offline runs, MLflow stores, TensorBoard events, Hydra outputs, Sacred, Guild"


def nothing_found(results_dir: Path | str, unreadable: int = 0) -> InputError:
    """An empty or wrong folder is not a pass: say so (exit 2) instead of auditing nothing."""
    broken = f"; {unreadable} record(s) could not be read" if unreadable else ""
    return InputError(f"no runs found here (looked for {FORMATS}){broken}: is this the right folder?",
                      path=str(results_dir))


def allow_empty(config) -> bool:
    """[tool.auditor.runs] allow-empty = true: an empty results folder is fine (exit 0, nothing audited)."""
    return config.runs.allow_empty


def find_run(results_dir: Path | str, run_id: str, config) -> Run:
    """The run whose id or folder name is `run_id`; unknown or broken is an InputError (exit 2)."""
    results_dir = Path(results_dir)
    discovery = discover_runs(results_dir, config)
    exact = [run for run in discovery.runs if run.id == run_id]
    matches = exact or [run for run in discovery.runs if _matches(run, run_id, results_dir)]
    if len(matches) == 1:
        _refuse_duplicate(discovery, matches[0], results_dir)
        return matches[0]
    if len(matches) > 1:
        from auditor.runs.naming import ambiguous

        raise ambiguous(run_id, matches, "folder name")
    from auditor.runs.naming import ambiguous, by_display_name

    named = by_display_name(run_id, discovery.runs)
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise ambiguous(run_id, named)
    parent = next((run for run in discovery.parents if run_id in (run.id, run.name) or _matches(run, run_id, results_dir)),
                  None)
    if parent is not None:
        group = next((run.group for run in discovery.runs if run.parent == parent.id), parent.id)
        raise InputError(f"{run_id!r} is a parent run ({parent.source}) that only groups its child runs (group "
                         f"{group!r}): it trained nothing to audit; audit one of its children (`audit runs --where "
                         f"group={group}`) or compare the group", path=str(results_dir))
    broken = discovery.error_for(run_id)
    if broken:
        raise broken
    if not discovery.runs:
        raise nothing_found(results_dir, len(discovery.errors))
    from auditor.runs.naming import unknown_run_message

    raise InputError(unknown_run_message(run_id, discovery.runs), path=str(results_dir))


def _refuse_duplicate(discovery: Discovery, run: Run, results_dir: Path) -> None:
    """Two records claiming the id asked for: which one is meant is unknown, so auditing either is a guess."""
    marker = f"duplicate run id {run.id!r} "
    others = [error.path for _, error in discovery.errors if error.message.startswith(marker)]
    if others:
        where = ", ".join(str(p) for p in [run.record_path or run.folder, *others])
        raise InputError(f"run id {run.id!r} is recorded more than once ({where}): run ids must be unique "
                         "in a results directory", path=str(results_dir))
