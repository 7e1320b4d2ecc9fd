"""Home's pictures of a run, read from its ``home-DATA`` view without torch when it has one (the shipped runs ship
theirs), else drawn now and kept beside it for the next visitor and the next restart."""

from __future__ import annotations

from vae.analysis.pictures import HomePictures, home_key
from vae.runfile import RunInfo, read_json


def stored_home_pictures(info: RunInfo) -> HomePictures | None:
    """The run's stored Home pictures on its own dataset, or None (torch is not touched). Stored where that data
    was loaded whole, so they stand even where it is not on disk now (a cold Cloud server downloads it later; an
    offline one stands the embedded digits in)."""
    try:
        stored = read_json(info.path, home_key(info.config.dataset))
    except OSError:  # the file went away since it was listed; drawing it says so
        return None
    return HomePictures.from_json(stored) if stored is not None else None


def home_pictures(info: RunInfo) -> HomePictures:
    """Home's pictures of the run: stored, else drawn from its model (which loads torch) and stored."""
    stored = stored_home_pictures(info)
    if stored is not None:
        return stored
    from ui import loaders
    from vae.analysis.precompute import class_means, home_view

    data = loaders.dataset(info.config.dataset)
    return home_view(info.path, loaders.load(info), class_means(loaders.latents_of(info)[0], data), data)
