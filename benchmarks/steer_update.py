"""How fast the Embeddings page's top 10 follows the person's point (issue 22: "dragging the person's point to a
new place changes their top 10 within 0.5 s, median, quiet machine"), measured three ways on a real server:

1. *round trip*: in headless Chromium, from the key press that moves the point one step to the new top 10 on
   the screen (what the class sees; the browser test's measure);
2. *script run*: how long the page's script run (the map's fragment) is under way, as the browser sees it (the
   app's ``data-test-script-state`` going to ``running`` and back, watched by a MutationObserver);
3. *server CPU*: the CPU seconds the server process spends on one move (``/proc/<pid>/stat``): on a quiet
   machine the server's wall time is about this, whatever else is running now.

Writes ``benchmarks/results/steer_update.md``. Run: ``python benchmarks/steer_update.py [--moves 21]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

# This script sits beside one named like the `dashboard` package: import the package, not a script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from dashboard.server import CHROMIUM, CHROMIUM_ARGS, ROOT, running_app  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "steer_update.md"
LIST = ".st-key-embed_steered_list"
THUMB = ".st-key-embed_steer_x input[type='range']"
WATCH_RUNS = """() => {
    window.scriptRuns = [];
    const app = document.querySelector('[data-testid="stApp"]');
    let began = null;
    new MutationObserver(() => {
        const state = app.getAttribute('data-test-script-state');
        if (state === 'running' && began === null) began = performance.now();
        if (state !== 'running' && state !== 'rerunRequested' && began !== null) {
            window.scriptRuns.push((performance.now() - began) / 1000);
            began = null;
        }
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def idle(page: Page, quiet: float = 0.3, timeout: float = 120) -> None:
    app = page.locator('[data-testid="stApp"]')
    deadline, calm = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if app.get_attribute("data-test-script-state") in ("running", "rerunRequested", "initial"):
            calm = None
        elif calm is None:
            calm = time.monotonic()
        elif time.monotonic() - calm >= quiet:
            return
        time.sleep(0.02)
    raise TimeoutError("the app stayed busy")


def open_the_map(page: Page, url: str) -> None:
    page.goto(f"{url}/recommendations")
    page.get_by_role("button", name="Train the default ranking model").click()
    page.get_by_text("Your list comes from", exact=False).or_(
        page.get_by_text("not rated anything")
    ).first.wait_for()
    idle(page)
    page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Embeddings").click()
    page.locator(LIST).wait_for()
    idle(page, quiet=1.0)


def measure(page: Page, pid: int, moves: int) -> dict[str, list[float]]:
    page.evaluate(WATCH_RUNS)
    thumb = page.locator(THUMB)
    rounds, cpu = [], []
    for move in range(moves):
        before = page.locator(LIST).inner_text()
        thumb.focus()
        spent = cpu_seconds(pid)
        began = time.perf_counter()
        thumb.press("ArrowRight" if move % 2 == 0 else "ArrowLeft")
        page.wait_for_function(
            "([selector, before]) => document.querySelector(selector)?.innerText !== before",
            arg=[LIST, before],
            timeout=30_000,
        )
        rounds.append(time.perf_counter() - began)
        idle(page)
        cpu.append(cpu_seconds(pid) - spent)
    runs = page.evaluate("() => window.scriptRuns")
    return {"round trip": rounds, "script run": runs, "server CPU": cpu}


def table(samples: dict[str, list[float]]) -> list[str]:
    lines = ["| measure | median | min | max | samples |", "| --- | --- | --- | --- | --- |"]
    for name, values in samples.items():
        lines.append(
            f"| {name} | {statistics.median(values):.3f} s | {min(values):.3f} s | {max(values):.3f} s "
            f"| {len(values)} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=21)
    moves = parser.parse_args().moves
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as home, running_app(Path(home)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(180_000)
        open_the_map(page, server.url)
        samples = measure(page, server.process.pid, moves)
        browser.close()
    load_after = os.getloadavg()
    lines = [
        "# Steering the map: how fast the top 10 follows the point",
        "",
        f"Measured by `benchmarks/steer_update.py` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}, load average {load_before[0]:.1f} at the start and "
        f"{load_after[0]:.1f} at the end. One fresh server, the default model (Weighted ALS) trained from the "
        f"Recommendations page, no ratings, {moves} one-step moves of the left-right slider (0.05 map units) on "
        "the Embeddings page at 1280 × 720. The target: a new top 10 within 0.5 s (median, quiet machine).",
        "",
        *table(samples),
        "",
        "- *round trip*: key press to the new top 10 on the screen, in headless Chromium (the browser test's "
        "measure, `tests/browser/test_embeddings_browser.py`).",
        "- *script run*: the page's run (the map's fragment: the point moved, the model's scores from there, the "
        "map redrawn) under way, as the browser sees the app's script state.",
        "- *server CPU*: CPU seconds of the server process per move (user + system, all threads); on a quiet "
        "machine its wall time is about this. The rest of the round trip is waiting for a core, the websocket "
        "and the browser drawing.",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
