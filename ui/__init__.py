"""The UI code the pages share, by role: ``state`` (session state, cached loaders), ``figures``
(plotly builders, no Streamlit) and ``widgets``."""
