"""Runs have owners: a run made in the app belongs to the browser that made it, for good.

Only that browser sees Delete, or continues the run in place; anyone may continue any run under a new
name; CLI-made and shipped runs belong to no browser. Uploads are the uploader's, and counted.
"""

from __future__ import annotations

import threading

from tests.conftest import TOKEN_A, TOKEN_B, buttons, own, poisoned, session, session_job, snapshot
from vae.runfile import load_run
from vae.runfile.owners import owner_hash
from vae.training import jobs


def test_the_owner_of_an_unreadable_run_can_delete_it_from_the_runs_page(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    poisoned(run_dir / "tiny-d4.pt", run_dir / "mine.pt", lambda p: p["history"].update(epochs="junk"))
    stranger = session(TOKEN_B, "pages/runs.py")
    assert not stranger.exception and not buttons(stranger, "Delete run")
    owner = session(TOKEN_A, "pages/runs.py")
    owner.checkbox(key="confirm_mine").check().run()
    buttons(owner, "Delete run")[-1].click().run()
    assert not owner.exception and not (run_dir / "mine.pt").exists()


def test_the_owner_of_a_run_too_large_to_open_can_still_delete_it(run_dir, monkeypatch):
    """A file over the reader's limit (one written before the writer held itself to it) is never opened as a run,
    but its owner is read from it, memory-mapped, so that it is not stuck in the folder for good."""
    from vae.runfile import reading as runfile

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    (run_dir / "tiny-d4.pt").rename(run_dir / "huge.pt")
    monkeypatch.setattr(runfile, "MAX_CHECKPOINT_BYTES", (run_dir / "huge.pt").stat().st_size - 1)
    stranger = session(TOKEN_B, "pages/runs.py")
    assert not stranger.exception and not buttons(stranger, "Delete run")
    assert any("over the" in w.value and "huge.pt" in w.value for w in [*stranger.warning, *stranger.error])
    owner = session(TOKEN_A, "pages/runs.py")
    owner.checkbox(key="confirm_huge").check().run()
    buttons(owner, "Delete run")[-1].click().run()
    assert not owner.exception and not (run_dir / "huge.pt").exists()


def test_only_the_owner_sees_delete_and_continues_in_place_even_after_the_job_has_expired(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    from ui import state

    state.job_registry().keep_finished_s = 0.0  # every finished job has expired: ownership does not
    try:
        for token, mine in ((TOKEN_A, True), (TOKEN_B, False), (None, False)):
            at = session(token, "pages/runs.py")
            at.selectbox(key="file_run").set_value("tiny-d4").run()
            assert not at.exception
            assert bool(buttons(at, "Delete run")) is mine, token
            assert (
                bool(buttons(at, "Continue tiny-d4")) is mine
                and bool(buttons(at, "Continue tiny-d4 as a new run")) is not mine
            )
            assert at.dataframe[0].value.set_index("run").loc["tiny-d4", "yours"] == mine
        # A CLI-made run (no owner) is nobody's in the app, not even the browser that is looking.
        at = session(TOKEN_A, "pages/runs.py")
        at.selectbox(key="file_run").set_value("tiny-d2").run()
        assert not buttons(at, "Delete run")
    finally:
        state.job_registry().keep_finished_s = 3600.0


def test_a_stranger_continues_a_run_under_a_new_name_and_the_original_is_untouched(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    original = (run_dir / "tiny-d4.pt").read_bytes()
    at = session(TOKEN_B, "pages/train.py")
    pick = next(s for s in at.selectbox if s.label == "Run to continue")
    pick.set_value("tiny-d4").run()
    assert next(t for t in at.text_input if t.label == "Save as").value == "tiny-d4-continued"
    buttons(at, "Continue training")[0].click().run()
    assert not at.exception

    job = session_job(at)
    assert job.name == "tiny-d4-continued" and job.join(timeout=300)
    assert (run_dir / "tiny-d4.pt").read_bytes() == original
    continued = load_run(run_dir / "tiny-d4-continued.pt")
    assert continued.owner == owner_hash(TOKEN_B) and len(continued.epochs) == 3


def test_uploads_in_the_app_are_the_browsers_own_and_counted_against_the_limit(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setenv("VAE_MAX_UPLOADS", "1")
    data = (run_dir / "tiny-d4.pt").read_bytes()
    at = session(TOKEN_A, "pages/runs.py")
    at.file_uploader(key="upload").set_value(("mine.pt", data, "application/octet-stream")).run()
    buttons(at, "Add to my runs")[0].click().run()
    assert not at.exception and any("Added **mine**" in s.value for s in at.success)
    added = load_run(run_dir / "mine.pt")
    assert added.owner == owner_hash(TOKEN_A) and added.origin == "upload"
    before = snapshot(run_dir)
    at.file_uploader(key="upload").set_value(("again.pt", data, "application/octet-stream")).run()
    refusal = (
        "Not added: another upload after 1 is over this server's limit of 1 uploaded runs (setting VAE_MAX_UPLOADS)"
    )
    assert [e.value for e in at.error] == [refusal]
    assert snapshot(run_dir) == before


def test_a_crafted_owner_link_is_ignored_and_gives_no_one_elses_runs(run_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP, open_page

    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    for crafted in ("<script>alert(1)</script>", "../../x", "", "x" * 5000, owner_hash(TOKEN_A), "short"):
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["owner"] = crafted
        at = open_page(at.run(), "pages/runs.py")
        at.selectbox(key="file_run").set_value("tiny-d4").run()
        assert not at.exception and not buttons(at, "Delete run"), crafted
