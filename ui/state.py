"""Session state shared by the pages: the run list, the current run, and the visitor: its owner token, kept in a
cookie of the browser, and its training and sweep, found on the server by that token. A link carries settings only.

Light on purpose: it imports no torch, so that the router and Home's first screen are drawn on a cold server
while torch loads (``ui.loaders`` holds the models and what is computed from them). The job registry is
reached only when a tab has a job or a sweep to look up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from vae.model.config import VAEConfig, apply_valid
from vae.runfile import RunInfo, clean_stale_tmp, list_runs
from vae.runfile.owners import new_owner_token, owner_hash
from vae.runfile.reading import UPLOAD
from vae.server.limits import HeavyWork
from vae.settings import default_checkpoint_dir

if TYPE_CHECKING:
    from vae.server.registry import JobRegistry
    from vae.training.jobs import TrainingJob

ROOT = Path(__file__).resolve().parent.parent
CURRENT_RUN_KEY = "current_run"
JOB_TOKEN_KEY = "training_job_token"
DELETED_KEY = "run_just_deleted"  # said once on the Runs page after the rerun that a delete causes
DONE_SEEN_KEY = "job_done_seen"  # the token of this visitor's job (or sweep) whose ending the page has taken in
LIVE_CURVES_KEY = "live_curves_figure"  # (token, when, figure): the live curves, rebuilt every few seconds
EXPLORER_START_KEY = "explorer_start"  # the start point the explorer's board was last set from
EXPLORER_CLICK_KEY = "explorer_last_click"  # the last point clicked on the explorer's plane
BROWSER_MODELS_SENT_KEY = "browser_models_sent"  # the model keys whose weights this session sent to its tab


def checkpoint_dir() -> Path:
    """Where runs live: ``$VAE_CHECKPOINT_DIR`` or the repo's ``checkpoints/``, as for the CLI."""
    return default_checkpoint_dir()


def _dir_signature(directory: Path) -> tuple:
    """Changes whenever a run is added, replaced or removed: the cache key for the run list."""
    try:
        entries = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir())
    except OSError:
        return ()
    return tuple(entries)


@st.cache_data(max_entries=8, show_spinner=False)
def _list_runs_cached(directory: str, signature: tuple) -> list[RunInfo]:
    clean_stale_tmp(Path(directory))  # leftovers of a writer killed mid-save; young ones are left alone
    return list_runs(Path(directory))


def runs() -> list[RunInfo]:
    """Readable runs in the checkpoint directory, shipped first."""
    directory = checkpoint_dir()
    return [r for r in _list_runs_cached(str(directory), _dir_signature(directory)) if not r.error]


def unreadable_runs() -> list[RunInfo]:
    directory = checkpoint_dir()
    return [r for r in _list_runs_cached(str(directory), _dir_signature(directory)) if r.error]


def uploaded_sizes() -> list[int]:
    """The sizes of the runs that browsers uploaded, readable or not: what the upload limits count."""
    directory = checkpoint_dir()
    return [r.size for r in _list_runs_cached(str(directory), _dir_signature(directory)) if r.origin == UPLOAD]


LINK_FIELDS = ("name",)  # what a link may carry besides the config's fields: the Train form's run name


def config_from_query(params: Mapping[str, str], base: VAEConfig) -> tuple[VAEConfig, str]:
    """Form defaults from URL parameters such as ``?arch=conv&beta=4``.

    Returns ``base`` with every valid field applied, and a notice that names each bad value with what it allows
    and each key that is not a setting of the form ("" when all were good). Owner and training tokens that old
    links carried are dropped by the router and not named.
    """
    fields = base.to_dict()
    known = {k: v for k, v in params.items() if k in fields}
    config, errors = apply_valid(base, known)
    strangers = sorted(set(params) - set(fields) - set(LINK_FIELDS) - set(LINK_TOKENS))
    named = [str(e) for e in errors] + [f"{k}= is not a setting of the form" for k in strangers]
    if not named:
        return config, ""
    kept = "The rest of the link's settings were applied." if len(errors) < len(known) else ""
    return (
        config,
        f"The link's training settings were ignored where they are not valid: {' · '.join(named)}. {kept}".strip(),
    )


# --- Training jobs: they belong to the server; a visitor finds its own by its owner token, never by a link. ---


@st.cache_resource(show_spinner=False)
def job_registry() -> JobRegistry:
    """The process-wide registry of training jobs, shared by every session (never per-user state)."""
    from vae.server.registry import JobRegistry  # torch: only once a tab has a job to start or look up

    return JobRegistry()


@st.cache_resource(show_spinner=False)
def heavy_work() -> HeavyWork:
    """The process-wide bound on on-demand heavy computations, shared by every session."""
    return HeavyWork()


@st.cache_resource(show_spinner=False)
def _visitors() -> dict[str, dict[str, str]]:
    """Process-wide: each visitor's (owner hash's) latest job and sweep tokens, ``{"job": …, "batch": …}``. Light on
    purpose: a returning visitor's first page reaches the registry (and torch) only when it has a training there."""
    return {}


def _session_token(key: str, kind: str, lookup: Callable[[str], object]) -> str | None:
    """This visitor's latest token of ``kind`` ("job" or "batch"), else this tab's own under ``key``; None when
    neither names something the registry still holds (finished longer ago than ``VAE_JOB_RETENTION_S``)."""
    owner = session_owner()
    latest = _visitors().get(owner_hash(owner), {}).get(kind) if owner else None
    for token in (latest, st.session_state.get(key)):
        if token is not None and lookup(token):
            st.session_state[key] = token
            return token
    st.session_state.pop(key, None)
    return None


def session_job() -> tuple[str, TrainingJob] | None:
    """This visitor's training job and its token: the latest it started, from any of its tabs."""
    token = _session_token(JOB_TOKEN_KEY, "job", lambda t: job_registry().get(t))
    job = job_registry().get(token) if token is not None else None
    return (token, job) if token is not None and job is not None else None


BATCH_KEY = "sweep_batch_token"


def session_batch() -> tuple[str, list[TrainingJob]] | None:
    """This visitor's sweep and its token: the latest it started, from any of its tabs."""
    token = _session_token(BATCH_KEY, "batch", lambda t: job_registry().batch(t))
    batch = job_registry().batch(token) if token is not None else None
    return (token, batch) if token is not None and batch else None


def _remember(kind: str, owner: str, token: str) -> None:
    if owner:
        _visitors().setdefault(owner, {})[kind] = token


def start_batch(jobs: list[TrainingJob]) -> str:
    """Queue a sweep's jobs as one batch owned by this visitor, and return its token (kept on the server)."""
    token = job_registry().submit_batch(jobs)
    st.session_state[BATCH_KEY] = token
    _remember("batch", jobs[0].owner if jobs else "", token)
    return token


def session_busy() -> bool:
    """One training per visitor: its own job, or its own sweep, is still queued or running."""
    mine, batch = session_job(), session_batch()
    return (mine is not None and not mine[1].snapshot().done) or (
        batch is not None and not all(j.snapshot().done for j in batch[1])
    )


def start_job(job: TrainingJob) -> str:
    """Submit ``job`` to the registry and make it this visitor's own; its token is kept on the server."""
    token = job_registry().submit(job)
    st.session_state[JOB_TOKEN_KEY] = token
    _remember("job", job.owner, token)
    return token


# --- Owners: a run made in the app belongs to the visitor (the browser) that made it, for good. ---

OWNER_KEY = "owner_token"
VISITOR_COOKIE = "vae_lab_visitor"
COOKIE_MAX_AGE_S = 400 * 24 * 3600  # the longest life browsers give a cookie
# Tokens that links carried before ownership moved to a cookie: dropped from the address, never adopted.
LINK_TOKENS = ("owner", "job", "batch")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _is_token(value: object) -> bool:
    return isinstance(value, str) and 16 <= len(value) <= 64 and set(value) <= _TOKEN_CHARS


def visitor_cookie() -> str | None:
    """The owner token in the browser's cookie, as the browser sent it when this session connected."""
    value = st.context.cookies.get(VISITOR_COOKIE)
    return value if _is_token(value) else None


def session_owner(create: bool = False) -> str | None:
    """This visitor's owner token: this session's, else the browser's cookie (a reload, a new tab); with
    ``create``, a new one when it has none, given to the browser as a cookie. Never read from or put in a link."""
    token = st.session_state.get(OWNER_KEY)
    if token is None:
        token = visitor_cookie()
        if token is None and create:
            token = new_owner_token()
        if token is not None:
            st.session_state[OWNER_KEY] = token
            keep_visitor_cookie()
    return token


def keep_visitor_cookie() -> None:
    """Called by the router on every run: drop tokens that an old link carries, and give the browser this session's
    owner token as a first-party cookie when it does not hold it yet, so that a reload or another tab of the same
    browser is the same visitor. The token is ours (``_is_token``): nothing a visitor typed reaches the script."""
    for param in LINK_TOKENS:
        if param in st.query_params:
            del st.query_params[param]
    token = st.session_state.get(OWNER_KEY)
    if not _is_token(token) or visitor_cookie() == token:
        return
    cookie = f"{VISITOR_COOKIE}={token}; path=/; max-age={COOKIE_MAX_AGE_S}; SameSite=Lax"
    st.sidebar.html(
        f"<script>document.cookie = '{cookie}' + (location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def owner_hash_for_new_run() -> str:
    """What a run made by this browser stores of its owner (a token is made now if it has none)."""
    return owner_hash(session_owner(create=True))


def owns(info: RunInfo) -> bool:
    """Whether this browser may delete ``info`` or change it in place."""
    return info.owned_by(session_owner())


def may_change_run(info: RunInfo) -> str:
    """Why this browser may not delete or change run ``info`` in place now, or "" when it may."""
    if info.shipped:
        return f"{info.name} is a shipped run: read-only for everyone"
    if not owns(info):
        return f"{info.name} is not yours: only the browser that made it can delete it or change it in place"
    job = job_registry().job_for_run(info.name)
    if job is not None and not job.snapshot().done:
        return f"{info.name} is being trained right now; stop the training first"
    return ""
