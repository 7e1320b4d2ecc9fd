"""The shape of the house: no import circles, the core free of the UI, and files and functions of a size a
person can read. Read from the code itself (``ast``), every module of the project, not a chosen few."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("vae", "ui", "pages", "scripts", "bench")
UI_ONLY = ("ui", "pages", "streamlit", "streamlit_app")
MAX_FILE_LINES = 400  # the developers' guide's gate: a guard, not a place to cut a concept
MAX_PAGE_LINES = 150
MAX_FUNCTION_LINES = 80
MAX_NESTING = 4  # if / for / while / with / try / match, one inside another, within one function
NESTING = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.AsyncFor, ast.AsyncWith, ast.Match)


def _modules() -> dict[str, Path]:
    """Every module of the project, by dotted name."""
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")] + [ROOT / "streamlit_app.py"]
    modules = {}
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            return True
    return False


def _imports(path: Path) -> set[str]:
    """The modules that ``path`` imports anywhere in it (functions too), except for type checking alone."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and not _under_type_checking(node, parents):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not _under_type_checking(node, parents):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_graph_reads_every_module_and_finds_a_circle_where_there_is_one():
    graph = _graph()
    assert {"vae.cli.train", "vae.training.local_engine", "ui.state", "pages.train", "streamlit_app"} <= set(graph)
    assert "vae.training.loop" in graph["vae.cli.train"] or "vae.training.runs" in graph["vae.cli.train"]
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_among_the_projects_modules():
    assert _circles(_graph()) == []


def test_the_core_never_imports_the_ui_or_streamlit():
    offenders = {
        name: sorted(m for m in _imports(path) if m.split(".")[0] in UI_ONLY)
        for name, path in _modules().items()
        if name.split(".")[0] == "vae"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


# The core's floors, from the ground up (#37): a module imports its own package and the floors below, never one
# beside or above it. vae/__init__.py says what each package owns.
FLOORS = (
    ("vae.vocabulary", "vae.settings"),
    ("vae.data",),
    ("vae.model",),
    ("vae.runfile", "vae.browser"),
    ("vae.analysis",),
    ("vae.training",),
    ("vae.server", "vae.cli"),
    ("vae.__main__",),
)


def _floor(module: str) -> tuple[int, str]:
    """The floor of a core module and the package (or ground-floor module) it belongs to."""
    for level, owners in enumerate(FLOORS):
        for owner in owners:
            if module == owner or module.startswith(owner + "."):
                return level, owner
    raise AssertionError(f"{module} is on no floor: add its package to FLOORS")


def test_the_core_reads_top_down_by_package_with_no_import_beside_or_above():
    graph = _graph()
    core = [name for name in graph if name.split(".")[0] == "vae" and name != "vae"]
    wrong = []
    for name in core:
        level, owner = _floor(name)
        for used in graph[name]:
            if used == "vae":
                continue
            used_level, used_owner = _floor(used)
            if used_owner != owner and used_level >= level:
                wrong.append(f"{name} -> {used}")
    assert wrong == []
    assert _floor("vae.runfile.writers") == (3, "vae.runfile")  # the floors are read, not skipped
    assert {_floor(name)[1] for name in core} == {owner for owners in FLOORS for owner in owners}


def test_each_package_of_the_core_says_what_it_owns_and_what_it_may_import():
    packages = sorted(p.parent for p in (ROOT / "vae").rglob("__init__.py"))
    assert len(packages) >= 8
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert doc, package
        if package.name != "vae":
            assert "import" in doc.lower(), package


# Streamlit's public API: the top-level module and these documented sub-modules. Anything else
# (``streamlit.runtime``, ``streamlit.web``, ...) is internal and may change in any release (#41).
STREAMLIT_PUBLIC = {"streamlit", "streamlit.components.v1", "streamlit.components.v2", "streamlit.testing.v1"}


def test_the_app_uses_only_streamlits_public_api():
    offenders = {
        name: sorted(m for m in _imports(path) if m.split(".")[0] == "streamlit" and m not in STREAMLIT_PUBLIC)
        for name, path in _modules().items()
    }
    assert {name: found for name, found in offenders.items() if found} == {}
    private = [
        f"{name}: {ast.unparse(node)}"
        for name, path in _modules().items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "st"
        and node.attr.startswith("_")
    ]
    assert private == []


def _nesting(node: ast.AST, depth: int = 0) -> int:
    deepest = depth
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            deepest = max(deepest, _nesting(child, depth + isinstance(child, NESTING)))
    return deepest


def test_files_and_functions_are_of_a_readable_size():
    too_long, too_deep, files = [], [], []
    for name, path in _modules().items():
        lines = len(path.read_text().splitlines())
        limit = MAX_PAGE_LINES if name.startswith("pages.") else MAX_FILE_LINES
        if lines > limit:
            files.append(f"{name}: {lines} lines (at most {limit})")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
                if _nesting(node) > MAX_NESTING:
                    too_deep.append(f"{name}.{node.name}: nested {_nesting(node)} deep")
    assert not (files or too_long or too_deep), "\n".join([*files, *too_long, *too_deep])


def test_the_app_server_holds_no_training_split():
    """#41: the pages read test images only; a training loads its data in its own process. So no module of the UI
    imports ``vae.data.datasets.load_dataset`` (whole datasets: ``shapes``' training split alone is 130 MB); they use
    ``load_test_split``."""
    offenders = []
    for name, path in _modules().items():
        if name.split(".")[0] not in ("ui", "pages", "streamlit_app"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "vae.data.datasets":
                offenders += [f"{name}: {a.name}" for a in node.names if a.name == "load_dataset"]
    assert offenders == []


def test_every_plotly_chart_is_drawn_through_ui_charts():
    """#41: a new visitor's first screen comes before plotly.js; one ``plotly_chart`` that bypasses
    ``ui.charts.plotly_chart`` (``st.``, a column's, the sidebar's) would fetch it in that first run again."""
    direct = [
        f"{name}:{node.lineno}"
        for name, path in _modules().items()
        if name != "ui.charts"
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.Attribute) and node.attr == "plotly_chart" and ast.unparse(node.value) != "charts")
        or (isinstance(node, ast.ImportFrom) and any(alias.name == "plotly_chart" for alias in node.names))
    ]
    assert direct == []


def test_no_page_stops_after_a_chart():
    """A session's first run marks the session and draws boxes for its charts; a ``st.stop()`` after one would end
    the run before the component that asks for the charts (``ui.charts.first_paint``), leaving the box."""
    late = []
    for name, path in _modules().items():
        if not name.startswith("pages."):
            continue
        calls = [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]
        charts = [c.lineno for c in calls if ast.unparse(c.func) == "charts.plotly_chart"]
        late += [
            f"{name}:{c.lineno}"
            for c in calls
            if ast.unparse(c.func) == "st.stop" and charts and c.lineno > min(charts)
        ]
    assert late == []
