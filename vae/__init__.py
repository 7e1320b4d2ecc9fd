"""VAE Lab core: config, data, models, losses, training, checkpoints and analysis.

Importing this package does no work and pulls in neither torch nor streamlit; import the
submodules you need (``from vae.models import build_model``).
"""

__version__ = "0.1.0"
