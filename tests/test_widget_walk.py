"""A widget walk: seeded random walks over every page's widgets, each set to its edges, as a careless or
hostile visitor would. Widgets that appear only after another choice are met as the walk goes on.

Edges: a number's min, max and 0; every option of a choice (by its index, as the browser sends it);
empty, very long, path-like and unicode text; no, one and all options of a multiselect; every button.
No walk may end in an exception. The server's limits are set low so that a walk cannot book it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, PAGE_NAMES, open_page, wait_until

PAGES = PAGE_NAMES
WALKS_PER_PAGE = 4
STEPS_PER_WALK = 20
SEED = 20261125
TEXTS = (
    "",
    "x" * 10_000,
    "../x",
    "../../etc/passwd",
    "数字 β é 🙂",
    "<script>alert(1)</script>",
    " ",
    "a,b,,c",
    "-1",
    "1e309",
    "nan",
)


def _pinned(widget, state: Callable[[object], WidgetState]) -> None:
    """Make ``widget`` send ``state`` on the next run, as the browser would send a click on an option.

    AppTest's own setters want the raw option, which a test cannot know behind a ``format_func``.
    """
    cls = type(widget)
    widget.__class__ = type(f"Pinned{cls.__name__}", (cls,), {"_widget_state": property(state)})


def _choose(widget, indices: list[int], array: bool) -> None:
    def state(self) -> WidgetState:
        ws = WidgetState()
        ws.id = self.id
        if array:
            ws.string_array_value.data[:] = [self.options[i] for i in indices]
        else:
            ws.string_value = self.options[indices[0]]
        return ws

    _pinned(widget, state)


def edges(widget, rng: random.Random) -> list[tuple[str, Callable[[], object]]]:
    """What to try on ``widget``: (a description, the action), one of which the walk picks."""
    kind = widget.type
    if kind in ("button", "download_button"):
        return [("click", widget.click)]
    if kind in ("checkbox", "toggle"):
        return [("on", lambda: widget.set_value(True)), ("off", lambda: widget.set_value(False))]
    if kind in ("radio", "selectbox"):
        return [(f"option {i}", lambda i=i: _choose(widget, [i], array=False)) for i in range(len(widget.options))]
    if kind == "select_slider":
        ends = {0, len(widget.options) - 1, rng.randrange(len(widget.options))}
        return [(f"option {i}", lambda i=i: _choose(widget, [i], array=True)) for i in sorted(ends)]
    if kind == "multiselect":
        n = len(widget.options)
        picks = {"none": [], "first": [0], "last": [n - 1], "all": list(range(n))} if n else {"none": []}
        return [(what, lambda p=p: _choose(widget, p, array=True)) for what, p in picks.items()]
    if kind in ("number_input", "slider"):
        low, high = widget.min, widget.max
        values = {v for v in (low, high) if v is not None}
        if (low is None or low <= 0) and (high is None or high >= 0):
            values.add(type(low if low is not None else 0)(0))
        return [(repr(v), lambda v=v: widget.set_value(v)) for v in sorted(values)]
    if kind in ("text_input", "text_area"):
        longest = widget.max_chars or 10_000  # a browser cannot type past max_chars
        return [(repr(t[:20]), lambda t=t: widget.set_value(t[:longest])) for t in TEXTS]
    return []


def widgets_of(at: AppTest) -> list:
    found = [
        *at.button,
        *at.checkbox,
        *at.toggle,
        *at.radio,
        *at.selectbox,
        *at.select_slider,
        *at.multiselect,
        *at.number_input,
        *at.slider,
        *at.text_input,
        *at.text_area,
    ]
    return [w for w in found if not getattr(w.proto, "disabled", False)]


@pytest.fixture
def walk_env(run_dir, monkeypatch):
    """The tiny runs, and limits that keep any training or estimate a walk starts small."""
    from vae.training import jobs

    for name, value in {
        "VAE_CHECKPOINT_DIR": str(run_dir),
        "VAE_MAX_TRAINING_STEPS": "64",
        "VAE_MAX_IW_SAMPLES": "20000",
        "VAE_MAX_TSNE_POINTS": "300",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(jobs, "_slots", __import__("threading").BoundedSemaphore(1))
    yield run_dir
    from ui.state import job_registry

    for job in job_registry().jobs():
        job.request_stop()
    for job in job_registry().jobs():
        wait_until(lambda job=job: job.join(timeout=0.1), f"job {job.name} ended", timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_random_walks_over_a_pages_widgets_never_end_in_an_exception(walk_env, page, capsys):
    rng = random.Random(f"{SEED}-{page}")
    tried = 0
    for walk in range(WALKS_PER_PAGE):
        at = AppTest.from_file(APP, default_timeout=120).run()
        at = open_page(at, f"pages/{page}.py", run=rng.choice(["tiny-d2", "tiny-d4"]))
        assert not at.exception, at.exception
        path = []
        for _ in range(STEPS_PER_WALK):
            # A kind of widget first, then one of that kind: twenty sliders must not drown one radio.
            by_kind: dict[str, list] = {}
            for w in widgets_of(at):
                if edges(w, rng):
                    by_kind.setdefault(w.type, []).append(w)
            if not by_kind:
                break
            widget = rng.choice(by_kind[rng.choice(sorted(by_kind))])
            what, act = rng.choice(edges(widget, rng))
            path.append(f"{widget.type} {widget.label!r}: {what}")
            act()
            at.run()
            tried += 1
            assert not at.exception, f"walk {walk} on {page}: " + " → ".join(path) + f"\n{at.exception}"
    with capsys.disabled():
        print(f"\nwidget walk on {page}: {tried} widget values tried, no exception")
