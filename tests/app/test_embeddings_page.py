"""AppTest: the Embeddings page's map the class can steer: a plane that separates the coloured genres with the
share of spread it keeps, your point moved by two sliders with your top 10 following it, and a film clicked
on the map showing its neighbours."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from app_helpers import assert_no_exception, open_page

from dashboard.runs import model_store

HORROR = {1258: 5.0, 1387: 5.0, 1997: 5.0, 2710: 5.0, 1214: 5.0, 1350: 5.0, 2160: 5.0, 1333: 5.0}
TOY_STORY = 0  # item code of Toy Story (1995) in the bundled set


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def steering(app, shared_store, monkeypatch):
    """The Embeddings page with the default ranking model and a horror lover's ratings."""
    monkeypatch.setenv("RECENGINE_STORE", str(shared_store))
    model_store.clear()
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()
    app.session_state["my_ratings"] = {"bundled:ml-latest-small": dict(HORROR)}
    return open_page(app, "embeddings")


def your_list(app) -> list[str]:
    return list(app.table[0].value["title"])


def test_the_map_separates_the_genres_and_says_how_much_spread_it_keeps(steering):
    assert steering.radio(key="embed_method").value == "genres"
    kept = next(m.value for m in steering.markdown if m.value.startswith("This map keeps"))
    ours, pca = (int(share) for share in re.findall(r"(\d+)%", kept))
    assert 0 < ours < pca < 100
    spec = steering.get("plotly_chart")[0].proto.spec.replace(" ", "")
    assert '"name":"you"' in spec and '"name":"yourtop10(numbered)"' in spec
    colours = [re.search(rf'"name":"{genre}".*?"color":"(#[0-9a-f]{{6}})"', spec).group(1)
               for genre in ("Animation", "Horror", "Documentary", "Romance")]  # fmt: skip
    assert len(set(colours)) == 4


def test_moving_your_point_changes_your_top_10_at_once(steering):
    start = your_list(steering)
    assert len(start) == 10
    seconds, lists = [], []
    moves = [(0.3, 0.0), (0.6, 0.0), (0.0, 0.6), (-0.6, 0.0), (0.0, -0.6), (-0.3, 0.3), (0.3, -0.3)]
    for across, up in moves:
        steering.slider(key="embed_steer_x").set_value(across)
        began = time.perf_counter()
        steering.slider(key="embed_steer_y").set_value(up).run()
        seconds.append(time.perf_counter() - began)
        assert_no_exception(steering)
        lists.append(your_list(steering))
    assert sum(films != start for films in lists) >= 5, "moving the point hardly changed the list"
    print(f"page rerun after a move: median {np.median(seconds):.3f} s, max {max(seconds):.3f} s")
    assert np.median(seconds) < 1.5  # AppTest's own overhead included; the browser test measures the target


def test_a_chosen_film_shows_its_neighbours_where_the_map_draws_them(steering):
    steering.selectbox(key="embed_search").set_value(TOY_STORY).run()
    assert_no_exception(steering)
    spec = steering.get("plotly_chart")[0].proto.spec.replace(" ", "")
    assert '"name":"toitsneighbours"' in spec and '"name":"neighbours(numbered)"' in spec
    assert any(frame.value.shape[0] == 10 and "neighbour" in frame.value for frame in steering.dataframe)
