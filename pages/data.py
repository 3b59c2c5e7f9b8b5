"""Data: choose the data set (bundled, download, upload, server path), filter it, and look at it."""

from pathlib import Path

import streamlit as st

from dashboard import config, state
from dashboard.data import active_data, load_choice, overview_charts
from dashboard.navigation import inside_app
from dashboard.ui import announce, engine_errors, shown_path
from dashboard.upload_box import read_once
from dashboard.uploads import (
    GENERIC_FORMATS,
    MAX_PATH_CHARS,
    UPLOAD_SUFFIXES,
    check_server_path,
    keep_only,
    preview,
    save_upload,
    session_folder,
)
from recengine import data as loaders
from recengine.data.dataset import RatingsDataset
from recengine.data.reading import match_columns
from recengine.errors import DataError, RecEngineError

inside_app()

SOURCES = {
    "bundled": "Bundled sample",
    "download": "MovieLens download",
    "upload": "Upload a file",
    "path": "File on the server",
}
ROLES = ("user", "item", "rating", "timestamp")
AUTO = "detect"


def activate(choice: state.DataChoice) -> RatingsDataset:
    """Load ``choice`` and make it active; an error leaves the active data set (and your ratings) as they were."""
    data = load_choice(choice)
    state.set_data_choice(choice)
    return data


def bundled() -> None:
    st.markdown(
        "MovieLens *latest small*: 100,836 ratings of 9,742 movies by 610 people, on a half-star scale."
    )
    if st.button("Use the bundled sample", key="data_use_bundled", type="primary"):
        activate(state.DataChoice())
        st.rerun()


def download() -> None:
    cached = loaders.cached_datasets()
    names = list(loaders.KNOWN_DATASETS)

    def describe(name: str) -> str:
        entry = loaders.KNOWN_DATASETS[name]
        return f"{name}: {entry.description}" + (
            " (downloaded)" if name in cached else f" ({entry.size / 1e6:,.0f} MB)"
        )

    name = st.selectbox("Data set", names, format_func=describe, key="data_download_name")
    st.caption(
        f"Downloads go to `{shown_path(loaders.cache_dir())}`. MovieLens licences forbid redistributing them."
    )
    label = "Use it" if name in cached else "Download and use it"
    if st.button(label, key="data_download_go", type="primary"):
        bar = st.progress(0.0, text="Starting the download…")

        def progress(done: int, total: int | None) -> None:
            fraction = min(done / total, 1.0) if total else 0.0
            bar.progress(
                fraction, text=f"{done / 1e6:,.1f} MB" + (f" of {total / 1e6:,.1f} MB" if total else "")
            )

        loaders.download(name, progress=progress)
        bar.empty()
        activate(state.DataChoice(kind="download", value=name))
        st.rerun()


def column_form(path, fmt: str, key: str) -> tuple[str | None, dict | None, tuple | None] | None:
    """A preview and a column-mapping form for a generic table; returns (format, columns, scale) on submit."""
    table = preview(path, fmt)
    st.dataframe(table, hide_index=True, height=200)
    found = [str(c) for c in table.columns]
    try:
        guess = match_columns(found, None, path.name)
    except RecEngineError:
        guess = {}
    with st.form(f"{key}_columns"):
        st.markdown("**Which column is which?**")
        cells = st.columns(4)
        mapping = {}
        for cell, role in zip(cells, ROLES, strict=True):
            options = ([None] if role == "timestamp" else []) + found
            chosen = guess.get(role)
            index = (
                options.index(chosen)
                if chosen in options
                else (0 if role == "timestamp" else min(ROLES.index(role), len(found) - 1))
            )
            mapping[role] = cell.selectbox(
                role,
                options,
                index=index,
                key=f"{key}_{role}",
                format_func=lambda c: "none" if c is None else c,
            )
        with st.expander("Rating scale (detected from the data unless you set it)"):
            fixed = st.toggle("Set the scale", key=f"{key}_scale_on")
            low_cell, high_cell, step_cell = st.columns(3)
            low = low_cell.number_input("lowest", value=1.0, key=f"{key}_low")
            high = high_cell.number_input("highest", value=5.0, key=f"{key}_high")
            step = step_cell.number_input("step (0: continuous)", value=1.0, min_value=0.0, key=f"{key}_step")
        if st.form_submit_button("Load", type="primary", key=f"{key}_load"):
            scale = (low, high, step or None) if fixed else None
            return fmt, mapping, scale
    return None


def report(data: RatingsDataset) -> None:
    loaded = (
        f"Loaded {data.name}: {data.n_users:,} users, {data.n_items:,} items, {data.n_ratings:,} ratings."
    )
    announce(("success", loaded), *(("info", note) for note in data.report))


def uploads_folder() -> Path:
    """This session's private upload folder (made on its first upload)."""
    return session_folder(config.uploads_folder())


def upload() -> None:
    file = st.file_uploader(
        "A ratings file: CSV, TSV, Parquet, a MovieLens file or a zip of a data set folder",
        type=[s.lstrip(".") for s in UPLOAD_SUFFIXES],
        key="data_upload",
    )
    saved = read_once("data_upload", file, lambda f: save_upload(uploads_folder(), f.name, f.getvalue()))
    if saved is None:
        return
    with engine_errors(
        "Fix the file or the column mapping, and try again. The active data set is unchanged."
    ):
        path, folder = saved.result(), uploads_folder()
        if not path.exists():
            st.warning(
                "Your upload is no longer on the server: remove it from the box above and upload it again."
            )
            return
        fmt = loaders.detect_format(path)
        if fmt in GENERIC_FORMATS and path.is_file():  # an unpacked zip's columns are matched by name
            submitted = column_form(path, fmt, "data_upload_form")
            if submitted is None:
                return
            fmt, mapping, scale = submitted
            options = (
                ("path", str(path)),
                ("format", fmt),
                ("columns", tuple(mapping.items())),
                ("scale", scale),
            )
        else:
            st.caption(f"Recognised format: {loaders.FORMAT_DESCRIPTIONS.get(fmt, fmt)}.")
            if not st.button("Load", key="data_upload_load", type="primary"):
                return
            options = (("path", str(path)),)
        data = activate(state.DataChoice(kind="upload", value=saved.name, options=options))
        keep_only(folder, path)
        report(data)


def server_path() -> None:
    roots = config.data_roots()
    text = st.text_input(
        "Path of a ratings file or data set folder on the server", key="data_path", max_chars=MAX_PATH_CHARS
    )
    st.caption(
        "Allowed folders: "
        + ", ".join(f"`{shown_path(r)}`" for r in roots)
        + " (the server's operator lists more in RECENGINE_DATA_DIRS)."
    )
    fmt = st.selectbox(
        "Format",
        [AUTO, *loaders.FORMATS],
        key="data_path_format",
        format_func=lambda f: loaders.FORMAT_DESCRIPTIONS.get(f, "detect it"),
    )
    if st.button("Load", key="data_path_load", type="primary", disabled=not text.strip()):
        with engine_errors("Check the path and the format. The active data set is unchanged."):
            path = check_server_path(text, roots, config.private_folders())
            options = (("path", str(path)),) + ((("format", fmt),) if fmt != AUTO else ())
            report(activate(state.DataChoice(kind="path", value=str(path), options=options)))


def filters() -> None:
    choice = state.data_choice()
    if choice.kind == "challenge":  # a challenge's training part is what it is: filtered, it is another set
        st.caption("This is a challenge's training part: choose a source above to work on another data set.")
        return
    with st.form("data_filters"):
        st.markdown(
            "**Filters**: keep movies and users with enough ratings (fewer, denser data trains faster)."
        )
        left, right = st.columns(2)
        items = left.number_input(
            "Minimum ratings per movie", 1, 10_000, choice.min_item_ratings, key="data_min_item"
        )
        users = right.number_input(
            "Minimum ratings per user", 1, 10_000, choice.min_user_ratings, key="data_min_user"
        )
        if st.form_submit_button("Apply", key="data_filters_apply"):
            with engine_errors("Lower the minimums."):
                activate(state.DataChoice(choice.kind, choice.value, choice.options, int(items), int(users)))
                st.rerun()


def overview(data: RatingsDataset) -> None:
    st.subheader(f"Active: {state.data_choice().label}")
    summary = data.summary()
    cells = st.columns(5)
    cells[0].metric("Users", f"{data.n_users:,}")
    cells[1].metric("Movies", f"{data.n_items:,}")
    cells[2].metric("Ratings", f"{data.n_ratings:,}")
    cells[3].metric("Filled cells", f"{data.density:.3%}")
    cells[4].metric(
        "Mean rating", f"{summary['mean_rating']:.2f}" if summary["mean_rating"] is not None else "—"
    )
    shown = overview_charts(data)
    left, right = st.columns(2)
    left.plotly_chart(shown["ratings"], key="data_chart_ratings")
    right.plotly_chart(shown["tail"], key="data_chart_tail")
    left, right = st.columns(2)
    left.plotly_chart(shown["users"], key="data_chart_users")
    if shown["time"] is not None:
        right.plotly_chart(shown["time"], key="data_chart_time")
    else:
        right.info("This data set has no timestamps.")
    if shown["genres"] is not None:
        st.plotly_chart(shown["genres"], key="data_chart_genres")


def main() -> None:
    st.title("Data")
    source = st.segmented_control(
        "Source",
        list(SOURCES),
        format_func=SOURCES.get,
        default=state.data_choice().kind if state.data_choice().kind in SOURCES else "bundled",
        key="data_source",
        required=True,
    )
    with st.container(border=True), engine_errors("The active data set is unchanged; try another source."):
        {"bundled": bundled, "download": download, "upload": upload, "path": server_path}[source]()
    try:
        data = active_data()
    except DataError as error:
        st.error(f"The active data set cannot be loaded: {error}")
        if st.button("Go back to the bundled sample", key="data_reset"):
            state.set_data_choice(state.DataChoice())
            st.rerun()
        return
    filters()
    overview(data)


main()
