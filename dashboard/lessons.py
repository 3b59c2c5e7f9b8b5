"""Streamlit pieces for teaching: a model's formulas, rendered, shared by the Train and Lessons pages."""

from __future__ import annotations

import streamlit as st

from recengine.models.formulas import Formulas


def show_formulas(formulas: Formulas | None, expanded: bool = True) -> None:
    """The objective and the step as rendered formulas, then one plain line per symbol."""
    if formulas is None:
        return
    st.markdown(f"**{formulas.objective_name}**")
    st.latex(formulas.objective)
    st.markdown(f"**{formulas.step_name}**")
    st.latex(formulas.step)
    with st.expander("What each symbol means", expanded=expanded):
        st.markdown("\n".join(f"- ${symbol}$: {meaning}" for symbol, meaning in formulas.symbols))
