"""Rate movies: search and browse, rate on the data set's scale, manage your ratings, profiles and files."""

import pandas as pd
import streamlit as st

from dashboard import classroom, config, state, workspace
from dashboard.asking import questions
from dashboard.data import active_data, browsed, catalogue, genres, titles_of
from dashboard.names import escaped, in_code
from dashboard.navigation import inside_app
from dashboard.profiles import (
    MAX_NAME_BYTES,
    Profile,
    ProfileExists,
    backups,
    checked_size,
    list_profiles,
    load_profile,
    match_to_data,
    ratings_from_csv,
    ratings_to_csv,
    restore_profile,
    save_profile,
)
from dashboard.recs import preview
from dashboard.sidebar import RATED
from dashboard.ui import announce, counted, engine_errors
from dashboard.upload_box import read_once
from dashboard.widgets import movie_title, on_scale, rating_column, rating_input, tight_rating_buttons
from recengine.data.dataset import RatingScale, RatingsDataset

inside_app()

PER_PAGE = 10
SORTS = {
    "Most rated": ("ratings", False),
    "Best rated": ("mean_rating", False),
    "Newest": ("year", False),
    "Title A–Z": ("title", True),
}
BEST_RATED_MIN = 20
SHOWN_RATINGS = 40
REPLACING = "rate_replacing"  # (the profile waiting for "Replace it?", the question)
# The page's fragments: a page turn or a search reruns the list of films alone, and a rating given there
# reruns only what shows your ratings (its own button shows it already), not the list nor the whole app.
QUESTIONS, FILMS, PICKS, FILES = "rate_questions_box", "rate_films", "rate_picks_box", "rate_files_box"
RATING_RERUNS = (QUESTIONS, PICKS, FILES, RATED)
FILES_OPEN = "rate_files_open"  # the files' expander is open
MINE, RATING = "rate_mine", "rating"  # the key of Your ratings' table, and its rating column


@st.fragment(key=QUESTIONS)
def asked(data: RatingsDataset) -> None:
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    with engine_errors("Choose another data set on the Data page."):
        questions(data)  # "Help us learn your taste": dashboard/asking.py


@st.fragment(key=FILMS)
def browse(data: RatingsDataset) -> None:
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    table = catalogue(data)
    query_column, genre_column, sort_column = st.columns([3, 2, 2])
    query = query_column.text_input(
        "Search by title", key="rate_query", placeholder="e.g. matrix, toy story", max_chars=100
    )
    genre = genre_column.selectbox("Genre", ["All genres", *genres(data)], key="rate_genre")
    order = sort_column.selectbox("Sort by", list(SORTS), key="rate_sort")
    column, ascending = SORTS[order]
    shown = browsed(
        data, query, None if genre == "All genres" else genre, column, ascending,
        BEST_RATED_MIN if order == "Best rated" else 0,
    )  # fmt: skip
    if not len(shown):
        st.info("No movie matches. Try fewer letters or another genre.")
        return
    pages = (len(shown) - 1) // PER_PAGE + 1
    if st.session_state.get("rate_page", 1) > pages:
        st.session_state["rate_page"] = 1
    page = st.session_state.get("rate_page", 1)
    st.caption(
        counted(len(shown), "movie")
        + (f" (best rated: at least {BEST_RATED_MIN} ratings)" if order == "Best rated" else "")
    )
    with st.container(key="rate_films"):
        tight_rating_buttons("rate_films")
        for code, row in table.loc[shown[(page - 1) * PER_PAGE : page * PER_PAGE]].iterrows():
            movie_row(data, int(code), row)
    if pages > 1:
        st.pagination(pages, key="rate_page", max_visible_pages=7)


def movie_row(data: RatingsDataset, code: int, row: pd.Series) -> None:
    average = f", average {row['mean_rating']:.1f} ★" if row["ratings"] else ""
    with st.container(gap="small"):
        st.markdown(
            f"**{escaped(movie_title(row['title'], row['year']))}**  \n"
            f":gray[{escaped(row['genres'] or 'no genres')} · {counted(row['ratings'], 'rating')}{average}]"
        )
        rating_input(row["item"], data.scale, key=f"rate_item_{row['item']}", reruns=RATING_RERUNS)


@st.fragment(key=PICKS)
def picks(data: RatingsDataset) -> None:
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    with engine_errors("Choose another data set on the Data page."):
        preview(data)
        your_ratings(data)


def forget_all() -> None:
    state.my_ratings().clear()
    st.rerun()


def your_ratings(data: RatingsDataset) -> None:
    """Your latest ratings as one table (one widget, however many films: a drop-down per film cost Streamlit a
    pass over the whole session state each), where a rating is changed in its cell and removed with its row."""
    ratings = state.my_ratings()
    st.subheader(f"Your ratings ({len(ratings)})")
    if not ratings:
        st.caption("None yet: rate a few movies on the left. Five or more give useful recommendations.")
        return
    shown = list(reversed(ratings))[:SHOWN_RATINGS]
    titles = titles_of(data, shown)
    table = pd.DataFrame(
        {
            "title": [titles.get(item) or str(item) for item in shown],
            RATING: [ratings[item] for item in shown],
        },
        index=pd.Index(shown, name="item"),
    )
    st.data_editor(
        table,
        key=MINE,
        hide_index=True,
        num_rows="delete",  # rows can be removed, not added: films are rated on the left
        disabled=["title"],
        column_config={"title": st.column_config.TextColumn("Movie"), RATING: rating_column(data.scale)},
        height="content",
        width="stretch",
    )
    if edited(st.session_state.get(MINE) or {}, data.scale, shown):
        st.rerun()  # the whole app: the list of films and the sidebar show your ratings too
    more = f" Showing your {SHOWN_RATINGS} latest of {len(ratings)}; export them to see all." if (
        len(ratings) > SHOWN_RATINGS) else ""  # fmt: skip
    st.caption(
        "Double-click a rating to change it. To remove ratings, tick their rows and click the bin above the "
        f"table (or press Delete).{more}"
    )
    st.button("Clear all ratings", key="rate_clear", on_click=forget_all, type="tertiary")


def edited(edits: dict, scale: RatingScale, shown: list) -> bool:
    """Put the changes made in Your ratings' table (``edits``, its `st.data_editor` state: rows by their place
    in ``shown``, the films it showed) into your ratings: changed ratings, and removed rows or emptied cells
    (a value off the scale or a row it did not show is ignored). Whether your ratings changed: then the table
    is drawn anew, its edits gone with the data it was drawn from."""
    ratings = state.my_ratings()
    before = dict(ratings)
    for row, change in (edits.get("edited_rows") or {}).items():
        item, value = shown_at(shown, row), change.get(RATING, "") if isinstance(change, dict) else ""
        if item is not None and value is None:
            ratings.pop(item, None)
        elif item is not None and on_scale(value, scale):
            ratings[item] = float(value)
    for row in edits.get("deleted_rows") or []:
        if (item := shown_at(shown, row)) is not None:
            ratings.pop(item, None)
    return ratings != before


def shown_at(shown: list, row: object) -> object:
    """The film in place ``row`` of ``shown``; None when the table sent a place it did not show."""
    return (
        shown[row] if isinstance(row, int) and not isinstance(row, bool) and 0 <= row < len(shown) else None
    )


@st.fragment(key=FILES)
def files(data: RatingsDataset) -> None:
    classroom.guard_fragment()  # signed out meanwhile (a new code, Sign out elsewhere): the app says so
    ratings = state.my_ratings()
    source = state.data_choice().source_key
    box = st.expander("Save, load, import and export", expanded=False, key=FILES_OPEN, on_change="rerun")
    if not box.open:  # drawn only when opened (a rerun of this fragment alone): not on every rating
        return
    with box:
        folder = config.profiles_folder()
        st.caption(
            "Saved profiles are kept on this server and listed for everyone who uses it (a whole class, on a "
            "shared server): save under a name you do not mind others seeing, or export your ratings as CSV "
            "to keep them to yourself. A profile moves your ratings to another browser or computer; in this "
            "browser they are kept anyway (see the sidebar)."
        )
        name = st.text_input(
            "Profile name",
            value=st.session_state.get(state.PROFILE, ""),
            key="rate_profile",
            max_chars=MAX_NAME_BYTES,
        )
        save_column, load_column = st.columns(2)
        if save_column.button("Save profile", key="rate_save", disabled=not ratings or not name.strip()):
            save(data, folder, Profile(name, source, dict(ratings)), replace=False)
        if (pending := st.session_state.get(REPLACING)) is not None:
            profile, question = pending
            save_column.warning(question)
            yes, no = save_column.columns(2)
            if yes.button("Replace it", key="rate_replace", type="primary"):
                save(data, folder, profile, replace=True)
            if no.button("Keep it", key="rate_keep"):
                st.session_state.pop(REPLACING)
                st.rerun()
        saved = list_profiles(folder)
        chosen = load_column.selectbox(
            "Saved profiles", saved, key="rate_profiles", index=None, placeholder="choose one"
        )
        if load_column.button("Load profile", key="rate_load", disabled=chosen is None):
            with engine_errors("Pick another profile, or save this one again."):
                profile = load_profile(folder, chosen)
                st.session_state[state.PROFILE] = chosen
                replace_ratings(data, profile.ratings, f"profile {in_code(chosen)}")  # and rerun
        if (
            chosen is not None
            and backups(folder, chosen)
            and load_column.button("Restore its previous version", key="rate_restore", type="tertiary")
        ):
            with engine_errors():
                restore_profile(folder, chosen)
                st.success(f"Profile {in_code(chosen)} is back to its previous version; load it to use it.")
        exported, titles = dict(ratings), titles_of(data, list(ratings))
        st.download_button(
            "Export ratings as CSV",
            lambda: ratings_to_csv(exported, titles),  # the file is made on the click, not on every run
            file_name="my-ratings.csv",
            mime="text/csv",
            disabled=not ratings,
            key="rate_export",
        )
        upload = st.file_uploader(
            "Import ratings from CSV (columns item, rating)", type=["csv"], key="rate_import"
        )
        imported = read_once("rate_import", upload, lambda f: checked_size(f.getvalue()))
        if imported is not None and st.button("Import these ratings", key="rate_import_go"):
            with engine_errors("Check the file: one row per movie, with columns item and rating."):
                merge_ratings(data, ratings_from_csv(imported.result()), imported.name)


def save(data: RatingsDataset, folder, profile: Profile, replace: bool) -> None:
    """Save ``profile``; when its name is taken and ``replace`` is off, ask first (`REPLACING`)."""
    with engine_errors("Choose another name."):
        try:
            path = save_profile(folder, profile, titles_of(data, list(profile.ratings)), replace=replace)
        except ProfileExists as error:
            st.session_state[REPLACING] = (profile, str(error))
            st.rerun()
        st.session_state.pop(REPLACING, None)
        st.session_state[state.PROFILE] = path.stem
        workspace.save()  # this may be a run of the fragment alone, which does not reach app.py's save
        st.success(
            f"Saved {len(profile.ratings)} ratings as profile {in_code(path.stem)}, which everyone using this server "
            "can load" + (" (the one it replaced can be restored)." if replace else ".")
        )


def replace_ratings(data: RatingsDataset, incoming: dict, what: str) -> None:
    kept, notes = match_to_data(incoming, data)
    ratings = state.my_ratings()
    ratings.clear()
    ratings.update(kept)
    report(len(kept), what, notes)


def merge_ratings(data: RatingsDataset, incoming: dict, what: str) -> None:
    kept, notes = match_to_data(incoming, data)
    state.my_ratings().update(kept)
    report(len(kept), what, notes)


def report(count: int, what: str, notes: list[str]) -> None:
    loaded = f"Loaded {count} rating{'s' if count != 1 else ''} from {what}."
    announce(("success", loaded), *(("warning", note) for note in notes))


def main() -> None:
    st.title("Rate movies")
    with engine_errors("Choose another data set on the Data page."):
        data = active_data()
        scale = data.scale
        step = f" in steps of {scale.step:g}" if scale.step else ""
        st.caption(
            f"Ratings go from {scale.low:g} to {scale.high:g}{step}, as in this data set. Click again to unrate."
        )
        left, right = st.columns([5, 4], gap="large")
        with left:
            asked(data)
            browse(data)
        with right:
            picks(data)
            files(data)


main()
