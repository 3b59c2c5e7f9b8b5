"""Recommendations: for you (folded in from your ratings) or any user; filters, reasons, similar movies."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import presentation, state, urlstate
from dashboard.data import active_data, catalogue, genres, most_rated
from dashboard.names import escaped
from dashboard.navigation import inside_app
from dashboard.presentation import presenting
from dashboard.recs import (
    FULL_FIT_KEY,
    clusters_of,
    has_factors,
    list_settings,
    my_list,
    my_vector,
    one_line_reason,
    reason_details,
    remembered,
    served_name,
    serving_choice,
    serving_note,
    taste_key,
)
from dashboard.runs import DEFAULT_ALGO, algorithms, train_now
from dashboard.ui import engine_errors
from dashboard.widgets import movie_title, shortened
from recengine.data.dataset import RatingsDataset
from recengine.errors import UnknownIdError
from recengine.evaluation.newuser import list_miscalibration
from recengine.models.base import Recommender
from recengine.serving.cluster import cluster_recommendations
from recengine.serving.recommend import (
    GENRE_WEIGHT,
    NEIGHBOUR_POOL,
    Reader,
    default_taste_for,
    recommend,
    similar_items,
    taste_weight,
)
from recengine.serving.rerank import DEFAULT_WEIGHT

inside_app()

FOR_YOU, FOR_USER = "you", "a user in the data"
PICKABLE = 5000  # longer lists: the most rated only (movies), or typed ids (users)


def no_model(data: RatingsDataset, why: str = "You have not trained a model on this data set yet.") -> None:
    label = algorithms()[DEFAULT_ALGO].label
    st.info(why)
    if st.button(f"Train the default ranking model ({label}) now", key="recs_train_default", type="primary"):
        with engine_errors("Try the Train page."), st.spinner(f"Training {label}…"):
            state.add_run(train_now(data, DEFAULT_ALGO))
        st.rerun()
    st.page_link(
        "pages/train.py", label="or choose a model on the Train page", icon=":material/model_training:"
    )


SWITCH = "recs_present"
SHOW_OTHERS = "recs_show_others"  # also offer the runs of lessons and sweeps


def _choose(by_id: dict[str, state.Run], key: str = "recs_model") -> None:
    if st.session_state.get(key) in by_id:
        state.choose_serving(by_id[st.session_state[key]])


def choose_run(data: RatingsDataset, who: str) -> state.Run | None:
    """The model to recommend with: for "you", the one serving your lists (`serving_choice`), which picking
    another here changes for every page; only models with taste factors. Your own runs are offered, and
    those of lessons and sweeps when asked for (or when one of them serves you)."""
    default, why = serving_choice(data)
    every = state.runs_on(data.fingerprint)
    if who == FOR_YOU:
        every = without_taste_note(every)
    others = [run for run in every if run.group != "mine"]
    shown_others = st.session_state.get(SHOW_OTHERS) or (default is not None and default.group != "mine")
    runs = [run for run in every if run.group == "mine"] + (others if shown_others else [])
    if who == FOR_YOU and default is None:
        if others:
            by_id = {run.run_id: run for run in others}
            st.selectbox(
                "Or serve your lists with a run of a lesson or a sweep", list(by_id), index=None,
                format_func=lambda i: served_name(by_id[i]), key="recs_model_other", on_change=_choose,
                args=(by_id, "recs_model_other"),
            )  # fmt: skip
        return None
    if not runs:
        return None
    by_id = {run.run_id: run for run in runs}

    def named(run_id: str) -> str:
        run = by_id[run_id]
        return served_name(run) + (f" ({state.GROUPS[run.group]})" if run.group != "mine" else "")

    if who == FOR_YOU:  # the widget follows the choice, wherever it was made (here, Compare)
        st.session_state["recs_model"] = default.run_id
        picked = st.selectbox(
            "Model serving your lists", list(by_id), format_func=named, key="recs_model",
            on_change=_choose, args=(by_id,),
        )  # fmt: skip
    else:
        index = list(by_id).index(default.run_id) if default is not None and default.run_id in by_id else 0
        picked = st.selectbox("Model", list(by_id), index=index, format_func=named, key="recs_model_user")
    if others:
        st.checkbox(f"Also offer the {len(others)} runs of lessons and sweeps", key=SHOW_OTHERS)
    run = by_id[picked]
    if who == FOR_YOU and run is default:
        st.caption(f"{served_name(run)} serves your lists here and on Rate movies: {why}.")
    if run.kind == "rating":
        st.caption(
            "This model predicts ratings; the list puts first the films your taste lifts most, not the best "
            "predicted ratings (which would give everyone the same classics).",
            help="A rating model's best predicted ratings are obscure films one person loved and classics "
            "everyone rates highly (its item biases): ranked that way, every person gets nearly the same list, "
            "biases or not. So this list ranks by how much your taste adds to a film's predicted rating (beyond "
            f"its bias and yours), among films with at least {run.model.list_min_ratings} ratings; the "
            "predicted rating is shown unchanged. A ranking model (such as Weighted ALS) usually makes better "
            "lists: compare them on the Evaluate page.",
        )
    return run


def without_taste_note(runs: list[state.Run]) -> list[state.Run]:
    """The runs that can make a list for a new person; the others are named with the reason."""
    tasteless = sorted({run.label for run in runs if not run.model.has_taste})
    if tasteless:
        st.caption(
            f"{' and '.join(tasteless)} {'has' if len(tasteless) == 1 else 'have'} no taste factors: every "
            "person would get the same films from it, so it makes no list for you. Its list for a user in the "
            "data, and how it scores, are under “a user in the data” and on the Evaluate page."
        )
    return [run for run in runs if run.model.has_taste]


def taste_control(run: state.Run | None, who: str) -> float:
    """λ for the list, starting at its default (`default_taste_for`): lists with the same default share
    one slider, so a value set for a 0.98 model stays when the person switches to another."""
    default = default_taste_for(run.model, who == FOR_YOU) if run is not None else DEFAULT_WEIGHT
    return st.slider(
        "Follow my taste (λ)",
        0.0,
        1.0,
        default,
        0.01,
        key=taste_key(run) if run is not None else f"recs_taste_{default:g}",
        help="Calibrated re-ranking (Steck 2018): the list is re-ordered so its genre mix follows the mix of "
        "what you rated highly. 0 orders by the model's scores alone; higher values follow your genres more "
        "closely, at a small cost in accuracy measured on held-out people (see the README). This is the "
        "weight for a taste unlike most people's; the closer your genre mix is to everyone's, the less of it "
        "is used (down to a third), since a mainstream list needs little correcting. At 1 the model's scores "
        "only break ties between films that fit your genres equally well, so films it ranks far down come in. "
        f"Starts at {default:g} here: for you, {DEFAULT_WEIGHT:g} with Weighted ALS, whose scores know a new "
        f"person best, and {Recommender.default_taste:g} with the other models, whose lists for a new person "
        f"lean more on their genres; {DEFAULT_WEIGHT:g} for a user in the data, whom the model knows from all "
        "their ratings.",
    )


def taste_note(
    data: RatingsDataset, table: pd.DataFrame, plain: pd.DataFrame, rated, ratings, taste: float
) -> None:
    """The trade-off for this person: the weight their taste got, and how far the list's genre mix is from
    their taste, with and without."""
    if not len(table) or not len(rated):
        return
    shown = list_miscalibration(data, data.item_codes_of(table["item"]), rated, ratings)
    alone = list_miscalibration(data, data.item_codes_of(plain["item"]), rated, ratings)
    used = taste_weight(data, rated, ratings, taste)
    if not used:
        share = "There is no genre mix to follow: nothing you rated has genres in this data set."
    elif used >= taste - 1e-9:
        share = f"Your genre mix is far enough from everyone's to get the whole λ {taste:.2f}."
    else:
        share = (
            f"Your genre mix is nearer everyone's than a distinct taste, so it got λ {used:.2f} of the "
            f"{taste:.2f} set above."
        )
    st.caption(
        f"Genre match: this list's mix of genres is {shown:.2f} away from that of the films you rated highly "
        f"(0: the same mix); the model's scores alone would give {alone:.2f}.",
        help=f"The gap is the KL divergence between the genre mix of what you rated highly and the list's "
        f"(calibrated re-ranking, Steck 2018). {share}",
    )


def filters(data: RatingsDataset) -> dict:
    with st.expander("Filters", expanded=False):
        left, middle, right = st.columns(3)
        chosen = left.multiselect("Genres (any of)", genres(data), key="recs_genres")
        least = middle.slider("At least this many ratings", 0, 200, 0, 5, key="recs_min_ratings")
        years = catalogue(data)["year"].dropna()
        span = None
        if len(years):
            low, high = int(years.min()), int(years.max())
            picked = right.slider("Years", low, high, (low, high), key="recs_years")
            span = None if picked == (low, high) else picked
    return {"genres": chosen or None, "min_ratings": least, "years": span}


def show_list(table: pd.DataFrame, run: state.Run, reader: Reader) -> None:
    """Numbered recommendations, each with its reason on one line in plain words and the whole explanation
    with its numbers on demand (the tooltip); the same as a sortable table below."""
    if (table["model_rank"].to_numpy() != np.arange(1, len(table) + 1)).any():
        st.caption(
            "Some films were brought up from further down the model's list to match the genres of what was "
            "rated highly.",
            help="Chosen to follow the genre mix of what was rated highly (λ above) and shown in the model's "
            "order: “the model's #k” (in a film's details) is where its score alone puts a film that was "
            "brought in from further down.",
        )
    with st.container(border=True, key="recs_list"):
        for number, row in enumerate(table.itertuples(), start=1):
            predicted = f" · predicted {row.predicted_rating:.1f}★" if run.kind == "rating" else ""
            reason = one_line_reason(row, reader, len(table), run.model.has_taste)
            st.markdown(
                f"**{number}. {escaped(movie_title(row.title, row.year))}** "
                f":gray[{escaped(', '.join(row.genres))}{predicted}]  \n{escaped(reason)}",
                help=reason_details(row, number, run.kind),
            )
    with st.expander("As a table, with the whole reasons"):
        show_table(table, run, key="recs_table")


def film_columns(table: pd.DataFrame) -> dict:
    """Title, year and genres of a list's films, as a table shows them."""
    return {
        "title": table["title"],
        "year": table["year"].astype("Int64"),
        "genres": [", ".join(g) for g in table["genres"]],
    }


def show_table(table: pd.DataFrame, run: state.Run, key: str) -> None:
    shown = pd.DataFrame(
        {
            **film_columns(table),
            "score": table["score"],
            "model's rank": table["model_rank"],
            "why": table["explanation"],
        }
    )
    columns = {
        "score": st.column_config.NumberColumn(format="%.3f"),
        "model's rank": st.column_config.NumberColumn(
            help="Where the score alone puts the film among the candidates; the genre mix brings films from further down."
        ),
        "why": st.column_config.TextColumn(width="large"),
    }
    if run.kind == "rating":
        shown.insert(3, "predicted", table["predicted_rating"])
        columns["predicted"] = st.column_config.NumberColumn("predicted ★", format="%.1f")
    st.dataframe(shown, hide_index=True, column_config=columns, key=key)


def for_you(run: state.Run, data: RatingsDataset) -> pd.DataFrame:
    settings = list_settings(data, run)
    table, served, vector = my_list(run, data, settings)
    if served is run and run.split != "none" and run.stopped_at is None:
        st.button(
            f"Fit these settings on all {data.n_ratings:,} ratings to serve you",
            key=f"{FULL_FIT_KEY}{run.run_id}",
            help="A model trained on a split is measured on the held-out ratings; a person is served best "
            "by the same settings fitted on every rating. On a data set this large that takes a while.",
        )
    used, rated = len(vector.item_codes), len(state.my_ratings())
    if vector.is_fallback:
        st.info(
            "You have not rated anything in this data set yet, so these are popular and well-liked films. "
            "Rate a few to personalise them."
        )
        st.page_link("pages/rate.py", label="Rate movies", icon=":material/star:")
    else:
        left_out = (
            f" ({rated - used} of your rated movies are not in the filtered data)" if used < rated else ""
        )
        st.caption(
            f"Your list comes from your {used} ratings, placed among the {data.n_users:,} people the model "
            f"learned from, without retraining it{left_out}.",
            help=f"Folded in from your {used} ratings ({vector.method}); no retraining needed. "
            + serving_note(run, served, data),
        )
    if settings["taste"] and not vector.is_fallback:
        wanted = (data.fingerprint, served.run_id, tuple(state.my_ratings().items()), repr(settings))
        plain = remembered("plain", wanted, lambda: recommend(
            served.model, data, vector=vector, **(settings | {"taste": 0.0})))  # fmt: skip
        taste_note(data, table, plain, vector.item_codes, vector.ratings, settings["taste"])
    return table


def chosen_user(data: RatingsDataset) -> object | None:
    """The user id picked or typed; None, with a warning, when the data set has no such user."""
    if data.n_users <= PICKABLE:
        return st.selectbox("User id", data.user_ids.tolist(), key="recs_user")
    typed = st.text_input(
        "User id", value=str(data.user_ids[0]), key="recs_user", max_chars=100
    )  # a drop-down of a
    try:  # hundred thousand ids would weigh on every browser
        return data.user_ids[data.user_code(typed)]
    except UnknownIdError:
        shown = typed.strip()[:40].replace("`", "'")  # in a code span: shown as typed, never as Markdown
        low, high = data.user_ids.min(), data.user_ids.max()
        st.warning(
            f"There is no user with id `{shown}` in this data set: type one of its {data.n_users:,} user ids "
            f"(from {low} to {high})."
        )
        return None


def for_user(
    run: state.Run, data: RatingsDataset, user: object, n: int, chosen: dict, taste: float
) -> pd.DataFrame:
    st.caption(f"User {user} rated {int(data.user_counts()[data.user_code(user)])} movies.")
    return recommend(run.model, data, user=user, n=n, taste=taste, **chosen)


def from_people_like(run: state.Run, data: RatingsDataset, user: object | None, taste: float) -> None:
    """The favourites of the group of users nearest to ``user`` (None: you)."""
    whom = "you" if user is None else f"user {user}"
    st.subheader(f"From people like {whom}")
    if not has_factors(run, "user"):
        st.caption(f"{run.label} has no user factors to group people by: choose a factorization model.")
        return
    groups = st.slider("Number of groups of users", 2, 20, 8, key="recs_groups")
    clustering = clusters_of(run, "users", groups)
    if user is None:
        if not state.my_ratings():
            st.caption("Rate a few movies to find the group of users whose taste is closest to yours.")
            return
        wanted = (data.fingerprint, run.run_id, groups, taste, tuple(state.my_ratings().items()))
        table = remembered("group", wanted, lambda: cluster_recommendations(
            clustering, data, vector=my_vector(run, data), n=10, taste=taste))  # fmt: skip
    else:
        wanted = (data.fingerprint, run.run_id, groups, taste, user)
        table = remembered("group", wanted, lambda: cluster_recommendations(
            clustering, data, user=user, n=10, taste=taste))  # fmt: skip
    subject, group = ("you", "Your group") if user is None else ("they", f"{whom.capitalize()}'s group")
    if not len(table):
        st.caption(f"{group} has rated nothing {subject} have not rated already.")
        return
    st.caption(
        f"The people whose taste is nearest {'yours' if user is None else 'theirs'} (group "
        f"{int(table['cluster'].iloc[0])} of {groups}) rate these films best, among those {subject} have not "
        "rated.",
        help=f"KMeans on the users' factor directions puts {whom} in group {int(table['cluster'].iloc[0])}; "
        f"these are the films that group rates best, among those {subject} have not rated, re-ordered toward "
        "the genres of what was rated highly as the list above is (λ; at 0 a group's best are mostly classics "
        "everyone rates highly). The filters above do not apply here."
        + (f" ({clustering.sample_note}.)" if clustering.sample_note else ""),
    )
    presentation.table(
        pd.DataFrame(
            {
                "title": table["title"],
                "genres": [", ".join(g) for g in table["genres"]],
                "group's average": table["cluster_mean"],
                "group's ratings": table["cluster_ratings"],
            }
        ),
        "recs_cluster",
        precision=2,
        column_config={"group's average": st.column_config.NumberColumn(format="%.2f ★")},
    )


def more_like_this(run: state.Run, data: RatingsDataset) -> None:
    st.subheader("More like this movie")
    titles = most_rated(data, PICKABLE)
    code = st.selectbox(
        "Movie",
        list(titles),
        format_func=titles.__getitem__,
        key="recs_like",
        index=None,
        placeholder="type a title",
    )
    least = st.slider(
        "Only movies with at least this many ratings",
        1,
        100,
        10,
        key="recs_like_min_ratings",
        help="A movie rated by a handful of people has a noisy direction in factor space.",
    )
    if code is None:
        return
    if not run.model.has_taste:
        st.caption(f"{run.label} has no movie factors to compare: choose a factorization model above.")
        return
    with engine_errors("Choose another movie, or fewer ratings at least."):
        similar = similar_items(run.model, data, data.item_ids[code], n=10, min_ratings=least)
    st.caption(
        "Films liked by the same people as this one, those of the same kind first.",
        help=f"The {NEIGHBOUR_POOL} movies nearest in factor space (cosine similarity of the factors), ranked "
        f"by that similarity plus {GENRE_WEIGHT} × the share of genres they have in common (Jaccard): the "
        "factors alone put films next to what the same people rated, the genres prefer films of the same kind.",
    )
    presentation.table(
        similar_columns(similar), "recs_similar", precision=2,
        column_config={
            "title": st.column_config.TextColumn(width=235),
            "genres": st.column_config.TextColumn(width=215),
            "match": st.column_config.ProgressColumn(
                min_value=-1, max_value=1 + GENRE_WEIGHT, format="%.2f", width=110,
                help=f"How alike: the same people's liking plus {GENRE_WEIGHT} × the genres shared.",
            ),
            "same people": st.column_config.NumberColumn(
                format="%.2f", width=85,
                help="How much the same people like both films (cosine similarity of their factors, 1 at most).",
            ),
            "same genres": st.column_config.NumberColumn(
                format="%.0f%%", width=85, help="The share of their genres the two films have in common."
            ),
            "ratings": st.column_config.NumberColumn(width=70),
        },
    )  # fmt: skip


def similar_columns(similar: pd.DataFrame) -> pd.DataFrame:
    """A film's neighbours in columns that all fit at 1280 px: the title with its year, three genres."""
    width, shared = 33, similar["genre_overlap"] * 100  # a whole percent in the grid's format
    if presenting():  # a plain table: the percent written out
        width, shared = 40, [f"{share:.0%}" for share in similar["genre_overlap"]]
    return pd.DataFrame(
        {
            "title": [shortened(title, width) for title in similar["title"]],
            "genres": [", ".join(g[:3]) + (", …" if len(g) > 3 else "") for g in similar["genres"]],
            "match": similar["score"],
            "same people": similar["similarity"],
            "same genres": shared,
            "ratings": similar["n_ratings"],
        }
    )


def main() -> None:
    urlstate.open_link(presentation.link_values(SWITCH))
    presentation.apply()
    heading, toggle = st.columns([4, 1], vertical_alignment="center")
    heading.title("Recommendations")
    presentation.switch(SWITCH, toggle)
    with engine_errors("Train the model again, or choose another one."):
        data = active_data()
        top, size = st.columns([3, 1])
        with top:
            who = st.segmented_control(
                "Recommend for", [FOR_YOU, FOR_USER], default=FOR_YOU, key="recs_who", required=True
            )
            run = choose_run(data, who)
        if run is None:
            why = (
                "None of your own runs on this data set can follow a person's taste: train the default here "
                "(or any model on the Train page)."
                if state.runs_on(data.fingerprint)
                else "You have not trained a model on this data set yet."
            )
            no_model(data, why)
            return
        n = size.slider("How many", 5, 50, 10, 5, key="recs_n")
        with size:
            taste = taste_control(run, who)
        chosen = filters(data)
        user = None if who == FOR_YOU else chosen_user(data)
        if who == FOR_USER and user is None:
            return
        table = for_you(run, data) if user is None else for_user(run, data, user, n, chosen, taste)
        if not len(table):
            st.warning("No movie passes these filters: loosen them.")
        else:
            show_list(table, run, Reader.you() if user is None else Reader.user(user))
            export = table.assign(
                year=table["year"].astype("Int64"),  # 1995, not 1995.0 (blank when unknown)
                genres=[", ".join(g) for g in table["genres"]],
                because=[" | ".join(b) for b in table["because"]],
            )
            st.download_button(
                "Download as CSV",
                export.to_csv(index=False).encode(),
                "recommendations.csv",
                "text/csv",
                key="recs_export",
            )
        from_people_like(run, data, user, taste)
        more_like_this(run, data)


main()
