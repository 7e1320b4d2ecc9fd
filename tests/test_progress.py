"""The live views' progress and ETA: pure arithmetic, checked at its edges."""

import pytest

from vae.training.jobs import eta_seconds, fraction_done


def test_a_fresh_job_counts_every_step_of_every_epoch():
    assert fraction_done(epochs=4, first_epoch=1, epoch=1, step=0, steps_per_epoch=10) == 0.0
    assert fraction_done(epochs=4, first_epoch=1, epoch=2, step=5, steps_per_epoch=10) == pytest.approx(15 / 40)
    assert fraction_done(epochs=4, first_epoch=1, epoch=4, step=10, steps_per_epoch=10) == 1.0


def test_a_continued_job_counts_from_where_it_resumed():
    # Epochs 11 to 12 of a run that had 10: step 5 of epoch 11 is a quarter of this job's own work.
    assert fraction_done(epochs=12, first_epoch=11, epoch=11, step=5, steps_per_epoch=10) == pytest.approx(0.25)


def test_the_fraction_stays_in_its_range_whatever_it_is_given():
    assert fraction_done(epochs=1, first_epoch=1, epoch=3, step=9, steps_per_epoch=10) == 1.0
    assert fraction_done(epochs=2, first_epoch=3, epoch=1, step=0, steps_per_epoch=10) == 0.0
    assert fraction_done(epochs=1, first_epoch=1, epoch=1, step=0, steps_per_epoch=0) == 0.0


def test_the_eta_goes_at_the_pace_so_far_and_waits_for_one():
    assert eta_seconds(30.0, 0.25) == pytest.approx(90.0)
    assert eta_seconds(30.0, 1.0) == 0.0
    assert eta_seconds(0.0, 0.0) is None and eta_seconds(5.0, -0.1) is None
