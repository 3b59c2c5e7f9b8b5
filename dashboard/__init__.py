"""Support for the Streamlit pages: session state, cached loaders, training jobs, widgets and charts.

The engine (`recengine`) never imports Streamlit; this package is the only place that joins the two.
"""
