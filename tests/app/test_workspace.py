"""A person's workspace: what a reload brings back, whose it is, which model serves their lists, and the
Rate page's preview being the Recommendations list's first five.

A reload is a new AppTest session whose browser sends the same workspace key (`workspace.browser_key`, the
cookie's value on a real server, is patched); another browser sends another key.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from pathlib import Path

import pandas as pd
import pytest
from app_helpers import assert_no_exception, open_page
from streamlit.testing.v1 import AppTest

from dashboard import challenge, workspace
from dashboard.runs import model_store
from dashboard.state import DataChoice
from recengine.data import load_bundled
from recengine.evaluation.challenge import ChallengeSpec

DRAMAS = {318: 5.0, 527: 5.0, 858: 5.0, 1193: 5.0, 2324: 5.0, 1207: 5.0, 1704: 5.0, 3147: 5.0}
# Shawshank, Schindler's List, The Godfather, Cuckoo's Nest, Life Is Beautiful, Mockingbird,
# Good Will Hunting, The Green Mile
SOURCE = "bundled:ml-latest-small"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def browser(home, shared_store, monkeypatch):
    """Open the app as a browser holding a workspace key: ``browser(key)`` is a fresh session (a reload)."""
    monkeypatch.setenv("RECENGINE_STORE", str(shared_store))
    model_store.clear()
    current = {"key": None}
    monkeypatch.setattr(workspace, "browser_key", lambda: current["key"])

    def open_with(key: str | None) -> AppTest:
        current["key"] = key
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        assert_no_exception(at)
        return at

    return open_with


def list_titles(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["title"])


@pytest.mark.slow
def test_a_reload_brings_back_ratings_runs_and_choices_and_another_browser_sees_none(browser, home):
    key = secrets.token_urlsafe(32)
    first = browser(key)
    first.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    open_page(first, "recommendations")
    first.button(key="recs_train_default").click().run()
    assert_no_exception(first)
    shown = list_titles(first)
    own = next(iter(first.session_state["runs"].values()))
    assert workspace.path_for(key).is_file() and key not in workspace.path_for(key).name

    again = browser(key)  # the same browser, reloaded
    assert again.session_state["my_ratings"] == {SOURCE: DRAMAS}
    assert list(again.session_state["runs"]) == [own.run_id]
    assert any("Welcome back" in toast.value for toast in again.toast)
    open_page(again, "recommendations")
    assert again.selectbox(key="recs_model").value == own.run_id and list_titles(again) == shown

    stranger = browser(secrets.token_urlsafe(32))
    assert not stranger.session_state["my_ratings"].get(SOURCE) and not stranger.session_state["runs"]
    assert any("not trained a model" in info.value for info in open_page(stranger, "recommendations").info)
    no_cookie = browser(None)  # streamlit run app.py: kept for the tab only, and the sidebar says so
    assert any("Kept while this tab stays open" in c.value for c in no_cookie.sidebar.caption)


@pytest.mark.slow
def test_a_lessons_run_never_serves_the_person_unless_chosen(browser):
    at = browser(secrets.token_urlsafe(32))
    at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    open_page(at, "recommendations")
    at.button(key="recs_train_default").click().run()
    own = next(iter(at.session_state["runs"].values()))
    at.query_params["lesson"] = "factors"  # trains Weighted ALS with one factor, and 64
    at.switch_page("pages/lessons.py").run()
    assert_no_exception(at)
    lessons = [run for run in at.session_state["runs"].values() if run.group == "lessons"]
    assert lessons and any(run.params.get("n_factors") == 1 for run in lessons)
    open_page(at, "recommendations")
    assert at.selectbox(key="recs_model").value == own.run_id
    assert any(
        "serves your lists" in c.value and "your run with taste factors" in c.value for c in at.caption
    )
    dramas = sum("Drama" in genres for genres in at.dataframe[0].value["genres"])
    assert dramas >= 8
    one_factor = next(run for run in lessons if run.params.get("n_factors") == 1)
    at.checkbox(key="recs_show_others").check().run()
    at.selectbox(key="recs_model").set_value(one_factor.run_id).run()
    assert_no_exception(at)
    assert at.session_state["serving_run"] == {own.fingerprint: one_factor.run_id}  # chosen: it serves
    assert any("1 factor" in m.value for m in at.sidebar.markdown)


@pytest.mark.slow
def test_the_rate_preview_is_the_first_five_of_the_list_with_its_filters_and_taste(browser):
    at = browser(secrets.token_urlsafe(32))
    at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    open_page(at, "recommendations")
    at.button(key="recs_train_default").click().run()
    at.slider(key="recs_taste_0.9").set_value(0.4).run()
    at.multiselect(key="recs_genres").set_value(["Crime", "Thriller"]).run()
    listed = list_titles(at)[:5]
    open_page(at, "rate")
    preview = [
        re.sub(r"\\(.)", r"\1", m.value) for m in at.markdown if m.value[:2] in {f"{n}." for n in range(1, 6)}
    ]
    assert len(preview) == 5
    assert all(title in line for title, line in zip(listed, preview, strict=True))


@pytest.mark.slow
def test_train_never_shows_a_run_of_other_settings_as_current(browser):
    at = browser(secrets.token_urlsafe(32))
    open_page(at, "train")
    at.selectbox(key="train_algo").set_value("baseline").run()
    at.button(key="train_go").click().run()
    assert at.session_state["training_job"] is None or at.session_state["training_job"].join(120)
    at.run()
    baseline = at.session_state["runs"][at.session_state["train_run"]]
    assert any("trained in" in s.value or "came from the cache" in s.value for s in at.success)
    at.selectbox(key="train_algo").set_value("sgd").run()  # another algorithm: nothing of the baseline
    assert not at.metric and not at.success and not at.get("plotly_chart")[1:]
    assert any(
        "Settings changed since the run shown" in i.value and baseline.title in i.value for i in at.info
    )
    at.selectbox(key="train_algo").set_value("baseline").run()  # back: its run again, said once
    assert at.metric and not any("came from the cache" in s.value for s in at.success)
    regularisation = at.number_input(key="train_baseline_reg_item")
    regularisation.set_value(regularisation.value + 1).run()  # a setting changed
    assert not at.metric and any("Settings changed" in i.value for i in at.info)


def test_a_rating_changed_or_removed_in_your_ratings_is_kept_and_saved(browser):
    key = secrets.token_urlsafe(32)
    at = browser(key)
    at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    open_page(at, "rate")
    table = at.data_editor(key="rate_mine").value
    assert list(table.index) == list(reversed(DRAMAS)) and set(table["rating"]) == {5.0}
    at.session_state["rate_mine"] = {
        "edited_rows": {0: {"rating": 2.5}},
        "added_rows": [],
        "deleted_rows": [1],
    }
    at.run()  # a changed cell and a removed row, as the table sends them
    assert_no_exception(at)
    changed, removed = list(reversed(DRAMAS))[:2]
    expected = {item: 2.5 if item == changed else value for item, value in DRAMAS.items() if item != removed}
    assert at.session_state["my_ratings"][SOURCE] == expected
    table = at.data_editor(key="rate_mine").value
    assert dict(zip(table.index, table["rating"], strict=True)) == dict(reversed(expected.items()))
    saved = json.loads(workspace.path_for(key).read_text())["ratings"][SOURCE]
    assert saved == [[item, value] for item, value in expected.items()]
    assert browser(key).session_state["my_ratings"] == {SOURCE: expected}  # a reload brings them back


def test_start_over_forgets_the_person_here_and_on_the_server(browser):
    key = secrets.token_urlsafe(32)
    at = browser(key)
    at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    at.run()
    assert workspace.path_for(key).is_file()
    at.sidebar.button(key="side_start_over").click().run()
    assert_no_exception(at)
    assert not at.session_state["my_ratings"].get(SOURCE)
    assert not json.loads(workspace.path_for(key).read_text())["ratings"]
    assert not browser(key).session_state["my_ratings"].get(SOURCE)


# --- the key and the files, without a page ------------------------------------------------------------------


def cookie_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    found = [value.decode() for name, value in headers if name == b"set-cookie"]
    return found[0] if found else None


def respond(path: str, cookie: str | None = None) -> str | None:
    """The Set-Cookie header `WorkspaceCookie` adds to a response for ``path``."""
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message):
        sent.append(message)

    headers = [(b"cookie", f"{workspace.COOKIE}={cookie}".encode())] if cookie else []
    scope = {"type": "http", "path": path, "headers": headers}
    asyncio.run(workspace.WorkspaceCookie(app)(scope, None, send))
    return cookie_of(sent[0]["headers"])


def value_of(header: str) -> str:
    return header.split(";")[0].split("=", 1)[1]


def test_a_page_gets_a_random_httponly_key_and_keeps_it(home):
    given = respond("/")
    assert (
        given is not None
        and "HttpOnly" in given
        and "SameSite=Strict" in given
        and "Max-Age=2592000" in given
    )
    cookie = value_of(given)
    assert workspace.key_from_cookie(cookie) and respond("/rate") != given  # every browser its own
    assert respond("/rate", cookie).startswith(f"{workspace.COOKIE}={cookie};")  # renewed, same key
    forged = respond("/", "../../etc/passwd")  # a malformed key is replaced, never used as a name
    assert workspace.key_from_cookie(value_of(forged))
    assert respond("/_stcore/health") is None and respond("/static/js/main.js") is None


def test_only_keys_the_server_issued_are_accepted(home):
    """The re-probe: a well-formed key chosen by the client was accepted as its key (on a shared computer,
    one student could plant a key they know in the browser, then read the next student's workspace)."""
    chosen = secrets.token_urlsafe(32)
    replaced = value_of(respond("/", chosen))
    assert chosen not in replaced and workspace.key_from_cookie(replaced) != chosen
    key = workspace.key_from_cookie(replaced)
    assert workspace.key_from_cookie(f"{key}.{secrets.token_urlsafe(32)}") is None  # a forged signature
    assert workspace.key_from_cookie(f"{chosen}.{replaced.split('.')[1]}") is None  # another key's
    secret = home / workspace.SECRET_FILE
    assert secret.stat().st_size == 32 and oct(secret.stat().st_mode)[-3:] == "600"
    workspace.server_secret.cache_clear()  # a restart reads the same secret: issued keys stay valid
    assert workspace.key_from_cookie(replaced) == key


def test_a_workspace_kept_before_keys_were_signed_comes_back_once_signed(home):
    """Browsers holding an unsigned key from before keep their workspace: its file predates the secret."""
    before, planted = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    workspace.write(before, '{"version": 1}')
    os.utime(workspace.path_for(before), (1e9, 1e9))
    assert value_of(respond("/", before)) == workspace.signed(before)  # kept, and signed from now on
    workspace.write(planted, '{"version": 1}')  # a key planted after signing began is not believed
    assert workspace.key_from_cookie(value_of(respond("/", planted))) != planted


def test_files_are_named_by_a_digest_written_whole_and_expire(home):
    key = secrets.token_urlsafe(32)
    workspace.write(key, '{"version": 1, "ratings": {}}')
    path = workspace.path_for(key)
    assert (
        path.parent == home / "workspaces" and key not in str(path) and oct(path.stat().st_mode)[-3:] == "600"
    )
    assert workspace.read(key) == {"version": 1, "ratings": {}}
    assert workspace.read(secrets.token_urlsafe(32)) is None  # a guessed key finds nothing
    assert not list(path.parent.glob(".*.tmp"))  # no half-written file left beside it
    old = path.stat().st_mtime - (workspace.MAX_AGE_DAYS + 1) * 86400
    os.utime(path, (old, old))
    assert workspace.read(key) is None and not path.exists()


def test_a_workspace_keeps_its_newest_runs_within_its_limits(monkeypatch):
    monkeypatch.setattr(workspace, "MAX_RUNS", 3)

    class Kept:
        def __init__(self, group, n):
            self.group, self.n, self.diverged, self.stopped_at = group, n, "", None
            self.source_key = SOURCE

    runs = [Kept("lessons", 0), Kept("mine", 1), Kept("sweeps", 2), Kept("mine", 3), Kept("mine", 4)]
    assert [run.n for run in workspace.kept_runs(runs)] == [1, 3, 4]  # lessons' and sweeps' go first
    stopped = Kept("mine", 5)
    stopped.stopped_at = 3  # a stopped run's model is in no cache: a restart cannot bring it back
    assert stopped not in workspace.kept_runs([stopped])
    uploaded = Kept("mine", 6)
    uploaded.source_key = "upload:ratings.csv"  # its model leaves the cache with its session
    assert uploaded not in workspace.kept_runs([uploaded])


@pytest.mark.slow
def test_in_class_mode_a_workspace_comes_back_only_after_the_password(browser, monkeypatch):
    key = secrets.token_urlsafe(32)
    mine = browser(key)
    mine.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    mine.run()
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "open sesame")
    at = browser(key)  # the same cookie, a new session: the password form, nothing restored yet
    assert at.text_input(key="class_password") and "my_ratings" not in at.session_state
    at.text_input(key="class_password").input("open sesame")
    at.button(key="class_password_enter").click().run()
    assert at.session_state["my_ratings"] == {SOURCE: DRAMAS}


def test_in_class_mode_a_browser_that_typed_the_password_is_let_in_again(browser, monkeypatch):
    """probe6's finding 3: a flood of wrong passwords from the router slowed every try from it, the right
    ones too. A reload or a new tab of a browser that typed the class password comes in without it; another
    browser is asked; a new class password forgets every browser."""
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "open sesame")
    key = secrets.token_urlsafe(32)
    first = browser(key)
    first.text_input(key="class_password").input("open sesame")
    first.button(key="class_password_enter").click().run()
    assert first.session_state["class_admitted"]

    def asked(at: AppTest) -> bool:
        return any(field.key == "class_password" for field in at.text_input)

    assert not asked(browser(key)) and asked(browser(secrets.token_urlsafe(32)))
    monkeypatch.setenv("RECENGINE_CLASS_PASSWORD", "three new words")
    assert asked(browser(key))


def test_the_sidebar_says_at_once_when_a_change_is_not_kept(browser, monkeypatch):
    """probe6's finding 11: the sidebar, drawn before the workspace is saved, still said "kept on this server"
    after the click whose save was refused (an address past its new workspaces), and told it one click later."""
    monkeypatch.setattr(
        workspace, "admit_new", lambda address, now=None: "Your work is not kept: test refusal."
    )
    at = browser(secrets.token_urlsafe(32))
    at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    at.run()
    assert "Your work is not kept: test refusal." in [w.value for w in at.sidebar.warning]
    assert not [c for c in at.sidebar.caption if "are kept on this server" in c.value]


def test_a_visit_that_made_nothing_leaves_no_file_and_the_oldest_go_beyond_the_limit(browser, home):
    key = secrets.token_urlsafe(32)
    browser(key)
    assert not workspace.path_for(key).exists()
    keys = [secrets.token_urlsafe(32) for _ in range(3)]
    for age, each in enumerate(keys):
        workspace.write(each, '{"version": 1}')
        os.utime(workspace.path_for(each), (1e9 - age, 1e9 - age))  # keys[0] visited last
    assert workspace.prune(now=1e9, limit=2) == 1
    assert [workspace.path_for(each).exists() for each in keys] == [True, True, False]


def test_lock_files_leave_with_their_workspaces(home):
    """The re-probe: workspaces/*.lock files were never pruned."""
    keys = [secrets.token_urlsafe(32) for _ in range(2)]
    for each in keys:
        with workspace.locked(each):
            workspace.write(each, '{"version": 1}')
    old = 1e9 - (workspace.MAX_AGE_DAYS + 1) * 86400
    os.utime(workspace.path_for(keys[1]), (old, old))
    assert workspace.prune(now=1e9) == 1
    lock = workspace.path_for(keys[1]).with_suffix(".lock")
    assert workspace.path_for(keys[0]).with_suffix(".lock").exists() and not lock.exists()
    with workspace.locked(keys[1]):
        pass  # a visit that wrote nothing leaves a lock without a workspace
    os.utime(lock, (old, old))
    workspace.prune(now=1e9)
    assert not lock.exists()
    workspace.remove(keys[0])  # Start over
    assert not list((home / "workspaces").glob("*.lock"))


@pytest.mark.slow
def test_the_best_measured_own_run_serves_not_the_latest(browser):
    """Weighted ALS first, then SGD (a rating model, lower P@10): the later run does not take over the lists;
    once chosen, it does, and the choice outlives a reload."""
    key = secrets.token_urlsafe(32)
    at = browser(key)
    for algo in ("wals", "sgd"):
        open_page(at, "train")
        at.selectbox(key="train_algo").set_value(algo).run()
        at.button(key="train_go").click().run()
        job = at.session_state["training_job"]
        assert job is None or job.join(120), f"{algo} did not finish in 120 s"
        at.run()
    runs = {run.algo: run for run in at.session_state["runs"].values()}
    assert runs["wals"].metrics["precision@10"] > runs["sgd"].metrics["precision@10"]
    open_page(at, "recommendations")
    assert at.selectbox(key="recs_model").value == runs["wals"].run_id
    assert any("the best P@10 among your runs" in c.value for c in at.caption)
    at.selectbox(key="recs_model").set_value(runs["sgd"].run_id).run()
    assert any("serves your lists here and on Rate movies: you chose it" in c.value for c in at.caption)
    assert open_page(browser(key), "recommendations").selectbox(key="recs_model").value == runs["sgd"].run_id


def test_an_outlier_does_not_squash_the_rmse_axis_and_every_run_has_its_colour():
    from dashboard.charts import accuracy_vs_ranking, rmse_axis

    rmses = [0.91, 0.90, 0.93, 0.95, 3.1]  # zero-filled NMF beside the others
    floor, top = rmse_axis(pd.Series(rmses))
    assert floor <= 0.85 and 0.95 < top < 1.05
    table = pd.DataFrame(
        {"model": [f"run {i}" for i in range(20)], "rmse": (rmses * 4), "precision@10": [0.1] * 20}
    )
    figure = accuracy_vs_ranking(table)
    colours = figure.data[0].marker.color
    assert len(set(colours)) == 20 and list(figure.data[0].y) == list(table["model"])
    assert "off the axis" in figure.data[0].text[4] and max(figure.data[0].x) <= top


def test_two_tabs_of_one_browser_keep_both_their_work(browser):
    key = secrets.token_urlsafe(32)
    first, second = browser(key), browser(key)
    first.session_state["my_ratings"] = {SOURCE: {318: 5.0}}
    first.run()
    second.session_state["my_ratings"] = {SOURCE: {527: 4.5}}
    second.run()  # writes after the first tab: merges, and takes the first tab's rating in
    assert second.session_state["my_ratings"][SOURCE] == {318: 5.0, 527: 4.5}
    first.session_state["my_ratings"][SOURCE].pop(318)  # removed in the first tab, untouched in the second
    first.run()
    assert first.session_state["my_ratings"][SOURCE] == {527: 4.5}
    assert browser(key).session_state["my_ratings"] == {SOURCE: {527: 4.5}}


def test_the_merge_keeps_what_either_side_changed_and_this_side_wins_a_clash():
    base = {
        "ratings": {"s": [[1, 4.0], [2, 3.0], [3, 2.0]]},
        "runs": [{"run_id": "a"}],
        "serving": {"f": "a"},
    }
    ours = {
        "ratings": {"s": [[1, 5.0], [2, 3.0], [3, 2.0]]},
        "runs": [{"run_id": "a"}],
        "serving": {"f": "a"},
    }
    theirs = {
        "ratings": {
            "s": [[1, 1.0], [2, 3.5], [4, 4.0]]
        },  # 1 changed (both did), 2 changed, 3 removed, 4 added
        "runs": [{"run_id": "a"}, {"run_id": "b"}],
        "serving": {"f": "b"},
        "not_seen": {"s": [9]},
    }
    result = workspace.merged(ours, base, theirs)
    assert dict(map(tuple, result["ratings"]["s"])) == {1: 5.0, 2: 3.5, 4: 4.0}
    assert [r["run_id"] for r in result["runs"]] == ["a", "b"]
    assert result["serving"] == {"f": "b"} and result["not_seen"] == {"s": [9]}


def test_working_on_a_challenge_comes_back_after_a_reload(browser, home):
    """Pressing "Work on this challenge" is a choice a reload keeps (even before anything is made)."""
    spec = ChallengeSpec(split="user:0.2", measure="rmse", models=("baseline",), deadline=time.time() + 3600)
    opened = challenge.create(spec, DataChoice(), load_bundled())
    key = secrets.token_urlsafe(32)
    first = open_page(browser(key), "challenge")
    first.button(key="challenge_work").click().run()
    assert_no_exception(first)
    assert first.session_state["data_choice"] == opened.working_choice
    again = browser(key)
    assert again.session_state["data_choice"] == opened.working_choice
    assert any("its training part" in m.value for m in again.sidebar.markdown)


def _warnings(at: AppTest) -> str:
    return " ".join(str(w.value) for w in at.sidebar.warning)


@pytest.mark.slow
def test_a_workspace_beyond_its_size_is_not_written_and_the_person_is_told(browser, monkeypatch):
    """Probe 3, finding 9: a workspace of ratings with long item ids took 4.6 MB, beyond `MAX_BYTES`, which
    trimmed runs only. Here the limit is lowered below eight ratings' size."""
    monkeypatch.setattr(workspace, "MAX_BYTES", 150)
    key = secrets.token_urlsafe(32)
    at = browser(key)
    at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
    at.run()
    assert not workspace.path_for(key).exists()
    at.run()  # the sidebar says it on the run after the save
    assert "not kept" in _warnings(at) and "150 bytes" in _warnings(at)
    assert at.session_state["my_ratings"] == {SOURCE: DRAMAS}  # kept in the tab


@pytest.mark.slow
def test_fresh_cookies_from_one_address_get_no_new_workspace_beyond_its_budget(browser, monkeypatch):
    """Probe 3, finding 9: every fresh cookie that rated a film wrote a workspace (8,000 an hour)."""
    monkeypatch.setenv(workspace.NEW_PER_ADDRESS_ENV, "1")
    monkeypatch.setattr(workspace, "session_address", lambda: "one router")
    written = []
    for _ in range(2):
        key = secrets.token_urlsafe(32)
        at = browser(key)
        at.session_state["my_ratings"] = {SOURCE: dict(DRAMAS)}
        at.run()
        written.append(workspace.path_for(key).exists())
    assert written == [True, False]
    at.run()
    assert "not kept" in _warnings(at) and "network address" in _warnings(at)


def test_new_workspaces_count_per_address_and_hour_and_the_cap_holds_while_running(home, monkeypatch):
    monkeypatch.setenv(workspace.NEW_PER_ADDRESS_ENV, "2")
    assert workspace.admit_new("a", now=1e9) is None and workspace.admit_new("a", now=1e9 + 1) is None
    assert "network address" in workspace.admit_new("a", now=1e9 + 2)
    assert workspace.admit_new("b", now=1e9 + 2) is None  # another room
    assert workspace.admit_new("a", now=1e9 + 3601) is None  # an hour later
    monkeypatch.setattr(workspace, "MAX_WORKSPACES", 3)
    keys = [secrets.token_urlsafe(32) for _ in range(3)]
    for age, each in enumerate(keys):
        workspace.write(each, '{"version": 1}')
        os.utime(workspace.path_for(each), (1e9 - age, 1e9 - age))  # keys[2] visited least recently
    assert workspace.admit_new("", now=1e9) is None  # not counted per address, but the cap makes room
    assert [workspace.path_for(each).exists() for each in keys] == [True, True, False]


def test_each_session_is_noted_as_its_persons_for_the_upload_guards(browser, monkeypatch):
    """The fifth re-probe's upload budgets count a person's tabs together: the HTTP guards see only a
    session id, so each session's first run notes whose it is (`classroom.whose`). Two tabs of one browser
    are one person; another browser is another."""
    from dashboard import classroom

    noted: list[str] = []
    monkeypatch.setattr(classroom, "note_session", noted.append)
    key = secrets.token_urlsafe(32)
    first = browser(key)
    browser(key)  # another tab of the same browser
    browser(secrets.token_urlsafe(32))  # another browser
    first.run()  # a later run of a session notes nothing more
    assert len(noted) == 3 and noted[0] == noted[1] != noted[2]
    assert noted[0].startswith("person:") and key not in noted[0]
