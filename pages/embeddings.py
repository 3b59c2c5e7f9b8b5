"""Embeddings: a map of the movies in factor space."""

import streamlit as st

st.title("Embeddings")
