"""Home: what the tool is, the active data set in numbers, and three steps to start."""

import streamlit as st

from dashboard import state
from dashboard.data import active_data
from dashboard.navigation import inside_app
from dashboard.recs import serving_choice
from dashboard.ui import engine_errors

inside_app()

STEPS = (
    ("pages/rate.py", "1. Rate a few movies", "Five or more: search by title or browse the most rated."),
    (
        "pages/train.py",
        "2. Train a model",
        "Pick an algorithm and watch its loss curves fall, epoch by epoch.",
    ),
    (
        "pages/recommendations.py",
        "3. See your recommendations",
        "Each with the films of yours that led to it.",
    ),
)


def main() -> None:
    st.title("recengine: how matrix factorization recommends movies")
    st.markdown(
        "Rate a few movies, train a recommender on thousands of other people's ratings, and see what it "
        "suggests for you, and why. Every step shows its numbers: how the loss falls while a model learns, "
        "how well it predicts ratings, and how well it ranks, which is not the same thing."
    )
    with engine_errors("Choose another data set on the Data page."):
        data = active_data()
        st.subheader(f"The data: {state.data_choice().label}")
        columns = st.columns(5)
        columns[0].metric("Users", f"{data.n_users:,}")
        columns[1].metric("Movies", f"{data.n_items:,}")
        columns[2].metric("Ratings", f"{data.n_ratings:,}")
        columns[3].metric(
            "Empty cells", f"{1 - data.density:.2%}", help="How sparse the user × movie matrix is."
        )
        scale = data.scale
        step = f", steps of {scale.step:g}" if scale.step else ""
        columns[4].metric(
            "Rating scale",
            f"{scale.low:g} to {scale.high:g}",
            help=f"From {scale.low:g} to {scale.high:g}{step}.",
        )
        st.caption(
            f"Only {data.density:.2%} of the user × movie matrix is known. A factorization model fills in "
            "the rest from a few numbers per user and per movie."
        )
        st.subheader("Start in three steps")
        done = (
            len(state.my_ratings()) >= 5,
            serving_choice(data)[0] is not None,
            False,
        )
        for (page, label, detail), finished in zip(STEPS, done, strict=True):
            with st.container(border=True):
                st.page_link(page, label=label + (" ✓" if finished else ""))
                st.caption(detail)
    st.caption(
        "Also: **Data** to load another data set, **Compare & tune** for sweeps, **Evaluate** for "
        "accuracy against ranking quality, **Embeddings** for a map of the movies."
    )


main()
