"""Data and datasets: every fact about each dataset (``facts``), which are on disk (``files``), fetching them
(``download``), reading them into tensors (``datasets``), ``shapes`` drawn here, and a visitor's drawing prepared
as MNIST was (``drawing``). The embedded 5,000 digits are in ``embedded/``.

Imports ``vae.vocabulary`` and ``vae.settings`` only.
"""
