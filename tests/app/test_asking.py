"""AppTest: the Rate page's questions, "Help us learn your taste": ten answers, the top picks following them."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from app_helpers import assert_no_exception, open_page

from dashboard.runs import model_store

SOURCE = "bundled:ml-latest-small"


def asked_item(app) -> int:
    keys = [w.key for w in app.segmented_control if w.key and w.key.startswith("ask_rate_")]
    assert len(keys) == 1, keys
    return int(keys[0].removeprefix("ask_rate_"))


def top_picks(app) -> list[str]:
    return [m.value for m in app.markdown if re.match(r"\d+\. \*\*", m.value)]


@pytest.mark.slow
def test_ten_answers_go_into_the_ratings_and_the_top_picks_follow_them(app, tmp_path, monkeypatch):
    monkeypatch.setenv("RECENGINE_STORE", str(tmp_path / "models"))
    model_store.clear()
    open_page(app, "rate")
    assert any("Help us learn your taste" in m.value for m in app.markdown)
    assert asked_item(app) == 356  # no model yet: the film most likely seen, Forrest Gump
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()
    assert_no_exception(app)
    open_page(app, "rate")
    before = top_picks(app)
    assert len(before) == 5
    rated, skipped, picks = {}, [], []
    for answer in range(10):
        item = asked_item(app)
        if answer % 3 == 2:
            app.button(key="ask_skip").click().run()
            skipped.append(item)
        else:
            app.segmented_control(key=f"ask_rate_{item}").set_value(5.0).run()
            rated[item] = 5.0
        assert_no_exception(app)
        picks.append(top_picks(app))
    assert app.session_state["my_ratings"][SOURCE] == rated
    assert app.session_state["ask_not_seen"][SOURCE] == skipped
    assert len({*rated, *skipped}) == 10
    assert any("7 rated, 3 not seen so far" in c.value for c in app.caption)
    after = top_picks(app)
    assert len(after) == 5 and after != before
    moves = sum(a != b for a, b in pairwise([before, *picks]))
    assert moves >= 5  # the top picks moved with the answers
    app.button(key="ask_stop").click().run()
    assert not any(w.key and w.key.startswith("ask_rate_") for w in app.segmented_control)
    app.button(key="ask_resume").click().run()
    assert asked_item(app) not in {*rated, *skipped}
