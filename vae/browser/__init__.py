"""A run's networks as plain numbers, for a forward pass in the visitor's browser: one vocabulary of layers
(``model.op_of``), the decoder (``model``) and the encoder (``encoder``). The JavaScript that runs them is in
``ui/``.

Imports ``vae.model`` and ``vae.settings``.
"""
