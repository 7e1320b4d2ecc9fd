"""The model and its objectives: the one frozen config (``config``), what a model costs without building it
(``size``), the networks behind one interface, ``encode(x) -> posterior`` and ``decode(z) -> logits``
(``networks``), the ELBO's named terms (``losses``), the β-VAE family's regularizers (``objectives``), and Burda
et al.'s reference figures (``burda``).

Imports ``vae.data.facts``, ``vae.vocabulary`` and ``vae.settings``.
"""
