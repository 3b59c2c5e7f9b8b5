"""Probe 7, finding 3: Compare & tune's sweep ranked every user of every fold over every item in the server.
It now ranks the seeded sample Train's test metrics rank (``dashboard.runs.RANKED_USERS``), and says so."""

from __future__ import annotations

import pytest
from app_helpers import assert_no_exception, open_page

from dashboard import runs
from recengine.data import load_bundled
from recengine.evaluation.tuning import grid_search


@pytest.mark.slow
def test_the_sweep_ranks_trains_sample_of_users_and_says_so(app, monkeypatch):
    monkeypatch.setattr(runs, "RANKED_USERS", 100)  # the bundled set's 610 users are more than that
    open_page(app, "compare")
    app.selectbox(key="sweep_algo").set_value("baseline").run()
    app.multiselect(key="sweep_params_baseline").set_value(["reg_user"]).run()
    app.multiselect(key="sweep_values_baseline_reg_user").set_value([7.5, 30.0]).run()
    app.slider(key="sweep_folds").set_value(2).run()
    app.button(key="sweep_go").click().run()
    assert_no_exception(app)
    _, _, table = app.session_state["sweep_result"]
    sampled = grid_search("baseline", {"reg_user": [7.5, 30.0]}, load_bundled(), cv=2, max_users=100)
    metrics = ["rmse", "precision@10", "ndcg@10", "coverage"]
    assert table[metrics].equals(sampled[metrics])
    assert any("each fold ranks a seeded sample of 100 of its users" in c.value for c in app.caption)
