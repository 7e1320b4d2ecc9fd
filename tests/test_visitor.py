"""The visitor (issue #35): who owns a run and a training is carried by a cookie of the browser, never by a link.

AppTest cannot send cookies, so ``browser_cookie`` answers for the browser; tests/test_browser_jobs.py checks the
real cookie in Chromium."""

from __future__ import annotations

import threading

from streamlit.testing.v1 import AppTest

from tests.conftest import APP, TOKEN_A, TOKEN_B, browser_cookie, buttons, open_page, own, session, session_job
from vae.runfile.owners import owner_hash
from vae.training import jobs

TINY = {"dataset": "mnist-5k", "latent_dim": "2", "epochs": "30"}


def _train_page(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update(params)
    at.run()
    at.query_params.update(params)  # the router's page change keeps them, as a browser's address would
    return open_page(at, "pages/train.py")


def _scripts(at: AppTest) -> str:
    return "\n".join(h.proto.body for h in at.sidebar.get("html"))


def test_a_first_training_gives_the_browser_a_cookie_and_the_address_no_token(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    browser_cookie(monkeypatch, None)
    at = _train_page(TINY)
    assert "owner_token" not in at.session_state and "vae_lab_visitor" not in _scripts(at)  # no training, no cookie
    next(s for s in at.select_slider if s.label == "β (KL weight)").set_value(4.0)
    buttons(at, "Start training")[0].click().run()
    assert not at.exception, at.exception
    job = session_job(at)
    try:
        token = at.session_state["owner_token"]
        assert job.owner == owner_hash(token)
        assert f"document.cookie = 'vae_lab_visitor={token}; path=/;" in _scripts(at)
        assert token not in repr(dict(at.query_params)) and set(at.query_params) <= {*TINY, "beta"}
        assert at.query_params["beta"] == "4.0" and job.config.beta == 4.0  # the started form, in the address

        browser_cookie(monkeypatch, token)  # another tab of the same browser: the cookie, and nothing else
        tab = session(None, "pages/train.py")
        assert any(s.value == f"Your training: {job.name}" for s in tab.subheader)
        assert buttons(tab, "Stop") and "vae_lab_visitor" not in _scripts(tab)  # it has the cookie already
        assert buttons(tab, "Start training")[0].disabled  # one training per visitor, not per tab

        browser_cookie(monkeypatch, None)  # another browser
        other = session(None, "pages/train.py")
        assert not any(s.value.startswith("Your training") for s in other.subheader) and not buttons(other, "Stop")
        said = next(c.value for c in other.caption if c.value.startswith("Anyone on this server"))
        assert "only the browser that started a training can stop it" in said and "(a copied link cannot)" in said
    finally:
        job.request_stop()
        assert job.join(timeout=300)


def test_a_link_with_tokens_gives_nothing_and_loses_them(run_dir, monkeypatch):
    """Links once carried ``?owner=``, ``?job=`` and ``?batch=``: each is dropped unread, whatever it holds, even
    the real owner token and the real job token."""
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setattr(jobs, "_slots", threading.BoundedSemaphore(2))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    browser_cookie(monkeypatch, TOKEN_A)
    owner = _train_page(TINY)
    buttons(owner, "Start training")[0].click().run()
    job = session_job(owner)
    job_token = owner.session_state["training_job_token"]
    browser_cookie(monkeypatch, None)
    try:
        for crafted in (TOKEN_A, job_token, owner_hash(TOKEN_A), "<script>alert(1)</script>", "x" * 5000, ""):
            at = AppTest.from_file(APP, default_timeout=60)
            at.query_params.update({"owner": crafted, "job": crafted, "batch": crafted})
            at = open_page(at.run(), "pages/runs.py")
            assert not at.exception, crafted
            assert not {"owner", "job", "batch"} & set(at.query_params), crafted
            at.selectbox(key="file_run").set_value("tiny-d4").run()
            assert not buttons(at, "Delete run") and not buttons(at, "Stop"), crafted
            assert "owner_token" not in at.session_state
    finally:
        job.request_stop()
        assert job.join(timeout=300)


def test_the_cookie_owns_runs_in_every_new_session(run_dir, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    own(run_dir / "tiny-d4.pt", TOKEN_A)
    for cookie, mine in ((TOKEN_A, True), (TOKEN_B, False), (None, False), ("short", False), ("é" * 20, False)):
        browser_cookie(monkeypatch, cookie)
        at = session(None, "pages/runs.py")
        at.selectbox(key="file_run").set_value("tiny-d4").run()
        assert not at.exception
        assert bool(buttons(at, "Delete run")) is mine, cookie


def test_the_settings_link_carries_the_form_and_no_token(run_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(run_dir))
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))  # no full MNIST: the page's own default is mnist-5k
    visitor = "a-visitor-who-never-trained-03"  # no training of theirs is held by the server
    browser_cookie(monkeypatch, visitor)
    at = _train_page({**TINY, "beta": "4", "arch": "conv"})
    buttons(at, "Link to these settings")[0].click().run()
    assert not at.exception
    (link,) = [c.value for c in at.code]
    assert link.endswith("?arch=conv&beta=4.0&epochs=30"), link  # what differs from the page's defaults
    assert visitor not in link and owner_hash(visitor) not in link
    assert dict(at.query_params) == {"arch": "conv", "beta": "4.0", "epochs": "30"}
    assert not buttons(at, "Stop") and "training_job_token" not in at.session_state  # the link started nothing
