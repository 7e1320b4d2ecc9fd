"""Home's pictures of a run, read from its ``home-DATA`` view without torch when it has one (the shipped runs ship
theirs), else drawn now and kept beside it for the next visitor and the next restart."""

from __future__ import annotations

from vae.data_files import loaded_name
from vae.folder import RunInfo
from vae.pictures import HomePictures, home_key
from vae.views import read_json


def stored_home_pictures(info: RunInfo) -> HomePictures | None:
    """The run's stored Home pictures for the data that its dataset loads as, or None (torch is not touched)."""
    data_name = loaded_name(info.config.dataset)
    if data_name is None:
        return None  # the data would be downloaded or stood in for: only loading it tells which
    try:
        stored = read_json(info.path, home_key(data_name))
    except OSError:  # the file went away since it was listed; drawing it says so
        return None
    return HomePictures.from_json(stored) if stored is not None else None


def home_pictures(info: RunInfo) -> HomePictures:
    """Home's pictures of the run: stored, else drawn from its model (which loads torch) and stored."""
    stored = stored_home_pictures(info)
    if stored is not None:
        return stored
    from ui import loaders
    from vae.precompute import class_means, home_view

    data = loaders.dataset(info.config.dataset)
    return home_view(info.path, loaders.load(info), class_means(loaders.latents_of(info)[0], data), data)
