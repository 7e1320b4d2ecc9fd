"""Home's pictures of a run, read from its ``home-DATA`` view without torch when it has one (the shipped runs ship
theirs), else drawn now and kept beside it for the next visitor and the next restart."""

from __future__ import annotations

from vae.data_files import loaded_name
from vae.folder import RunInfo
from vae.pictures import HomePictures, home_key
from vae.views import read_json


def stored_home_pictures(info: RunInfo) -> HomePictures | None:
    """The run's stored Home pictures, or None (torch is not touched): those on the data its dataset loads as, else,
    where that data is not on disk (a cold Cloud server downloads it; an offline one stands the embedded digits in),
    those drawn on the run's own dataset where it was, as the shipped runs ship them."""
    names = dict.fromkeys(name for name in (loaded_name(info.config.dataset), info.config.dataset) if name)
    for name in names:
        try:
            stored = read_json(info.path, home_key(name))
        except OSError:  # the file went away since it was listed; drawing it says so
            return None
        if stored is not None:
            return HomePictures.from_json(stored)
    return None


def home_pictures(info: RunInfo) -> HomePictures:
    """Home's pictures of the run: stored, else drawn from its model (which loads torch) and stored."""
    stored = stored_home_pictures(info)
    if stored is not None:
        return stored
    from ui import loaders
    from vae.precompute import class_means, home_view

    data = loaders.dataset(info.config.dataset)
    return home_view(info.path, loaders.load(info), class_means(loaders.latents_of(info)[0], data), data)
