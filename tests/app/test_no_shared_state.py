"""No mutable state shared between sessions by accident.

Every session of a Streamlit server runs in the same process. ``app.py`` and the pages in ``pages/`` are
executed anew, in a fresh module, on every script run, so their top-level names last one run of one
session, as long as nothing imports them as modules (checked here). The modules in ``dashboard/`` are
imported once per server: a mutable object bound at their top level (a list, dict or set, a comprehension,
an object a call returns) is shared by every session, and so is what a shared cache returns
(``st.cache_resource``, ``functools.cache``; not ``st.cache_data``, which hands out copies), wherever it is
defined. Each must be immutable or listed below with the reason sharing it is safe; a ``global`` statement
is never allowed. The checks parse the source (ast).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_SCRIPTS = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
MODULES = sorted((ROOT / "dashboard").glob("*.py"))
TOOLING = ("dashboard.client", "dashboard.server")  # for tests and benchmarks; the app never imports them

# Calls whose result cannot change, or is made to be shared by a whole process.
SAFE_CALLS = {
    "frozenset", "tuple", "str", "int", "float", "bool", "bytes", "range", "Path", "MappingProxyType",
    "types.MappingProxyType", "re.compile", "logging.getLogger", "TypeVar", "namedtuple", "NamedTuple",
    "st.Page", "st.fragment",
}  # fmt: skip
SHARED_CACHES = ("st.cache_resource", "functools.cache", "functools.lru_cache", "cache", "lru_cache", "once")

# Mutable top-level objects and shared caches, each with the reason sharing it between sessions is safe.
SHARED = {
    # Tooling: the server never imports these modules (test_the_app_never_imports_the_tooling).
    "dashboard/client.py:ALERTS": "the test client's table of alert kinds; not in the server",
    "dashboard/server.py:CHROMIUM_ARGS": "the browser tests' Chromium flags; not in the server",
    # Constants the check cannot see are immutable.
    "dashboard/navigation.py:PAGES": "a tuple of NamedTuples of strings: immutable all the way down",
    # Caches shared by every session on purpose: what they return is never changed in place.
    "dashboard/recs.py:MAPS": (
        "the server's turns for maps and groups (t-SNE, KMeans): two locks and, per person waiting, a lock and a "
        "count; it holds no data of anyone's, and a person's entry goes when their last map is drawn"
    ),
    "dashboard/data.py:shared_data": (
        "the loaded, filtered and split RatingsDatasets anyone may load (never an upload): the engine never "
        "changes a data set, it makes new ones; bounded by RECENGINE_DATA_CACHE_MB, a lock guards it"
    ),
    "dashboard/data.py:_live_session_data": (
        "a weak set of every session's own upload cache, shared on purpose: a person's tabs share one memory "
        "budget; only their byte counts are read across sessions"
    ),
    "dashboard/data.py:_catalogue": "a DataFrame the pages only read: they filter, sort and map it into new frames",
    "dashboard/data.py:_genres": "a tuple of genre names",
    "dashboard/data.py:_browsed": "a read-only NumPy array of item codes per data set, search, genre and order",
    "dashboard/data.py:_most_rated": "two tuples: the most rated movies' codes and titles",
    "dashboard/widgets.py:rating_levels": "a tuple of floats (or None) per rating scale",
    "dashboard/recs.py:_clusters": "a run's KMeans groups; pages index its arrays into new ones",
    "dashboard/recs.py:_projection": "a run's 2-D map; pages copy its coordinates into new frames",
    "pages/embeddings.py:_genre_plane": "a run's genre map (a frozen GenreMap); pages copy its coordinates",
    "dashboard/data.py:_overview_charts": (
        "a data set's five plotly figures, keyed by its content and an upload's owner: st.plotly_chart only "
        "reads a figure (it serializes a copy)"
    ),
    "dashboard/data.py:_year_span": "a tuple of two ints (or None) per data set",
    "dashboard/data.py:_titles": "a read-only MappingProxyType of raw item id to title per data set",
    "pages/evaluate.py:_error_charts": (
        "a model's error charts on a data set, keyed by the run id (the data, settings, split and seed) and the "
        "data set's content and owner; a stopped run's are never cached; st.plotly_chart only reads them"
    ),
    "pages/train.py:_run_curves": (
        "a model's loss curves, keyed by its run id (the data, settings, split and seed that determine its "
        "history); st.plotly_chart only reads them"
    ),
    "pages/train.py:empty_curves": "the empty axes before a first training, the same for everyone; only read",
    "dashboard/lessons.py:class_answers": (
        "the class's guesses, shared on purpose (everyone's screen counts everyone's guesses): no names, one "
        "per session's random id and lesson, at most 1,000 people a lesson, a lock guards it"
    ),
    "dashboard/runs.py:model_store": (
        "the on-disk model cache, shared on purpose: every write is atomic and holds an flock on a file "
        "opened per call, so threads of one server exclude each other as processes do"
    ),
    "dashboard/runs.py:_cached": (
        "trained models, shared on purpose by the sessions that train one configuration: nothing refits or "
        "changes a cached model; fold-in and recommendations read its factors (fold-in memoizes a prior on "
        "it, derived from its factors alone, the same for everyone); test_sessions.py checks two sessions "
        "on one model get their own recommendations"
    ),
    "dashboard/runs.py:diverged_curves": (
        "the divergences seen on this server, shared on purpose like the model cache (a lesson's diverging "
        "run is trained once per server): each entry is what a data set, settings, split and seed determine, "
        "set once from a finished job and only read (a run copies its curve), at most MAX_DIVERGED of them"
    ),
    "dashboard/joblog.py:_lock": "a lock: the job log's writers take turns appending their lines",
    "pages/challenge.py:scores": (
        "a submitted run's two scores, by challenge and run id (its model's cache key, which the data, "
        "settings, split and seed determine): the same for whoever submits that model; a dict of two floats "
        "that submit only reads"
    ),
    "dashboard/runs.py:warm_up_trainers": "returns True: it exists to run once per server",
    "dashboard/workspace.py:_prune_once": "returns a count: it exists to prune old workspaces once per server",
    "dashboard/workspace.py:server_secret": "an immutable (bytes, float) pair read once per home folder",
    "dashboard/names.py:_prototypes": "Unicode's confusables as a read-only MappingProxyType, loaded once",
    "dashboard/names.py:_capital_of_small_capital": "a str per character: immutable",
    "dashboard/names.py:_look": "a str per character: immutable",
    "dashboard/classroom.py:class_tries": (
        "wrong class passwords per session, person and address, shared on purpose (a new tab must not reset "
        "the limit); locks guard it"
    ),
    "dashboard/classroom.py:teacher_tries": "wrong teacher passwords, as class_tries, a budget of their own",
    "dashboard/classroom.py:_admitted_sessions": (
        "the session ids that signed in, each with what must still hold (its code unchanged, no sign-out), "
        "shared on purpose: the upload gate answers HTTP requests outside any session; ids and checks only "
        "(nothing a session made), pruned of ended sessions"
    ),
    "dashboard/classroom.py:_admitted_lock": "guards _admitted_sessions",
    "dashboard/runs.py:_held": (
        "what each session's runs keep in memory (its person's digest and a byte count), shared on purpose: "
        "a person's tabs and the server's sessions share budgets; ended sessions forgotten; a lock guards it"
    ),
    "dashboard/runs.py:_held_lock": "guards _held",
    "dashboard/classroom.py:remembered": (
        "the browsers (workspace digests) that typed the class password, with a digest of it, shared on "
        "purpose: a reload or a new tab of that browser comes in without it; digests only, bounded; a lock "
        "guards it"
    ),
    "dashboard/classroom.py:signed_out": (
        "how often each browser (a workspace digest) signed out, shared on purpose: Sign out in one tab ends "
        "every tab of that browser; counts only, bounded; a lock guards it"
    ),
    "dashboard/classroom.py:code_tries": (
        "wrong join codes per session and browser, shared on purpose (a new tab must not reset the limit); "
        "locks guard it"
    ),
    "dashboard/roster.py:global _cached": (
        "the roster file as last read, with its stamp (modified time, size, inode), shared on purpose: every "
        "page run asks who is signed in; immutable tuples, read anew when the file changes; a lock guards it"
    ),
    "dashboard/roster.py:_cache_lock": "guards _cached",
    "dashboard/classroom.py:whose": (
        "whose each session is (a person's digest and the client address), shared on purpose: the upload "
        "gate sees only a session id and must count a person's tabs and an address's people together; "
        "ids, digests and addresses only, the oldest forgotten beyond a bound; a lock guards it"
    ),
    "dashboard/uploads.py:_live_folders": (
        "every session's upload folder object (weakly held, gone with its session), shared on purpose: a "
        "person's tabs and an address's people share upload budgets on disk; read only for sizes"
    ),
    "dashboard/profiles.py:_recorded_of": (
        "who saved one version of a profile file and from which address (digests), cached by path, "
        "modification time and size: "
        "all it returns depends on that file alone, which every session may read"
    ),
    "dashboard/workspace.py:_new_from": (
        "when each network address (a digest) made its new workspaces this hour, shared on purpose: fresh "
        "cookies must not reset the per-address budget; times only, forgotten after an hour; a lock guards it"
    ),
    "dashboard/workspace.py:_new_lock": "guards _new_from",
    "dashboard/jobs.py:_context": "multiprocessing's forkserver context, one per process by design",
    "dashboard/jobs.py:_scheduler": (
        "the server's line of training jobs, shared on purpose: per-owner and per-address limits, fair turns "
        "and the memory budget hold across sessions; a condition guards it, and it holds jobs only until they "
        "end (and an owner's last start only while it orders someone in line)"
    ),
    "dashboard/jobs.py:_pool": (
        "the trainer processes, shared on purpose: a semaphore caps them, idle ones wait in a thread-safe "
        "queue, and a worker keeps no session's data between jobs (a job holds its worker alone: it sends "
        "its model and data down the worker's pipe and receives its epochs and result on it)"
    ),
}


def dotted(node: ast.expr) -> str:
    """``st.cache_resource`` for ``st.cache_resource``, ``st.cache_resource(...)`` and ``st.fragment(...)(f)``."""
    match node:
        case ast.Name(id=name):
            return name
        case ast.Attribute(value=value, attr=attr):
            return f"{dotted(value)}.{attr}"
        case ast.Call(func=func):
            return dotted(func)
    return ""


def mutable(node: ast.expr | None) -> bool:
    """Whether evaluating ``node`` at import makes a new object that can be changed in place. A name or an
    attribute refers to an object made elsewhere (checked where it is made)."""
    match node:
        case None | ast.Constant() | ast.Name() | ast.Attribute() | ast.Subscript() | ast.Lambda():
            return False
        case ast.JoinedStr():
            return False
        case ast.Tuple(elts=elements):
            return any(mutable(element) for element in elements)
        case ast.BinOp(left=left, right=right):
            return mutable(left) or mutable(right)
        case ast.IfExp(body=body, orelse=orelse):
            return mutable(body) or mutable(orelse)
        case ast.Call():
            return dotted(node) not in SAFE_CALLS
    return True  # list, dict and set displays, comprehensions, generators, anything else


def top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run at import: the module's own and those inside its if, try, with and for blocks."""
    for statement in body:
        yield statement
        if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for field in ("body", "orelse", "finalbody"):
                yield from top_level([s for s in getattr(statement, field, []) if isinstance(s, ast.stmt)])
            for handler in getattr(statement, "handlers", []):
                yield from top_level(handler.body)


def bound_names(statement: ast.stmt) -> tuple[list[str], ast.expr | None]:
    """The names a top-level assignment binds, and its value."""
    match statement:
        case ast.Assign(targets=targets, value=value):
            return [ast.unparse(t) for t in targets], value
        case ast.AnnAssign(target=target, value=value) | ast.AugAssign(target=target, value=value):
            return [ast.unparse(target)], value
    return [], None


def findings(source: str, name: str, page_script: bool = False) -> list[str]:
    """``name:thing`` for every mutable top-level binding (not in a page script), shared cache and
    ``global`` statement in ``source``."""
    tree = ast.parse(source)
    found = []
    for statement in top_level(tree.body):
        targets, value = bound_names(statement)
        if not page_script and mutable(value):
            found += [f"{name}:{target}" for target in targets]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(dotted(d) in SHARED_CACHES for d in node.decorator_list):
                found.append(f"{name}:{node.name}")
        elif isinstance(node, ast.Global):
            found.append(f"{name}:global {', '.join(node.names)}")
    return found


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, with ``a.b`` for ``from a import b``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def everything_found() -> list[str]:
    return [
        *(f for path in MODULES for f in findings(path.read_text(), path.relative_to(ROOT).as_posix())),
        *(
            f
            for path in PAGE_SCRIPTS
            for f in findings(path.read_text(), path.relative_to(ROOT).as_posix(), True)
        ),
    ]


def test_every_mutable_object_shared_between_sessions_is_listed_with_its_reason():
    unexplained = [found for found in everything_found() if found not in SHARED]
    assert not unexplained, (
        "shared between every session of the server; make it immutable (a tuple, frozenset, "
        f"MappingProxyType), keep it in st.session_state, or list it in SHARED saying why: {unexplained}"
    )


def test_the_list_names_nothing_that_is_gone():
    assert set(SHARED) <= set(everything_found())


def test_nothing_imports_a_page_script():
    importers = [p for p in [*PAGE_SCRIPTS, *MODULES] if any(n.split(".")[0] == "pages" for n in imported(p))]
    assert not importers, f"imported once per server, a page's top-level names would be shared: {importers}"


def test_the_app_never_imports_the_tooling():
    app = [p for p in [*PAGE_SCRIPTS, *MODULES] if p.stem not in ("client", "server")]
    assert not [p for p in app if imported(p) & set(TOOLING)]


def test_the_check_finds_shared_state_in_a_made_up_module():
    source = """
import functools, logging, re
import streamlit as st
NAMES = ("a", "b")
PATTERN = re.compile("x")
log = logging.getLogger(__name__)
RUNNING, DONE = "running", "done"
SEEN = {}
if True:
    QUEUE = [n for n in NAMES]
PAIRS = (("a", []),)
POOL = make_pool()

@st.cache_resource(max_entries=2)
def shared():
    return []

@functools.cache
def also_shared():
    return {}

def count():
    global COUNTER
    COUNTER += 1
"""
    assert findings(source, "m") == [
        "m:SEEN", "m:QUEUE", "m:PAIRS", "m:POOL", "m:shared", "m:also_shared", "m:global COUNTER",
    ]  # fmt: skip
    assert findings(source, "m", page_script=True) == ["m:shared", "m:also_shared", "m:global COUNTER"]
