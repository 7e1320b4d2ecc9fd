"""What is computed from a trained model, for the pages and the CLI: encodings, class means, walks, embeddings and
the one PCA (``latents``), likelihoods and the importance-weighted bound (``likelihood``), disentanglement metrics
(``disentanglement``) and the study's table (``study``), image grids and Home's pictures (``pictures``), and the
views kept beside a run (``precompute``).

Imports ``vae.model``, ``vae.data``, ``vae.runfile`` and the ground floor; never training.
"""
