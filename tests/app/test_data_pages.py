"""AppTest: Home, Data and Rate movies render, and their main actions work."""

from __future__ import annotations

import re

import pytest
from app_helpers import assert_no_exception, open_page

from dashboard.profiles import load_profile


def sidebar_text(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown) + " ".join(c.value for c in at.sidebar.caption)


def test_home_shows_the_data_set_and_the_sidebar(app):
    assert_no_exception(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Users"] == "610" and metrics["Movies"] == "9,742" and metrics["Ratings"] == "100,836"
    assert metrics["Empty cells"] == "98.30%"
    text = sidebar_text(app)
    assert (
        "ml-latest-small" in text and "You rated:** 0 movies" in text and "Your lists:** no model yet" in text
    )


def test_data_page_draws_charts_and_filters(app):
    open_page(app, "data")
    assert len(app.get("plotly_chart")) == 5
    app.number_input(key="data_min_item").set_value(20)
    app.number_input(key="data_min_user").set_value(50)
    app.button(key="data_filters_apply").click().run()
    assert_no_exception(app)
    choice = app.session_state["data_choice"]
    assert (choice.min_item_ratings, choice.min_user_ratings) == (20, 50)
    metrics = {m.label: m.value for m in app.metric}
    assert int(metrics["Movies"].replace(",", "")) < 9742


def upload(at, name: str, content: bytes):
    at.segmented_control(key="data_source").set_value("upload").run()
    at.file_uploader(key="data_upload").upload(name, content, "text/csv").run()
    assert_no_exception(at)
    return at


def test_a_malformed_upload_shows_the_loader_message_and_keeps_the_data(app):
    open_page(app, "data")
    upload(app, "bad.csv", b"reader,book,stars\n1,2,five\n3,4,4\n")
    app.selectbox(key="data_upload_form_user").set_value("reader")
    app.selectbox(key="data_upload_form_item").set_value("book")
    app.selectbox(key="data_upload_form_rating").set_value("stars")
    app.button(key="data_upload_form_load").click().run()
    assert_no_exception(app)
    assert any("not numbers" in e.value for e in app.error), [e.value for e in app.error]
    assert app.session_state["data_choice"].kind == "bundled"


@pytest.mark.slow
def test_an_upload_with_its_own_column_names_loads(app):
    rows = "\n".join(f"{u},{i},{(u + i) % 5 + 1}" for u in range(30) for i in range(u % 7, 40, 3))
    open_page(app, "data")
    upload(app, "books.csv", ("reader,book,stars\n" + rows).encode())
    app.selectbox(key="data_upload_form_user").set_value("reader")
    app.selectbox(key="data_upload_form_item").set_value("book")
    app.selectbox(key="data_upload_form_rating").set_value("stars")
    app.button(key="data_upload_form_load").click().run()
    assert_no_exception(app)
    choice = app.session_state["data_choice"]
    assert choice.kind == "upload" and choice.value == "books.csv"
    assert any("Loaded" in s.value for s in app.success)
    assert {m.label: m.value for m in app.metric}["Users"] == "30"


@pytest.mark.slow
def test_an_uploaded_zip_of_a_csv_loads_and_a_zip_bomb_is_refused(app):
    import io
    import zipfile

    rows = "\n".join(f"{u},{i},{(u + i) % 5 + 1}" for u in range(30) for i in range(u % 7, 40, 3))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("books/ratings-of-books.csv", "user,item,rating\n" + rows)
    open_page(app, "data")
    app.segmented_control(key="data_source").set_value("upload").run()
    app.file_uploader(key="data_upload").upload("books.zip", buffer.getvalue(), "application/zip").run()
    app.button(key="data_upload_load").click().run()
    assert_no_exception(app)
    assert {m.label: m.value for m in app.metric}["Users"] == "30"
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ratings.csv", bytes(50_000_000))
    app.file_uploader(key="data_upload").upload("bomb.zip", bomb.getvalue(), "application/zip").run()
    assert_no_exception(app)
    assert any("compressed" in e.value for e in app.error)


@pytest.mark.slow
def test_a_server_path_outside_the_allowed_folders_is_refused(app):
    open_page(app, "data")
    app.segmented_control(key="data_source").set_value("path").run()
    app.text_input(key="data_path").input("/etc/passwd").run()
    app.button(key="data_path_load").click().run()
    assert_no_exception(app)
    assert any("outside the folders" in e.value for e in app.error)
    assert app.session_state["data_choice"].kind == "bundled"


def open_files(at) -> None:
    """Open "Save, load, import and export" (drawn only when open), as a click on it does."""
    at.session_state["rate_files_open"] = True
    at.run()


def rate_first(at, count: int, value: float = 5.0) -> list:
    keys = [g.key for g in at.button_group if g.key.startswith("rate_item_")][:count]
    for key in keys:
        at.button_group(key=key).set_value(value).run()  # reruns only the fragments that show ratings
        at.run()  # AppTest keeps only what the last run drew; a browser keeps the rest of the page
    assert_no_exception(at)
    return [int(key.removeprefix("rate_item_")) for key in keys]


def your_ratings(at) -> dict:
    """Your ratings as the Rate page's table shows them, newest first: {item: rating}."""
    table = at.data_editor(key="rate_mine").value
    return dict(zip(table.index, table["rating"], strict=True))


def edit_your_ratings(at, changed: dict, removed: list = ()) -> None:
    """Change ratings (``changed``: {item: rating}) and remove rows (films of ``removed``) in Your ratings'
    table, as its cells and its bin do in a browser: the edits are its widget state, rows by their place."""
    places = {item: row for row, item in enumerate(at.data_editor(key="rate_mine").value.index)}
    at.session_state["rate_mine"] = {
        "edited_rows": {places[item]: {"rating": value} for item, value in changed.items()},
        "added_rows": [],
        "deleted_rows": [places[item] for item in removed],
    }
    at.run()


def test_rate_search_edit_remove(app):
    open_page(app, "rate")
    rated = rate_first(app, 5)
    ratings = app.session_state["my_ratings"]["bundled:ml-latest-small"]
    assert ratings == {item: 5.0 for item in rated}
    assert "You rated:** 5 movies" in sidebar_text(app)
    assert your_ratings(app) == {item: 5.0 for item in rated}

    edit_your_ratings(app, {rated[0]: 3.5}, removed=[rated[1]])
    assert_no_exception(app)
    ratings = app.session_state["my_ratings"]["bundled:ml-latest-small"]
    assert ratings[rated[0]] == 3.5 and rated[1] not in ratings and len(ratings) == 4

    app.text_input(key="rate_query").input("matrix reloaded").run()
    titles = [m.value for m in app.markdown if m.value.startswith("**")]
    assert titles and "Matrix Reloaded" in titles[0]


def test_a_rating_among_the_films_reruns_only_what_shows_your_ratings(app):
    """The list of films is not drawn again (its button shows the rating already), nor the rest of the app;
    the sidebar's count, your ratings, the questions and the profiles' buttons are."""
    open_page(app, "rate")
    open_files(app)
    app.text_input(key="rate_profile").input("me").run()
    assert app.button(key="rate_save").disabled, "a profile of no ratings could be saved"
    key = next(g.key for g in app.button_group if g.key.startswith("rate_item_"))
    app.button_group(key=key).set_value(4.0).run()
    assert_no_exception(app)
    assert not [g for g in app.button_group if g.key.startswith("rate_item_")], "the films were drawn again"
    assert not app.title, "the whole page ran again"
    assert "You rated:** 1 movie" in sidebar_text(app)
    assert your_ratings(app) == {int(key.removeprefix("rate_item_")): 4.0}
    assert any(w.key.startswith("ask_rate_") for w in app.button_group), "the questions were not drawn again"
    assert not app.button(key="rate_save").disabled
    app.run()
    assert app.title[0].value == "Rate movies" and app.button_group(key=key).value == 4.0


def test_your_ratings_ignore_edits_no_table_could_send(app):
    """A value off the scale or between its half stars, a row the table did not show (Streamlit itself
    stops at a place past its end): nothing changes."""
    open_page(app, "rate")
    rated = rate_first(app, 2, 4.0)
    app.session_state["rate_mine"] = {
        "edited_rows": {0: {"rating": 7.0}, 1: {"rating": 2.25}},
        "added_rows": [],
        "deleted_rows": [-1],
    }
    app.run()
    assert_no_exception(app)
    assert app.session_state["my_ratings"]["bundled:ml-latest-small"] == dict.fromkeys(rated, 4.0)
    edit_your_ratings(app, {rated[0]: None})  # an emptied cell removes the rating
    assert app.session_state["my_ratings"]["bundled:ml-latest-small"] == {rated[1]: 4.0}


def listed_films(at) -> list[tuple[str, int, float]]:
    """The films of the page shown: (genres, ratings, average)."""
    found = [re.search(r":gray\[(.*) · (\d+) ratings?, average ([\d.]+) ★\]", m.value) for m in at.markdown]
    return [(f.group(1), int(f.group(2)), float(f.group(3))) for f in found if f]


def test_browsing_by_genre_and_best_rated_pages_through_one_order(app):
    open_page(app, "rate")
    app.selectbox(key="rate_genre").set_value("Animation").run()
    app.selectbox(key="rate_sort").set_value("Best rated").run()
    first = listed_films(app)
    app.pagination(key="rate_page").set_value(2).run()
    films = first + listed_films(app)
    assert len(films) == 20 and all("Animation" in genres and count >= 20 for genres, count, _ in films)
    assert [mean for *_, mean in films] == sorted((mean for *_, mean in films), reverse=True)


def test_titles_are_found_as_people_type_them(app):
    """With the article in front, without punctuation, and the film people mean first: a new user's trial
    found "the thing" and "monsters inc" matched nothing, and "the shining" only the 1997 mini-series."""
    open_page(app, "rate")
    for typed, first in (("the thing", "Thing, The (1982)"), ("the shining", "Shining, The (1980)"),
                         ("monsters inc", "Monsters, Inc. (2001)"), ("e.t.", "E.T. the Extra-Terrestrial")):  # fmt: skip
        app.text_input(key="rate_query").input(typed).run()
        titles = [re.sub(r"\\(.)", r"\1", m.value) for m in app.markdown if m.value.startswith("**")]
        assert titles and first in titles[0], (typed, titles[:3])


def test_ratings_survive_page_switches(app):
    open_page(app, "rate")
    rated = rate_first(app, 3, 4.0)
    open_page(app, "data")
    open_page(app, "home")
    open_page(app, "rate")
    assert set(app.session_state["my_ratings"]["bundled:ml-latest-small"]) == set(rated)
    assert your_ratings(app) == dict.fromkeys(rated, 4.0)


def test_saving_onto_a_taken_name_asks_first_and_can_be_undone(app, home):
    open_page(app, "rate")
    open_files(app)
    first = rate_first(app, 1, 4.0)
    app.text_input(key="rate_profile").input("élève").run()
    app.button(key="rate_save").click().run()
    rate_first(app, 2, 2.0)
    app.text_input(key="rate_profile").input("Élève ").run()
    app.button(key="rate_save").click().run()
    assert_no_exception(app)
    assert any("already a profile named `élève`" in w.value for w in app.warning)
    assert load_profile(home / "profiles", "élève").ratings == {first[0]: 4.0}  # not replaced yet
    app.button(key="rate_replace").click().run()
    assert_no_exception(app)
    assert len(load_profile(home / "profiles", "élève").ratings) == 2
    app.selectbox(key="rate_profiles").set_value("élève").run()
    app.button(key="rate_restore").click().run()
    assert_no_exception(app)
    assert load_profile(home / "profiles", "élève").ratings == {first[0]: 4.0}


def test_profiles_save_load_and_csv_import(app, home):
    open_page(app, "rate")
    assert "rate_profile" not in [w.key for w in app.text_input], "the closed box was drawn"
    open_files(app)
    rated = rate_first(app, 2, 4.5)
    app.text_input(key="rate_profile").input("../www.class-7A.example").run()
    app.button(key="rate_save").click().run()
    assert_no_exception(app)
    assert any("cannot be a profile name" in e.value for e in app.error)
    app.text_input(key="rate_profile").input("www.class-7A.example").run()
    app.button(key="rate_save").click().run()
    assert_no_exception(app)
    saved = load_profile(home / "profiles", "www.class-7A.example")
    assert saved.ratings == {item: 4.5 for item in rated}
    assert any("as profile `www.class-7A.example`, which everyone" in s.value for s in app.success)  # no link
    assert any("listed for everyone who uses it" in c.value for c in app.caption)
    assert "Kept while this tab stays open" in sidebar_text(app)  # AppTest sends no workspace cookie
    assert [p.name for p in (home / "profiles").iterdir()] == ["www.class-7A.example.json"]

    app.button(key="rate_clear").click().run()
    assert app.session_state["my_ratings"]["bundled:ml-latest-small"] == {}
    app.selectbox(key="rate_profiles").set_value("www.class-7A.example").run()
    app.button(key="rate_load").click().run()
    assert app.session_state["my_ratings"]["bundled:ml-latest-small"] == {item: 4.5 for item in rated}
    # the message and the sidebar agree at once (the app reruns before showing the message)
    assert any(
        f"Loaded {len(rated)} ratings from profile `www.class-7A.example`" in s.value for s in app.success
    )
    assert f"You rated:** {len(rated)} movies" in sidebar_text(app)

    csv = b"item,rating\n1,5\n2,0.5\n999999999,4\n3,7\n"
    app.file_uploader(key="rate_import").upload("mine.csv", csv, "text/csv").run()
    app.button(key="rate_import_go").click().run()
    assert_no_exception(app)
    ratings = app.session_state["my_ratings"]["bundled:ml-latest-small"]
    assert ratings[1] == 5.0 and ratings[2] == 0.5 and 3 not in ratings
    warnings = " ".join(w.value for w in app.warning)
    assert "not in this data set" in warnings and "off this data set's scale" in warnings


def test_server_paths_are_shown_from_the_home_folder(monkeypatch):
    from pathlib import Path

    from dashboard.ui import shown_path

    monkeypatch.setattr(Path, "home", classmethod(lambda cls: Path("/root")))
    assert shown_path(Path("/root/.cache/recengine")) == "~/.cache/recengine"
    assert shown_path("/root") == "~" and shown_path("/rootless/data") == "/rootless/data"
    assert shown_path("/srv/class/data") == "/srv/class/data"


@pytest.mark.slow
def test_titles_and_genres_from_a_data_folder_show_as_plain_text(home, tmp_path, monkeypatch):
    """probe9 (low): titles and genres are shown in Markdown, and a data set's own (an upload, or a folder the
    teacher lists) made a live link and an image that the browser fetched. They are escaped now."""
    import shutil
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from recengine.data.loading import BUNDLED

    folder = tmp_path / "class-data" / "films"
    folder.mkdir(parents=True)
    shutil.copy(BUNDLED / "ratings.csv", folder / "ratings.csv")
    injected = (
        "[Class password expired: click here](https://evil.example/login) ![x](https://evil.example/p.png)"
    )
    lines = (BUNDLED / "movies.csv").read_text().splitlines()
    (folder / "movies.csv").write_text(
        "\n".join(
            f'356,"{injected} (1994)",Comedy|:red[PWNED]' if line.startswith("356,") else line
            for line in lines
        )
        + "\n"
    )
    monkeypatch.setenv("RECENGINE_DATA_DIRS", str(tmp_path / "class-data"))
    app = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60).run()
    open_page(app, "data")
    app.segmented_control(key="data_source").set_value("path").run()
    app.text_input(key="data_path").input(str(folder)).run()
    app.button(key="data_path_load").click().run()
    assert app.session_state["data_choice"].kind == "path"
    open_page(app, "rate")
    app.text_input(key="rate_query").input("click here").run()
    shown = " ".join(m.value for m in app.markdown if "click here" in m.value)
    assert "\\[Class password expired\\: click here\\]\\(https" in shown and "\\!\\[x\\]" in shown, shown
    assert "\\:red\\[PWNED\\]" in shown
    assert "](https://evil" not in shown and ":red[PWNED]" not in shown
