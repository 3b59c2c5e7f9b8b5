"""Embeddings: a 2-D map of the movies in factor space, your place on it, neighbours, and user groups."""

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import classroom, presentation, state, urlstate
from dashboard.charts import GENRE_COLOURS, item_map, large_type
from dashboard.data import active_data, cache_key, catalogue, genres, most_rated
from dashboard.navigation import inside_app
from dashboard.presentation import presenting
from dashboard.recs import TSNE_POINTS, clusters_of, has_factors, item_projection, my_vector, serving_choice
from dashboard.ui import engine_errors, need_model
from dashboard.widgets import shortened
from recengine import lessons
from recengine.data.dataset import RatingsDataset
from recengine.models.person import UserVector
from recengine.serving.cluster import Projection, cluster_favourites
from recengine.serving.recommend import recommend, similar_items

inside_app()

METHODS = {
    "genres": "Genres apart (the plane that best separates the coloured genres)",
    "pca": "PCA (the widest spread)",
    "tsne": "t-SNE (local neighbourhoods)",
}
COLOURS = {"genre": "genre", "cluster": "KMeans group of the movie"}
DEFAULT_GENRES = ("Animation", "Horror", "Documentary", "Romance")
OTHER = "other"
PICKABLE = 5000  # the most rated movies are offered in the search
REACH = 0.6  # the steering sliders' range, in map units each way
STEP = 0.05
SWITCH = "embed_present"
LINKED = "embed_clicked"  # the last film clicked on the map (so a click is applied once)


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


@st.cache_resource(max_entries=16, show_spinner="Finding the plane that separates the genres…")
def _genre_plane(_run: state.Run, run_id: str, data_key: str, _rows: np.ndarray, least: int,
                 genres: tuple[str, ...], _labels: np.ndarray) -> lessons.GenreMap:  # fmt: skip
    """Keyed by everything it returns: the model (``run_id``), and the films' genres it separates (``data_key``,
    `dashboard.data.cache_key`: the item table's content and, for an upload, whose it is; a model that reads no
    genres has one run id on an upload that copies the bundled ratings under other genres, probe 7)."""
    return lessons.genre_map(_run.model.item_factors_, _rows, np.where(_labels == OTHER, "", _labels))


def pca_plane(projection: Projection) -> lessons.GenreMap:
    """A PCA map as a plane of unit factor directions (its mean and components), to steer on."""
    pca = projection.pca
    kept = float(np.sum(pca.explained_variance_ratio_))
    return lessons.GenreMap(projection.coords, projection.rows, pca.mean_, pca.components_.T, kept)


@st.fragment  # a move of your point, or a click on the map, redraws this part only
def movie_map(run: state.Run, data: RatingsDataset) -> None:
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    with engine_errors("Choose another model, or PCA instead of t-SNE."):  # a fragment reruns alone
        draw_map(run, data)


def draw_map(run: state.Run, data: RatingsDataset) -> None:
    left, middle, right = st.columns(3)
    method = left.radio("Projection", list(METHODS), format_func=METHODS.get, key="embed_method")
    colour = middle.radio("Colour by", list(COLOURS), format_func=COLOURS.get, key="embed_colour")
    least = right.slider("Movies with at least this many ratings", 1, 100, 10, key="embed_min_ratings")
    table = catalogue(data)
    rows = np.flatnonzero(table["ratings"].to_numpy() >= least)
    options = genres(data)
    chosen: list[str] = []
    if colour == "genre" or method == "genres":
        chosen = st.multiselect("Genres to colour", options, default=[g for g in DEFAULT_GENRES if g in options],
                                key="embed_genres", max_selections=len(GENRE_COLOURS))  # fmt: skip
    labels = genre_labels(data, chosen)
    pca = item_projection(run, "pca", rows, least)
    plane: lessons.GenreMap | None = None
    if method == "genres":
        plane = _genre_plane(run, run.run_id, cache_key(data), rows, least, tuple(chosen), labels[rows])
        coords, shown_rows = plane.coords, plane.rows
        st.markdown(
            f"This map keeps **{plane.variance_kept:.0%}** of the spread of the films' factors: it is the flat "
            f"view that tells the coloured genres apart best. PCA's view keeps the most, "
            f"{pca_plane(pca).variance_kept:.0%}, and mixes them."
        )
    else:
        projection = pca if method == "pca" else item_projection(run, method, rows, least)
        plane = pca_plane(projection) if method == "pca" else None
        coords, shown_rows = projection.coords, projection.rows
        st.markdown(
            projection.note
            + (" PCA maps every movie." if method == "tsne" and len(rows) > TSNE_POINTS else "")
        )
    points = pd.DataFrame(
        {
            "x": coords[:, 0],
            "y": coords[:, 1],
            "title": table["title"].to_numpy()[shown_rows],
            "genres": table["genres"].to_numpy()[shown_rows],
            "code": shown_rows,
        }
    )
    colors = None
    if colour == "genre":
        points["genre"] = labels[shown_rows]
        points = points.sort_values("genre", key=lambda g: g != OTHER, kind="stable")  # others drawn first
        colors = {genre: GENRE_COLOURS[index] for index, genre in enumerate(chosen)}
    else:
        groups = st.slider("Number of movie groups", 2, 20, 8, key="embed_item_groups")
        points["cluster"] = clusters_of(run, "items", groups).labels[shown_rows].astype(str)
    take_click(points)
    found = st.container()
    drawn, steering = st.columns([3, 2], gap="medium")
    below = st.container()
    with found:
        chosen_movie, neighbours = search(run, data, points, below)
    with steering:
        you, yours = steer(run, data, plane, points)
    figure = item_map(points, colour, you, chosen_movie, neighbours, colors, yours)
    if presenting():  # the legend beside the map, where large type does not cover the films
        large_type(figure, height=560).update_layout(
            legend=dict(orientation="v", x=1.01, y=1, xanchor="left")
        )
    drawn.plotly_chart(figure, key="embed_map", on_select="rerun", selection_mode="points")


def take_click(points: pd.DataFrame) -> None:
    """A film clicked on the map becomes the searched one (its neighbours are drawn and listed)."""
    event = st.session_state.get("embed_map")
    picked = [point.get("customdata") for point in (event or {}).get("selection", {}).get("points", [])]
    codes = [
        int(code) for code in picked if isinstance(code, int | float)
    ]  # the map's films carry their code
    if codes and codes[0] != st.session_state.get(LINKED):
        st.session_state[LINKED] = st.session_state["embed_search"] = codes[0]


def steer(
    run: state.Run, data: RatingsDataset, plane: lessons.GenreMap | None, points: pd.DataFrame
) -> tuple[tuple[float, float] | None, pd.DataFrame | None]:
    """Sliders that move your point over the map, and your top 10 from where it stands, at once."""
    if plane is None:
        st.markdown("t-SNE cannot place a person: choose another projection to move your point.")
        return None, None
    if not has_factors(run, "user") or not run.model.has_taste:
        st.markdown(f"{run.label} cannot place a person on the map.")
        return None, None
    st.markdown("**Move your point** and watch your top 10 change.")
    across_at, up_at = st.columns(2) if presenting() else (st, st)  # side by side: the list stays in view
    across = across_at.slider("← left · right →", -REACH, REACH, 0.0, STEP, key="embed_steer_x")
    up = up_at.slider("↓ down · up ↑", -REACH, REACH, 0.0, STEP, key="embed_steer_y")
    mine = my_vector(run, data)
    length = float(np.median(np.linalg.norm(run.model.user_factors_, axis=1)))
    moved = lessons.steered(mine.factors if len(mine.factors) else np.zeros(plane.axes.shape[0]), plane,
                            (across, up), length)  # fmt: skip
    vector = UserVector(moved, mine.bias, "moved over the map", mine.item_codes, mine.ratings)
    listed = recommend(run.model, data, vector=vector, n=10, taste=0.0)
    x, y = plane.place(moved)[0]
    where = {int(code): at for at, code in enumerate(points["code"])}
    codes = [data.item_code(item) for item in listed["item"]]
    on_map = [(rank, where[c]) for rank, c in enumerate(codes, 1) if c in where]
    yours = points.iloc[[at for _, at in on_map]][["x", "y", "title"]].assign(number=[r for r, _ in on_map])
    kinds = [", ".join(g[:2]) + (", …" if len(g) > 2 else "") for g in listed["genres"]]
    titles = listed["title"]
    if presenting():  # one line a film in large type, so all ten show beside the map
        kinds, titles = [", ".join(g[:2]) for g in listed["genres"]], titles.map(lambda t: shortened(t, 24))
    shown = pd.DataFrame({"rank": range(1, len(listed) + 1), "title": titles, "genres": kinds})
    with st.container(key="embed_steered_list"):  # a plain table: short, and read the moment it changes
        st.table(shown.style.hide(axis="index"))
    if not state.my_ratings():
        st.caption("You start at the map's centre; rate a few movies to start from your own place.")
    return (float(x), float(y)), yours


def search(
    run: state.Run, data: RatingsDataset, points: pd.DataFrame, below: Any
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The chosen movie and its neighbours as map points (numbered as in their table, drawn ``below`` the
    map so a click does not move it), or Nones."""
    titles = most_rated(data, PICKABLE)
    code = st.selectbox("Find a movie and its nearest neighbours (or click one on the map)",
                        list(titles), index=None, format_func=titles.__getitem__,
                        key="embed_search", placeholder="type a title")  # fmt: skip
    if code is None:
        return None, None
    similar = similar_items(run.model, data, data.item_ids[code], n=10)
    below.markdown(f"**The 10 films nearest to {catalogue(data).at[code, 'title']}**, numbered as on the map")
    presentation.table(  # in large type when presenting
        pd.DataFrame(
            {
                "#": range(1, len(similar) + 1),
                "neighbour": similar["title"],
                "similarity": similar["similarity"],
            }
        ),
        "embed_neighbours",
        below,
        precision=2,
        column_config={
            "similarity": st.column_config.ProgressColumn(min_value=-1, max_value=1, format="%.2f")
        },
    )
    where = {int(c): at for at, c in enumerate(points["code"])}
    codes = [data.item_code(item) for item in similar["item"]]
    shown = [(rank, where[c]) for rank, c in enumerate(codes, 1) if c in where]
    neighbours = points.iloc[[at for _, at in shown]][["x", "y", "title"]].assign(
        number=[r for r, _ in shown]
    )
    chosen = points.iloc[[where[code]]][["x", "y", "title"]] if code in where else None
    if chosen is None:
        below.caption("The chosen movie has fewer ratings than the map shows: lower the minimum to see it.")
    return chosen, neighbours


def user_groups(run: state.Run, data: RatingsDataset) -> None:
    st.subheader("Groups of users")
    if not has_factors(run, "user"):
        st.caption(f"{run.label} has no user factors.")
        return
    groups = st.slider("Number of user groups", 2, 20, 6, key="embed_user_groups")
    clustering = clusters_of(run, "users", groups)
    favourites = cluster_favourites(clustering, data, n=3)
    if clustering.sample_note:
        st.caption(f"KMeans {clustering.sample_note}.")
    if state.my_ratings():
        yours = int(clustering.assign(my_vector(run, data).factors)[0])
        st.markdown(f"You belong to **group {yours}**.")
    st.dataframe(
        pd.DataFrame({"group": favourites["cluster"], "users": favourites["size"],
                      "favourite movies": [" · ".join(shortened(t, 27) for t in titles) for titles in favourites["favourites"]]}),
        hide_index=True,
        column_config={"users": st.column_config.ProgressColumn(min_value=0, max_value=int(favourites["size"].max()), format="%d", width=100)},
        key="embed_user_groups_table",
    )  # fmt: skip


def main() -> None:
    urlstate.open_link(presentation.link_values(SWITCH))
    presentation.apply()
    heading, toggle = st.columns([4, 1], vertical_alignment="center")
    heading.title("Embeddings")
    presentation.switch(SWITCH, toggle)
    st.markdown(
        "Films liked by the same people land close together on this map. Move your own point over it and "
        "your list follows."
    )
    with st.expander("More precisely"):
        st.markdown(
            "Each movie is a vector of factors learned from the ratings; films liked by the same people point "
            "the same way. The map is a flat view of those directions (each vector scaled to length 1): a "
            "projection to two dimensions, which keeps only part of their spread. Your point is your own "
            "vector, folded in from your ratings; moving it changes the vector, and your list is the films "
            "whose vectors agree most with it (the model's scores, without the taste re-ranking)."
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
