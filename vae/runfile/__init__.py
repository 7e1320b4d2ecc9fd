"""The run file: one ``NAME.pt`` per run, its format, its names and writers, the folder of runs and their views.

The public face is this package: ``save_run``, ``load_run`` / ``load_run_bytes`` (read and validate),
``validated``, ``list_runs``, ``delete_run``, ``store_in_final``, ``import_run`` and the views (``cached_view``,
``read_json`` / ``write_json``, ``read_png`` / ``write_png``). It loads each module on first use, so that listing
runs, as a cold Home does, never imports torch. Inside: ``reading`` (unpickle with ``weights_only=True``, then
validate whole), ``schema`` (the rules every writer and reader share), ``writing`` (atomic saves), ``names`` and
``writers`` (file-safe names, one writer each, the kernel's lock), ``owners``, ``folder`` and ``views``.

The format. A run file is ``torch.save`` of one dict of plain tensors, numbers, strings, lists and dicts
(``torch.load(..., weights_only=True)`` reads it; at most ``reading.MAX_CHECKPOINT_BYTES``):

- ``format`` ``"vae-lab-run"``, ``format_version`` 1, ``name``, ``created`` (ISO time, UTC).
- ``config``: ``vae.model.config.VAEConfig.to_dict()``, every field of the frozen config.
- ``state_dict``: the model's weights, shapes checked against the config.
- ``final`` (``schema.check_final``): ``test`` {``recon``, ``kl``, ``loss``} in nats per image (or the MSE's
  unit), ``dataset``, ``n_test``, ``epochs``, ``status`` (``vae.vocabulary.FILE_STATUSES``), ``message``; and
  optionally ``trainer`` (``writers.trainer_id()`` of a ``running`` file), ``position`` {``epoch``, ``step``} of a
  run stopped mid-epoch, ``reference`` {``source``, ``iw_k``, ``nll``, ``active_units``, ``epochs``}, ``iw`` (the
  importance-weighted bound: {``k``, ``n``, ``seed``, ``nll``, ``seconds``}), ``active_units``,
  ``disentanglement`` (``schema.DISENTANGLEMENT_KEYS``, with ``dci`` and ``mu_variance`` optional).
- ``history`` (``schema.check_history``): ``epochs``, one dict a finished epoch (``schema.EPOCH_KEYS``, and
  ``regularizer``); ``steps`` (``vae.training.record.StepHistory.to_dict``: ``steps_per_epoch``, ``columns``
  ``schema.STEP_COLUMNS``, ``values`` ``[S, 8]``, ``stride``, and ``pending`` steps of an open row); ``frames``
  (``vae.training.record``: ``epochs`` ``[E]``, ``index`` ``[P]``, ``labels`` ``[P]``, ``positions``
  ``[E, P, 2]`` fp16, ``recon_index`` ``[R]``, ``recons`` ``[E, R, 28, 28]`` uint8); ``imported`` {``from``,
  ``file``} for a run made from foreign weights; ``iw_per_image`` ``[N]``, each test image's bound, where it was
  measured. Files from before the β-VAE family hold ``steps`` as a bare ``[S, 7]`` tensor with ``step_columns``.
- ``train_state``, which lets training carry on exactly (``vae.training.loop.TrainState.state_dict``):
  ``optimizer``, ``order_rng``, ``noise_rng``, ``epochs_done``; ``critic_optimizer`` for FactorVAE; and a
  mid-epoch ``position`` {``step``, ``order_rng``, ``sums``, ``seen``}. Shipped runs leave it out.
- ``owner``: the hash of its owner's token (``owners.owner_hash``); ``origin``: ``"upload"`` for an upload.

Imports ``vae.model``, ``vae.data.facts`` and the ground floor.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vae.runfile.folder import RunInfo, clean_stale_tmp, delete_run, list_runs
    from vae.runfile.reading import validated
    from vae.runfile.views import cached_view, read_json, read_png, write_json, write_png
    from vae.runfile.writing import Run, import_run, load_run, load_run_bytes, save_run, store_in_final

_FACE = {
    **dict.fromkeys(("Run", "save_run", "load_run", "load_run_bytes", "import_run", "store_in_final"), "writing"),
    "validated": "reading",
    **dict.fromkeys(("RunInfo", "list_runs", "delete_run", "clean_stale_tmp"), "folder"),
    **dict.fromkeys(("cached_view", "read_json", "write_json", "read_png", "write_png"), "views"),
}
__all__ = [
    "Run",
    "RunInfo",
    "cached_view",
    "clean_stale_tmp",
    "delete_run",
    "import_run",
    "list_runs",
    "load_run",
    "load_run_bytes",
    "read_json",
    "read_png",
    "save_run",
    "store_in_final",
    "validated",
    "write_json",
    "write_png",
]


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


def __getattr__(name: str) -> Any:
    """Load the module behind a name of the face on first use (PEP 562): ``writing`` imports torch."""
    module = _FACE.get(name)
    if module is None:
        raise AttributeError(f"module 'vae.runfile' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vae.runfile.{module}"), name)
