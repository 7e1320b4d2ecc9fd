"""A server-wide bound on on-demand heavy work, and labels that say what a number is (issue #35)."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import open_page
from vae.analysis.likelihood import iw_nll
from vae.runfile import load_run
from vae.server.limits import HeavyWork
from vae.vocabulary import LimitError


def test_requests_past_the_slots_wait_their_turn_and_are_refused_in_one_line_after_the_wait():
    work = HeavyWork(slots=1, wait_s=0.2)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with work.slot("t-SNE"):
            held.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(timeout=60)
    refused = []
    for _ in range(7):
        with pytest.raises(LimitError) as caught, work.slot("The IW estimate"):
            pytest.fail("a second computation ran beside the first")
        refused.append(str(caught.value))
    busy = (
        "The IW estimate waited 0.2 s for one of this server's 1 slots for heavy computations, all busy "
        "(setting VAE_MAX_HEAVY_COMPUTATIONS); try again in a moment"
    )
    assert set(refused) == {busy}
    release.set()
    thread.join(timeout=60)
    with work.slot("The IW estimate"):  # a freed slot is taken at once
        pass


def test_eight_concurrent_iw_requests_never_run_more_than_the_slots(run_dir, small_data):
    """The hostile case of the issue: 8 IW requests at once, each about 0.5 GB at full size, on 2 slots."""
    tiny_model = load_run(run_dir / "tiny-d4.pt").model
    work = HeavyWork(slots=2, wait_s=300)
    inside, most, values, lock = [0], [0], [], threading.Lock()

    def request() -> None:
        with work.slot("The IW estimate"):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            values.append(iw_nll(tiny_model, small_data.test_x[:50], 20))
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(values) == 8 and most[0] <= 2


def test_the_diagnostics_page_says_so_in_one_line_when_every_slot_is_busy(app):
    from ui import state

    work = state.heavy_work()
    at = open_page(app, "pages/diagnostics.py", "tiny-d4")
    at.select_slider[0].set_value(10)
    at.slider[0].set_value(100)
    wait_s, work.wait_s = work.wait_s, 0.1
    assert work._free.acquire(timeout=60)  # another visitor's computation holds the only slot
    try:
        next(b for b in at.button if b.label == "Estimate").click().run()
    finally:
        work._free.release()
        work.wait_s = wait_s
    assert not at.exception
    busy = (
        "The IW estimate waited 0.1 s for one of this server's 1 slots for heavy computations, all busy "
        "(setting VAE_MAX_HEAVY_COMPUTATIONS); try again in a moment"
    )
    assert [e.value for e in at.error] == [busy]
    next(b for b in at.button if b.label == "Estimate").click().run()  # the slot is free again
    assert not at.error and any(m.label.startswith("IW Bernoulli bound") for m in at.metric)


def test_the_runs_table_keeps_nats_and_squared_errors_apart(app, run_dir, tiny_config, small_data):
    from vae.training.runs import train_run

    for _ in train_run(tiny_config.replace(likelihood="mse", epochs=1), "squared", run_dir, data=small_data):
        pass
    at = open_page(app, "pages/runs.py")
    table = at.dataframe[0].value.set_index("run")
    assert "test recon" not in table.columns
    assert table.loc["squared", "test recon (nats)"] is None or table["test recon (nats)"].isna()["squared"]
    assert table.loc["squared", "test recon (squared error)"] > 0
    assert table["test recon (squared error)"].drop("squared").isna().all()
    assert table["test recon (nats)"].drop("squared").notna().all()
