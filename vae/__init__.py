"""VAE Lab's core: everything but the pages, in packages by concept, each importing only those below it.

From the ground up:

- ``vae.vocabulary``, ``vae.settings``: statuses and errors; settings read from the environment.
- ``vae.data``: datasets, on disk, embedded or drawn, and a drawing prepared the MNIST way.
- ``vae.model``: the frozen config, the networks, their cost, and the objectives' named loss terms.
- ``vae.runfile``: the run file: its format, its names and writers, the folder of runs and their views.
- ``vae.analysis``: what is computed from a trained model: latents, likelihoods, disentanglement, pictures.
- ``vae.training``: the loop, what it records, the runs it saves, and the engines it runs on (local, Ray).
- ``vae.browser``: a run's networks as plain numbers for the visitor's browser.
- ``vae.server``: what a shared server admits, and its registry of visitors' trainings.
- ``vae.cli``: ``python -m vae``.

Importing this package or any of its packages does no work and pulls in neither torch nor streamlit; import the
modules you need (``from vae.model.networks import build_model``). Nothing here imports ``ui`` or ``pages``.
"""

__version__ = "0.1.0"
