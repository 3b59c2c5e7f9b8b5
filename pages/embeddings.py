"""Embeddings: a 2-D map of the movies in factor space, your place on it, neighbours, and user groups."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard import state
from dashboard.charts import item_map
from dashboard.data import active_data, catalogue, genres
from dashboard.navigation import inside_app
from dashboard.recs import TSNE_POINTS, clusters_of, has_factors, item_projection, my_vector, serving_choice
from dashboard.ui import engine_errors, need_model
from recengine.data.dataset import RatingsDataset
from recengine.serving.cluster import cluster_favourites
from recengine.serving.recommend import similar_items

inside_app()

METHODS = {"pca": "PCA (fast, places you too)", "tsne": "t-SNE (slower, local neighbourhoods)"}
COLOURS = {"genre": "genre", "cluster": "KMeans group of the movie"}
DEFAULT_GENRES = ("Animation", "Horror", "Documentary", "Romance")
OTHER = "other"
PICKABLE = 5000  # the most rated movies are offered in the search


def choose_run(data: RatingsDataset) -> state.Run | None:
    runs = [run for run in state.runs_on(data.fingerprint) if has_factors(run)]
    if not runs:
        return None
    default, _ = serving_choice(data)  # the model serving the person's lists, when it has factors
    titles = [run.title for run in runs]
    index = titles.index(default.title) if default is not None and default.title in titles else len(runs) - 1
    return runs[titles.index(st.selectbox("Model", titles, index=index, key="embed_model"))]


def genre_labels(data: RatingsDataset, chosen: list[str]) -> np.ndarray:
    """Each movie's first genre among ``chosen`` (in that order), else "other"."""

    def label(genres: list[str]) -> str:
        return next((g for g in chosen if g in genres), OTHER)

    return catalogue(data)["genre_list"].map(label).to_numpy()


def movie_map(run: state.Run, data: RatingsDataset) -> None:
    left, middle, right = st.columns(3)
    method = left.radio("Projection", list(METHODS), format_func=METHODS.get, key="embed_method")
    colour = middle.radio("Colour by", list(COLOURS), format_func=COLOURS.get, key="embed_colour")
    least = right.slider("Movies with at least this many ratings", 1, 100, 10, key="embed_min_ratings")
    table = catalogue(data)
    rows = np.flatnonzero(table["ratings"].to_numpy() >= least)
    projection = item_projection(run, method, rows, least)
    st.caption(
        projection.note + (" PCA maps every movie." if method == "tsne" and len(rows) > TSNE_POINTS else "")
    )
    colors = None
    points = pd.DataFrame(
        {
            "x": projection.coords[:, 0],
            "y": projection.coords[:, 1],
            "title": table["title"].to_numpy()[projection.rows],
            "genres": table["genres"].to_numpy()[projection.rows],
        }
    )
    if colour == "genre":
        options = genres(data)
        chosen = st.multiselect("Genres to colour", options, default=[g for g in DEFAULT_GENRES if g in options],
                                key="embed_genres", max_selections=6)  # fmt: skip
        points["genre"] = genre_labels(data, chosen)[projection.rows]
        points = points.sort_values("genre", key=lambda g: g != OTHER, kind="stable")  # others drawn first
        palette = px.colors.qualitative.Dark24  # a genre's colour follows from its place in the genre list
        colors = {genre: palette[options.index(genre) % len(palette)] for genre in chosen}
    else:
        groups = st.slider("Number of movie groups", 2, 20, 8, key="embed_item_groups")
        points["cluster"] = clusters_of(run, "items", groups).labels[projection.rows].astype(str)
    you = your_position(run, data, projection)
    chosen_movie, neighbours = search(run, data, projection, points)
    figure = item_map(points, colour, you, chosen_movie, neighbours, colors if colour == "genre" else None)
    st.plotly_chart(figure, key="embed_map")


def your_position(run: state.Run, data: RatingsDataset, projection) -> tuple[float, float] | None:
    if not state.my_ratings():
        st.caption("Rate a few movies to see where you are on the map.")
        return None
    if projection.pca is None:
        st.caption("t-SNE cannot place new points: switch to PCA to see your position.")
        return None
    vector = my_vector(run, data)
    x, y = projection.transform(vector.factors)[0]
    return float(x), float(y)


def search(
    run: state.Run, data: RatingsDataset, projection, points: pd.DataFrame
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The chosen movie and its neighbours as map points (numbered as in the table), or Nones."""
    table = catalogue(data).sort_values("ratings", ascending=False)
    code = st.selectbox("Find a movie and its nearest neighbours", table.index.to_list()[:PICKABLE], index=None,
                        format_func=lambda c: str(table.at[c, "title"]), key="embed_search", placeholder="type a title")  # fmt: skip
    if code is None:
        return None, None
    similar = similar_items(run.model, data, data.item_ids[code], n=10)
    st.dataframe(
        pd.DataFrame(
            {
                "#": range(1, len(similar) + 1),
                "neighbour": similar["title"],
                "similarity": similar["similarity"],
            }
        ),
        hide_index=True,
        column_config={
            "similarity": st.column_config.ProgressColumn(min_value=-1, max_value=1, format="%.2f")
        },
        key="embed_neighbours",
    )
    position = {int(c): i for i, c in enumerate(projection.rows)}
    codes = [data.item_code(item) for item in similar["item"]]
    shown = [(rank, position[c]) for rank, c in enumerate(codes, 1) if c in position]
    neighbours = points.loc[[at for _, at in shown], ["x", "y", "title"]].assign(number=[r for r, _ in shown])
    chosen = points.loc[[position[code]], ["x", "y", "title"]] if code in position else None
    if chosen is None:
        st.caption("The chosen movie has fewer ratings than the map shows: lower the minimum to see it.")
    return chosen, neighbours


def user_groups(run: state.Run, data: RatingsDataset) -> None:
    st.subheader("Groups of users")
    if not has_factors(run, "user"):
        st.caption(f"{run.label} has no user factors.")
        return
    groups = st.slider("Number of user groups", 2, 20, 6, key="embed_user_groups")
    clustering = clusters_of(run, "users", groups)
    favourites = cluster_favourites(clustering, data, n=5)
    if clustering.sample_note:
        st.caption(f"KMeans {clustering.sample_note}.")
    if state.my_ratings():
        yours = int(clustering.assign(my_vector(run, data).factors)[0])
        st.markdown(f"You belong to **group {yours}**.")
    st.dataframe(
        pd.DataFrame({"group": favourites["cluster"], "users": favourites["size"],
                      "favourite movies": [", ".join(titles) for titles in favourites["favourites"]]}),
        hide_index=True,
        column_config={"users": st.column_config.ProgressColumn(min_value=0, max_value=int(favourites["size"].max()), format="%d")},
        key="embed_user_groups_table",
    )  # fmt: skip


def main() -> None:
    st.title("Embeddings")
    st.markdown(
        "Each movie is a vector of factors. Films liked by the same people point the same way, so they land "
        "close together on this map; the map flattens the factor space to two dimensions."
    )
    with engine_errors("Choose another model, or PCA instead of t-SNE."):
        data = active_data()
        run = choose_run(data)
        if run is None:
            need_model()
            st.caption("The map needs a factorization model (not the baseline or most-popular).")
            return
        movie_map(run, data)
        user_groups(run, data)


main()
