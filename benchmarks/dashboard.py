"""Dashboard response times from a real server, timed in headless Chromium (issue 5's three targets):

1. first page ready within 3 s of server start (process launch -> Home drawn and idle);
2. the default model trains on the bundled set with a live curve in under 5 s (click -> results shown),
   with the time the first curve appeared;
3. after rating a movie, your recommendations update in under 0.5 s (click -> the top picks beside the
   rating buttons show the new list).

Each repeat starts a fresh server with an empty model store, so training really trains. Writes
``benchmarks/results/dashboard.md``. Run: ``./dev bench dashboard [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

# This script is named like the `dashboard` package it measures: import the package, not the script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.modules.pop("dashboard", None)

from dashboard.server import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app  # noqa: E402
from recengine.data import load_bundled  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "dashboard.md"
TARGETS = {"first page": 3.0, "train default": 5.0, "update after rating": 0.5, "train again": 5.0}


def idle(page: Page, timeout: float = 120) -> None:
    """Until the app reports no script run under way (polled every 10 ms)."""
    app = page.locator('[data-testid="stApp"]')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.get_attribute("data-test-script-state") not in ("running", "rerunRequested", "initial"):
            return
        time.sleep(0.01)
    raise TimeoutError("the app stayed busy")


def first_page(browser, home: Path) -> tuple[float, Page, object]:
    context = running_app(home)
    server = context.__enter__()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server.url)
    page.get_by_role("heading", name=re.compile("how matrix factorization")).wait_for(timeout=60_000)
    page.locator('[data-testid="stSidebar"]').get_by_text("You rated").wait_for()
    idle(page)
    return time.perf_counter() - server.started, page, context


def train_default(page: Page, seed: int = 0) -> tuple[float, float, dict[str, float]]:
    """(seconds from the click to the results, to the first drawn curve, and the page's own account: fit
    seconds and the job's timeline); another ``seed`` than 0 makes a configuration the store has not seen."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train", exact=True).click()
    page.get_by_role("heading", name="Train a model").wait_for()
    idle(page)
    if not seed:  # as a person would: once the page is drawn (its empty axes load the chart library)
        page.locator(".st-key-train_empty_chart .js-plotly-plot").first.wait_for()
        time.sleep(0.5)
    if seed:
        page.get_by_label("seed", exact=True).fill(str(seed))
        page.get_by_label("seed", exact=True).press("Enter")
        idle(page)
    before = active_model(page)
    button = page.get_by_role("button", name=re.compile("Train")).first
    start = time.perf_counter()
    button.click()
    while not button.is_disabled() and active_model(page) == before:  # until the new job shows
        wait_a_little(start)
    first_curve = None
    while active_model(page) == before:  # the new model becomes active when its results are shown
        if first_curve is None and page.locator(".st-key-train_live_chart .js-plotly-plot").count():
            first_curve = time.perf_counter() - start
        wait_a_little(start)
    done = time.perf_counter() - start
    page.get_by_text(re.compile("trained in .* and cached")).wait_for()
    return done, first_curve if first_curve is not None else done, page_account(page)


def page_account(page: Page) -> dict[str, float]:
    """What the Train page reports: the fit's seconds and when the worker, the first epoch and the model
    came (seconds after the click, as the server saw them)."""
    text = page.get_by_text(re.compile("trained in .* and cached")).inner_text()
    text += " " + page.get_by_text("After the click").inner_text()
    patterns = {
        "fit": r"trained in ([\d.]+) s",
        "worker": r"training process started ([\d.]+) s",
        "first epoch": r"first epoch ([\d.]+) s",
        "model back": r"model back ([\d.]+) s",
        "stored": r"stored ([\d.]+) s",
    }
    return {name: float(m.group(1)) for name, pattern in patterns.items() if (m := re.search(pattern, text))}


def active_model(page: Page) -> str:
    """The sidebar's "Active model" line (its run id changes when a newly trained model is shown)."""
    text = page.locator('[data-testid="stSidebar"]').inner_text()
    found = re.search(r"Active model:\s*(.*?)(?:\n|$)", text, re.S)
    return found.group(1) if found else ""


def wait_a_little(start: float, limit: float = 120) -> None:
    if time.perf_counter() - start > limit:
        raise TimeoutError("training did not finish")
    time.sleep(0.01)


def updates_after_rating(page: Page, count: int) -> list[float]:
    """Seconds from a rating click to the changed top picks, for ``count`` movies in turn."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Rate movies", exact=True).click()
    preview = page.locator(".st-key-rate_preview")
    preview.get_by_text("Your top picks now").wait_for()
    idle(page)
    rows = page.locator('[class*="st-key-rate_item_"]')
    times = []
    for index in range(count):
        before = preview.inner_text()
        start = time.perf_counter()
        rows.nth(index).get_by_role("radio", name="5", exact=True).click()
        while preview.inner_text() == before:
            if time.perf_counter() - start > 10:
                raise TimeoutError("the recommendations did not change")
            time.sleep(0.005)
        times.append(time.perf_counter() - start)
        idle(page)
    return times


def pickle_cost() -> float:
    """What st.cache_data would add on every access of the bundled data set: a pickle round trip."""
    data = load_bundled()
    start = time.perf_counter()
    for _ in range(10):
        pickle.loads(pickle.dumps(data))
    return (time.perf_counter() - start) / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ratings", type=int, default=5, help="movies rated per repeat")
    args = parser.parse_args()
    account = ("worker", "first epoch", "model back", "stored", "fit")
    names = [
        "first page",
        "train default",
        "first curve",
        *(f"↳ {a}" for a in account),
        "update after rating",
    ]
    names += ["train again", "first curve again", *(f"↳ {a} again" for a in account)]
    samples: dict[str, list[float]] = {name: [] for name in names}
    load = os.getloadavg()[0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        for repeat in range(args.repeats):
            with tempfile.TemporaryDirectory() as home:
                seconds, page, context = first_page(browser, Path(home))
                try:
                    samples["first page"].append(seconds)
                    trained, curve, account = train_default(page)
                    samples["train default"].append(trained)
                    samples["first curve"].append(curve)
                    for name, seconds in account.items():
                        samples[f"↳ {name}"].append(seconds)
                    samples["update after rating"] += updates_after_rating(page, args.ratings)
                    trained, curve, account = train_default(page, seed=1)
                    samples["train again"].append(trained)
                    samples["first curve again"].append(curve)
                    for name, seconds in account.items():
                        samples[f"↳ {name} again"].append(seconds)
                finally:
                    page.close()
                    context.__exit__(None, None, None)
            print(
                f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in samples.items()),
                flush=True,
            )
        browser.close()
    write(samples, (load, os.getloadavg()[0]), args, pickle_cost())


def write(
    samples: dict[str, list[float]], load: tuple[float, float], args: argparse.Namespace, pickled: float
) -> None:
    lines = [
        "# Dashboard response times",
        "",
        f"Measured by `benchmarks/dashboard.py` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, load average {load[0]:.1f} at the "
        f"start and {load[1]:.1f} at the end (other work shared the machine: compare medians, not single "
        f"runs). {args.repeats} fresh servers, "
        f"each with an empty model store; {args.ratings} ratings per server. Times from headless Chromium.",
        "",
        "| measure | target | median | min | max | samples |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, values in samples.items():
        if not values:
            continue
        target = f"< {TARGETS[name]:g} s" if name in TARGETS else ""
        lines.append(
            f"| {name} | {target} | {statistics.median(values):.3f} s | {min(values):.3f} s | "
            f"{max(values):.3f} s | {len(values)} |"
        )
    lines += [
        "",
        "- *first page*: from launching the server (`python -m dashboard.serve`, what `./dev app` runs) to "
        "the Home page drawn (heading and sidebar) and idle.",
        "- *train default*: from the Train click to the results card (Weighted ALS, 15 epochs, split user:0.2, "
        "test metrics computed, model written to the store), clicked once the Train page is drawn, a few "
        "seconds after the server started, while the first training process may still be starting; *first curve*: to the first drawn loss "
        "curve. *train again*: the same with seed 1 after the ratings, when the fork server is up (a new "
        "configuration, so it trains rather than coming from the cache).",
        "- ↳ rows: the Train page's own account of the same trainings, in seconds after the click as "
        "the server saw them: when a training process took the job (*worker*), the first epoch arrived, "
        "the fitted and evaluated model came back, it was stored; *fit* is the fit alone, inside the worker. "
        "The rest, up to the row above, is the page noticing (it polls every 0.4 s) and drawing the results.",
        "- *update after rating*: from a click on a rating to the changed top picks beside the rating buttons "
        "(fold-in of your ratings and a new top 5, no retraining).",
        "- Where the first page's time goes: the server answers after about 0.6 s, the browser has the "
        "page's JavaScript after about 1.8 s and connects; the first script run then draws the page. "
        "Streamlit imports none of the app before that run, so `dashboard.serve` imports NumPy, pandas, "
        "SciPy and the engine in a thread once the server is up (0.9 s that the first run no longer "
        "waits for: 3.26 s median before, same machine); compiled kernels (numba) and SciPy's optimizers "
        "load only when a model needs them.",
        "- Where the first training's time goes: the first training process is still starting (the fork "
        "server imports the engine, the worker loads its compiled kernels) when the button is pressed right "
        "after the server starts; later trainings, as after rating a few movies, find it ready (*train "
        "again*).",
        f"- Data sets and splits are cached with `st.cache_resource`: `st.cache_data` would pickle and "
        f"unpickle the bundled data set on every access, {pickled * 1000:.0f} ms each time here.",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
