"""Train: the visitor's own training or sweep at the top (live progress, curves, Stop), the config form,
continuing a saved run, a β sweep, and every training on this server (``ui.training``, ``ui.train_form``)."""

import streamlit as st

from ui import picker, routing, state, train_form, training
from vae.data.files import default_dataset
from vae.model.config import VAEConfig

routing.ensure_routed()

st.title("Train a VAE")
picker.dataset_notice()
busy = state.session_busy()
training.live_view()
training.live_sweep()

# Defaults for a quick first run; a shared link can preset any field, e.g. ?arch=conv&latent_dim=10&beta=4.
base = VAEConfig(dataset=default_dataset(), latent_dim=2, epochs=3)
start, link_error = state.config_from_query(st.query_params, base)
if link_error:
    st.error(link_error, icon=":material/link_off:")

train_form.new_training(start, busy, base, st.query_params.get("name", "")[:64])
with st.expander("Continue a run for more epochs", icon=":material/resume:"):
    train_form.continue_run(busy)
with st.expander("β sweep: several runs as one batch", icon=":material/stacked_line_chart:"):
    train_form.sweep(start, busy)
training.server_jobs()
