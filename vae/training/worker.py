"""What a training worker does on either engine: train the run that its orders name and say what happens as
``vae.training.pipe`` messages. A local training process pickles them onto its stdout
(``vae.training.local_engine``); a Ray task yields them to its driver (``vae.training.ray_engine``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vae.training.pipe import EventBundle, Failure, Message, Notice, TrainingOrders

if TYPE_CHECKING:
    from vae.data.datasets import Dataset
    from vae.runfile import Run

# Step metrics go out in bundles, one message a bundle rather than one a step; epochs and the end go at once.
SEND_EVERY_S = 0.2


def training_messages(
    orders: TrainingOrders, stop: threading.Event, *, data: Dataset | None = None, resume: Run | None = None
) -> Iterator[Message]:
    """Train and save the run that ``orders`` name in ``orders.directory``: a ``Notice``, then ``EventBundle``s,
    or a ``Failure`` when it cannot go on. ``stop`` ends the run after its current step, saved as ``stopped``.

    ``data`` is the dataset when the driver sent it (else loaded here); ``resume`` the run to continue (else
    read from ``orders.resume_path``). Torch threads are set from the orders first, so that a run has the same
    numbers on any engine.
    """
    import torch  # after the caller has set the process's priority

    from vae.data.datasets import load_dataset
    from vae.runfile import load_run
    from vae.training.loop import StepMetrics
    from vae.training.runs import train_run

    torch.set_num_threads(orders.threads)
    try:
        data = data if data is not None else load_dataset(orders.config.dataset)
        yield Notice(data.notice)
        if resume is None and orders.resume_path is not None:
            resume = load_run(orders.resume_path)
        bundle: list = []
        sent = time.monotonic()
        run = train_run(
            orders.config,
            orders.name,
            orders.directory,
            data=data,
            stop=stop,
            resume=resume,
            owner=orders.owner,
            resume_version=orders.resume_version,
            origin=orders.origin,
            trainer=orders.trainer,
        )
        for event in run:
            bundle.append(event)
            if not isinstance(event, StepMetrics) or time.monotonic() - sent >= SEND_EVERY_S:
                yield EventBundle(tuple(bundle))
                bundle, sent = [], time.monotonic()
    except GeneratorExit:
        raise
    except Exception as exc:
        logging.getLogger(__name__).exception("training %s failed", orders.name)
        yield Failure(str(exc) or type(exc).__name__)
