"""Real use in a real browser, each case on a server the test starts for itself: deep links as the
first request, a training that outlives its tab, another user's view of it, and a killed server."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import time

import pytest

from tests.browser_support import ERRORS, ROOT, chromium, drawn, playwright_or_skip, running_app, settle

pytestmark = pytest.mark.browser

sync_api = playwright_or_skip()

# A conv run on the embedded digits that lasts long enough to reload, look and stop.
LONG_RUN = "/train?arch=conv&latent_dim=2&epochs=40"


@pytest.fixture
def runs(tmp_path):
    directory = tmp_path / "runs"
    directory.mkdir()
    shutil.copy(ROOT / "checkpoints" / "mlp-d2-b1.pt", directory)
    (directory / "shipped.json").write_text('{"runs": ["mlp-d2-b1"]}')
    return directory


@pytest.fixture
def serve(runs, tmp_path):
    """Starts fresh servers on the test's checkpoint folder: ``serve(**settings)`` -> (URL, process); all killed
    at the end."""
    env = {
        "VAE_CHECKPOINT_DIR": str(runs),
        "VAE_DATA_DIR": str(tmp_path / "no-data"),
        "VAE_OFFLINE": "1",
        "VAE_MAX_TRAINING_JOBS": "2",
    }
    with contextlib.ExitStack() as servers:
        yield lambda **settings: servers.enter_context(running_app({**env, **settings}))


@pytest.fixture
def browser():
    with chromium() as browser:
        yield browser


def _page(browser):
    return browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()


def _no_errors(page) -> None:
    errors = page.locator(ERRORS)
    assert errors.count() == 0, errors.all_inner_texts()


def _routed(page, title: str) -> None:
    """The page was drawn by the router: its sections and titles in the sidebar, and the wide layout."""
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    settle(page)
    nav = page.get_by_test_id("stSidebarNav")
    for text in ("Train and compare", "Explore a model", "Runs & loss curves", "Draw a digit"):
        assert nav.get_by_text(text, exact=True).count() == 1, (text, nav.inner_text())
    assert nav.get_by_text("streamlit app", exact=True).count() == 0, "Streamlit's file-name navigation is showing"
    width = page.get_by_test_id("stMainBlockContainer").bounding_box()["width"]
    assert width > 1000, f"narrow layout ({width:.0f} px in a 1400 px window)"
    _no_errors(page)


@pytest.mark.parametrize(("path", "title"), [("/latent", "Latent space"), ("/train?arch=conv&beta=4", "Train a VAE")])
def test_a_deep_link_as_the_first_request_renders_through_the_router(serve, browser, path, title):
    url, _ = serve()
    page = _page(browser)
    page.goto(url + path)
    _routed(page, title)
    if path.startswith("/train"):
        form = page.get_by_test_id("stForm")
        sync_api.expect(form.get_by_role("combobox", name="Architecture")).to_have_value("conv", timeout=30_000)
        assert "4.0" in form.get_by_test_id("stSlider").filter(has_text="KL weight").inner_text()
    else:
        page.get_by_text("mlp-d2-b1 has a 2-D latent space").wait_for()


def _start_training(page, url: str, name: str) -> None:
    page.goto(url + LONG_RUN)
    _routed(page, "Train a VAE")
    page.get_by_label("Run name", exact=True).fill(name)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text(f"Your training: {name}").wait_for(timeout=30_000)
    # Any epoch: on a fast machine the first one can be over before the live view's first redraw.
    _shown(page, re.compile(r"epoch \d+/40, step"), timeout=60_000)


def _cookie(page) -> str:
    """The browser's owner cookie (``ui.state.VISITOR_COOKIE``); "" when it has none."""
    return next((c["value"] for c in page.context.cookies() if c["name"] == "vae_lab_visitor"), "")


def test_a_training_outlives_its_tab_and_only_its_owner_can_stop_it(serve, browser, runs):
    url, _ = serve()
    owner = _page(browser)
    _start_training(owner, url, "kept")
    token = _cookie(owner)
    assert len(token) >= 16, "the browser was given no owner cookie"
    assert token not in owner.url and "job=" not in owner.url and "owner=" not in owner.url

    owner.reload()
    owner.get_by_text("Your training: kept").wait_for(timeout=30_000)
    owner.get_by_test_id("stProgress").first.wait_for()
    owner.get_by_role("button", name="Stop").wait_for()  # its component's code may come after the progress bar's
    assert owner.get_by_role("button", name="Stop").count() == 1
    _no_errors(owner)

    tab = owner.context.new_page()  # a new tab of the same browser, at the plain address: the same visitor
    tab.goto(url + "/train")
    tab.get_by_text("Your training: kept").wait_for(timeout=30_000)
    tab.get_by_role("button", name="Stop").wait_for()
    tab.close()

    stranger = _page(browser)  # another browser context: another user
    stranger.goto(owner.url)  # the owner's whole address bar, as a shared link: settings only
    _routed(stranger, "Train a VAE")
    table = stranger.get_by_test_id("stDataFrame").filter(has_text="kept")
    table.wait_for(timeout=30_000)
    drawn(stranger)  # every element on screen: an absent Stop button is not one still loading
    assert stranger.get_by_text("Your training").count() == 0
    assert stranger.get_by_role("button", name="Stop").count() == 0
    # The stranger's form is free: one training per visitor, not per server.
    assert stranger.get_by_role("button", name="Start training").is_enabled()
    assert _cookie(stranger) == ""

    owner.get_by_role("button", name="Stop").click()
    owner.get_by_text("Stopped:").wait_for(timeout=60_000)
    settle(owner)
    assert (runs / "kept.pt").exists()


def test_the_settings_link_opens_the_same_form_for_someone_else(serve, browser):
    url, _ = serve()
    teacher = _page(browser)
    teacher.goto(url + "/train")
    _routed(teacher, "Train a VAE")
    form = teacher.get_by_test_id("stForm")
    form.get_by_label("Epochs", exact=True).fill("7")
    form.get_by_role("button", name="Link to these settings").click()
    code = teacher.get_by_test_id("stCode")
    code.wait_for(timeout=30_000)
    link = code.inner_text().strip()
    assert link == teacher.url and link.startswith(url + "/train?") and "epochs=7" in link, (link, teacher.url)
    assert teacher.get_by_text("Your training").count() == 0  # the link started nothing
    student = _page(browser)
    student.goto(link)
    _routed(student, "Train a VAE")
    sync_api.expect(student.get_by_label("Epochs", exact=True)).to_have_value("7", timeout=30_000)


def test_a_killed_server_leaves_an_interrupted_run_that_continues(serve, browser, runs):
    url, server = serve()
    page = _page(browser)
    _start_training(page, url, "victim")
    page.get_by_test_id("stMetric").filter(has_text="Epoch").first.wait_for(timeout=120_000)  # one epoch saved
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=20)
    # The kernel ends the training process with its server (PR_SET_PDEATHSIG); on a loaded core that can take
    # seconds, and until then the run is still being written, so it reads running, not interrupted.
    from vae.runfile import list_runs

    deadline = time.monotonic() + 60
    while next(i for i in list_runs(runs) if i.name == "victim").status != "interrupted":
        assert time.monotonic() < deadline, "the training process outlived its killed server"
        time.sleep(0.2)

    url, _ = serve()
    page = page.context.new_page()  # the same browser: its cookie makes the run its own
    page.goto(url + "/runs")
    _routed(page, "Runs & loss curves")
    page.get_by_text("Interrupted: victim").wait_for()
    picker = page.get_by_role("combobox", name="Run", exact=True)
    picker.click()
    picker.fill("victim")
    picker.press("Enter")
    settle(page)
    sync_api.expect(picker).to_have_value("victim", timeout=30_000)
    from vae.runfile import load_run

    before = load_run(runs / "victim.pt")
    assert before.status == "interrupted"
    done = len(before.epochs)
    page.get_by_test_id("stNumberInput").filter(has_text="More epochs").get_by_role("spinbutton").fill("1")
    page.get_by_role("button", name="Continue victim").click()
    page.get_by_text("Your training: victim").wait_for(timeout=30_000)
    page.get_by_text("Finished and saved").wait_for(timeout=120_000)
    settle(page)
    _no_errors(page)
    after = load_run(runs / "victim.pt")
    assert after.status == "completed"
    assert [e["epoch"] for e in after.epochs] == list(range(1, done + 2))


def test_a_sweep_lands_on_the_rate_distortion_plane(serve, browser, runs):
    url, _ = serve()
    page = _page(browser)
    page.goto(url + "/train?latent_dim=2&epochs=1")
    _routed(page, "Train a VAE")
    page.get_by_text("β sweep: several runs as one batch").click()
    page.get_by_label("Name prefix", exact=True).fill("tiny")
    page.get_by_role("button", name="Start the sweep").click()
    page.get_by_text("Your sweep: 5 of 5 runs finished").wait_for(timeout=120_000)
    settle(page)
    assert "batch=" not in page.url and _cookie(page)  # the sweep is found by the browser's cookie
    page.get_by_role("link", name="See the sweep on the rate–distortion plane").click()
    page.get_by_text("Your sweep, ringed in red and joined in β order: 5 of 5 runs on the plane").wait_for()
    settle(page)
    _no_errors(page)
    assert sorted(p.name for p in runs.glob("tiny-*.pt")) == [
        f"tiny-d2-b{b}.pt" for b in ("0.25", "0.5", "1", "2", "4")
    ]


def _pick_run(page, name: str) -> None:
    picker = page.get_by_role("combobox", name="Run", exact=True)
    picker.click()
    picker.fill(name)
    picker.press("Enter")
    settle(page)
    sync_api.expect(picker).to_have_value(name, timeout=30_000)


def test_runs_belong_to_the_browser_that_made_them_after_the_job_has_expired_too(serve, browser, runs, tmp_path):
    url, _ = serve(VAE_JOB_RETENTION_S="8")
    alice = _page(browser)
    alice.goto(url + "/train?arch=mlp&latent_dim=2&epochs=1&dataset=mnist-5k")
    _routed(alice, "Train a VAE")
    alice.get_by_label("Run name", exact=True).fill("alices")
    alice.get_by_role("button", name="Start training").click()
    alice.get_by_text("Finished and saved").wait_for(timeout=120_000)
    assert _cookie(alice) and "owner=" not in alice.url
    alice.get_by_test_id("stSidebarNav").get_by_text("Runs & loss curves", exact=True).click()
    alice.get_by_role("heading", name="Runs & loss curves").first.wait_for()
    settle(alice)
    shutil.copy(runs / "alices.pt", tmp_path / "her-upload.pt")
    alice.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(tmp_path / "her-upload.pt"))
    alice.get_by_role("button", name="Add to my runs").click()
    alice.get_by_text("Added her-upload").wait_for(timeout=60_000)
    settle(alice)
    time.sleep(8)  # the training job is no longer listed: ownership must not lapse with it

    bob = _page(browser)  # another browser context: another user
    bob.goto(url + "/runs")
    _routed(bob, "Runs & loss curves")
    for name in ("alices", "her-upload"):
        _pick_run(bob, name)
        bob.get_by_text(f"{name} is not yours").wait_for()
        assert bob.get_by_role("button", name="Delete run").count() == 0
        assert bob.get_by_role("button", name=f"Continue {name} as a new run").count() == 1
        _no_errors(bob)

    alice.reload()  # a new session: her browser's cookie brings her runs back to her
    alice.get_by_role("heading", name="Runs & loss curves").first.wait_for()
    settle(alice)
    _pick_run(alice, "alices")
    alice.get_by_role("button", name="Continue alices", exact=True).wait_for()
    alice.get_by_text("Yes, delete alices for good").click()
    settle(alice)
    alice.get_by_role("button", name="Delete run").click()
    alice.get_by_text("Deleted alices.").wait_for()
    assert not (runs / "alices.pt").exists() and (runs / "her-upload.pt").exists()
    _no_errors(alice)


def _shown(page, text: re.Pattern, timeout: float = 120_000) -> None:
    """Wait for ``text``; failing, say what the page shows instead."""
    try:
        page.get_by_text(text).first.wait_for(timeout=timeout)
    except sync_api.TimeoutError:
        raise AssertionError(f"{text.pattern!r} never showed; the page: {page.get_by_test_id('stMain').inner_text()}")


def test_a_ray_sweep_says_where_it_runs_survives_a_reload_and_stops(serve, browser, runs, ray_address):
    url, _ = serve(VAE_ENGINE="ray", VAE_RAY_ADDRESS=ray_address)
    page = _page(browser)
    page.goto(url + "/train?latent_dim=2&epochs=60")
    _routed(page, "Train a VAE")
    page.get_by_text("β sweep: several runs as one batch").click()
    page.get_by_text(re.compile(rf"^Trainings run on the Ray cluster at {ray_address}, \d+ of 2 CPUs free")).wait_for()
    settle(page)
    page.get_by_label("Name prefix", exact=True).fill("onray")
    page.get_by_role("button", name="Start the sweep").click()
    _shown(page, re.compile(r"Your sweep: \d of 5 runs finished"))
    table = page.get_by_test_id("stDataFrame")
    # The runs' rows name the Ray host they train on once their first epoch is saved.
    deadline = time.monotonic() + 120
    while len(list(runs.glob("onray-*.pt"))) < 2:
        assert time.monotonic() < deadline, "no Ray run saved an epoch"
        time.sleep(0.5)

    page.reload()  # mid-sweep: the URL's batch token brings the live view back
    _shown(page, re.compile(r"Your sweep: \d of 5 runs finished"))
    settle(page)
    table.filter(has_text="Ray: ").first.wait_for(timeout=30_000)  # the host each run trains on
    _no_errors(page)
    page.get_by_role("button", name="Stop the sweep").click()
    page.get_by_text("Your sweep: 5 of 5 runs finished").wait_for(timeout=120_000)
    settle(page)
    _no_errors(page)
    from vae.runfile import list_runs

    status = {i.name: i.status for i in list_runs(runs) if i.name.startswith("onray-")}
    assert status and set(status.values()) <= {"stopped", "completed"}, status
    assert "stopped" in status.values()


def test_enter_in_a_form_field_starts_nothing(serve, browser, runs):
    """A teacher types a value and presses Enter: the forms start only on their button (issue #40)."""
    url, _ = serve()
    page = _page(browser)
    page.goto(url + "/train?latent_dim=2&epochs=1")
    _routed(page, "Train a VAE")
    form = page.get_by_test_id("stForm").first
    for label, value in (("Epochs", "10"), ("Run name", "entered"), ("Seed", "3"), ("Learning rate", "0.002")):
        field = form.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        settle(page)
    page.get_by_text("β sweep: several runs as one batch").click()
    prefix = page.get_by_label("Name prefix", exact=True)
    prefix.fill("entered-sweep")
    prefix.press("Enter")
    settle(page)
    time.sleep(2)  # a training would have been admitted by now; it is not
    drawn(page)
    assert page.get_by_text("Your training").count() == 0 and page.get_by_text("Your sweep").count() == 0
    assert sorted(p.name for p in runs.glob("*.pt")) == ["mlp-d2-b1.pt"]
    _no_errors(page)
