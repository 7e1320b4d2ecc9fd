"""VAE Lab: the entrypoint. It only configures the page and routes to the views in pages/, and starts warming a
cold server up once its first page is drawn. It imports no torch: Home's first screen does without."""

import streamlit as st

from ui import charts, routing, state, warmup

st.set_page_config(page_title="VAE Lab", page_icon=":material/blur_on:", layout="wide")

navigation = st.navigation(
    {
        "VAE Lab": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
        "Train and compare": [
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("pages/runs.py", title="Runs & loss curves", icon=":material/monitoring:"),
        ],
        "Explore a model": [
            st.Page("pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
            st.Page("pages/explorer.py", title="Latent explorer", icon=":material/tune:"),
            st.Page("pages/interpolation.py", title="Interpolation", icon=":material/linear_scale:"),
            st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
            st.Page("pages/diagnostics.py", title="Diagnostics", icon=":material/troubleshoot:"),
            st.Page("pages/disentanglement.py", title="Disentanglement", icon=":material/grid_view:"),
            st.Page("pages/draw.py", title="Draw a digit", icon=":material/draw:"),
        ],
    }
)
with warmup.drawing():
    # A run belongs to its browser: its owner token lives in a cookie, never in a link (ui.state).
    state.keep_visitor_cookie()
    # routed: a page run outside this (Streamlit's old multipage mode) runs this router; first_paint: a new
    # visitor's first run draws the page, then its charts (ui.charts).
    with routing.routed(), charts.first_paint():
        navigation.run()
warmup.start()  # once per process, once the first page is drawn: that one never waits for it
