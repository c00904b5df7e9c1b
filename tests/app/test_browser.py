"""End to end in a real browser: draw a curve, launch a run, watch it, stop it, compare.

Starts ``streamlit run app`` on a temporary store and drives Debian's chromium through
Playwright (never ``playwright install``). Skips when /usr/bin/chromium or the playwright
package is missing. Screenshots of every page go to the test's tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from storage import Store
from tests.app.conftest import REPO
from tests.helpers import free_port, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 60_000  # generous: first page loads import torch in the app process

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (pip install playwright)"
)


@pytest.fixture
def app_url(tmp_path: Path):
    """A dashboard on an empty temporary store; stops it and its worker afterwards."""
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "ACTCOOL_HOME": str(home), "PYTHONPATH": str(REPO)}
    log = open(tmp_path / "streamlit.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}")
            time.sleep(0.3)
        yield url, home
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        stop_worker(home)
        log.close()


def stop_worker(home: Path) -> None:
    """SIGTERM the worker the app started (it stops its runs), then wait for it."""
    pidfile = home / "worker.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


def steps_done(page) -> int:
    """The 'Steps' metric of the Runs page ("12 / 300" -> 12)."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=re.compile(r"^Steps"))
    text = metric.locator('[data-testid="stMetricValue"]').inner_text()
    return int(re.sub(r"[^\d]", "", text.split("/")[0]) or 0)


# true once every Plotly chart on the page is drawn at its container's width
CHARTS_SETTLED = """() => [...document.querySelectorAll('.js-plotly-plot')].every(
    p => p._fullLayout && Math.abs(p._fullLayout.width - p.clientWidth) < 2)"""


def shot(page, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside the page, so the viewport
    is made tall for the shot (as a long laptop screen) and put back afterwards."""
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2400})
    try:  # until every chart has been redrawn at its new size, not a fixed wait
        page.wait_for_function(CHARTS_SETTLED, timeout=10_000)
    except sync_api.TimeoutError:
        pass  # a screenshot of a chart mid-resize is still a screenshot
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


@contextlib.contextmanager
def browser_page(tmp_path: Path, width: int, height: int):
    """A Chromium page of the given size; a screenshot ``failure.png`` when the body fails."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(WAIT_MS)
        try:
            yield page
        except Exception:
            shot(page, tmp_path / "failure.png")
            print("The page when the test failed:\n", page.locator("body").inner_text()[:8000])
            raise
        finally:
            browser.close()


def nav(page, title: str) -> None:
    page.get_by_role("link", name=title, exact=True).first.click()
    page.get_by_role("heading", level=1).filter(has_text=re.compile(title, re.I)).first.wait_for(
        timeout=WAIT_MS
    )


def set_number(page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def idle(page) -> bool:
    """Whether the app is between runs of its script (or of a fragment): Streamlit's root
    element carries the script's state (its status widget is hidden by the minimal toolbar)."""
    state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
    return state == "notRunning"


def press(page, button, done, what: str, timeout: float = WAIT_MS / 1000) -> None:
    """Click ``button`` until ``done()``: a click that lands while the page reruns for the
    previous input can be lost (seen under load in CI). It is clicked again only once the
    page has been idle for 2 s without ``done()``: the click's run has finished, and its
    effect is not there, so it never arrived (a slow effect keeps the script running)."""
    button.click()
    deadline = time.monotonic() + timeout
    idle_since = None
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        if not idle(page):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 2 and button.is_visible() and button.is_enabled():
            button.click()
            idle_since = None
        time.sleep(0.3)


def type_in(page, label: str, value: str, tries: int = 5) -> None:
    """Type ``value`` into a text field and commit it (Enter), once the page is idle, until the
    field still holds it after the run that follows: text typed while the page reruns for a
    previous input can be reset by that run (seen under load in CI: a curve saved without
    its name, so never found)."""
    field = page.get_by_label(label)
    for _ in range(tries):
        wait_for(lambda: idle(page), WAIT_MS / 1000, "the page to be idle")
        field.fill(value)
        field.press("Enter")
        time.sleep(0.5)  # the run the Enter starts
        wait_for(lambda: idle(page), WAIT_MS / 1000, "the page to be idle")
        if field.input_value() == value:
            return
    raise AssertionError(f"{label!r} lost {value!r} {tries} times")


def shown(page, text) -> bool:
    return page.get_by_text(text).first.is_visible()


def choose(page, option: str) -> None:
    """Click a radio option until the page shows it chosen: a click that lands while the
    page reruns for the previous input can be lost (seen under load in CI)."""
    radio = page.get_by_role("radio", name=option, exact=True)

    def chosen() -> bool:
        if not radio.is_checked():
            page.get_by_text(option, exact=True).click()
            return False
        return True

    wait_for(chosen, 30, f"the option {option!r} to be chosen")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_design_launch_watch_stop_compare(app_url, tmp_path: Path):
    url, home = app_url
    with browser_page(tmp_path, 1440, 1000) as page:
        # -------------------------------------------------------------- Design
        page.goto(url)
        page.get_by_role("heading", name="Design a target temperature curve").wait_for()
        chart = page.locator(".js-plotly-plot").first
        chart.wait_for()
        page.get_by_text("λ0 and k from quick scan").wait_for()  # the real quick scan
        chart.hover()
        chart.locator('.modebar-btn[data-val="lasso"]').click()
        area = chart.locator(".nsewdrag").first.bounding_box()
        x0, y = area["x"] + 0.2 * area["width"], area["y"] + 0.15 * area["height"]
        page.mouse.move(x0, y)
        page.mouse.down()
        for i in range(1, 31):  # a stroke along the top: keep 20%-70% of training hot
            page.mouse.move(x0 + i * area["width"] * 0.5 / 30, y + (i % 3), steps=2)
        page.mouse.up()
        page.get_by_text(
            re.compile(r"Stroke applied: replaced \d+% to \d+% of training")
        ).wait_for()
        type_in(page, "Curve name", "browser-drawn")
        press(
            page,
            page.get_by_role("button", name="Save curve"),
            lambda: "browser-drawn" in set(Store(home).list_curves()["name"]),
            "the curve to be saved",
        )
        page.get_by_text("Saved as 'browser-drawn'").wait_for()
        shot(page, tmp_path / "design.png")
        saved = Store(home).load_curve("browser-drawn")
        assert saved["kind"] == "drawn"
        hot = [t for f, t in saved["points"] if 0.3 <= f <= 0.6]
        assert hot and min(hot) > 2.5  # the stroke ran near the top of the 0-4 bit axis

        # -------------------------------------------------------------- Launch
        nav(page, "Launch")
        page.get_by_text("New here? Run the demo").wait_for()  # the empty store's offer
        set_number(page, "Epochs", 100)
        choose(page, "the curve on the Design page")  # not the default target
        seeds = page.get_by_label("Seeds", exact=True)
        seeds.fill("0, 1")  # two runs: one to stop, one to compare
        seeds.press("Enter")

        def two_seeds() -> bool:
            """The page says it will queue two runs; an Enter that landed while the page reran
            for the previous input is lost (seen in CI: one run queued), so it is typed again
            once the page is idle."""
            if shown(page, re.compile(r"Queues 2 runs \(one per seed\)")):
                return True
            if idle(page):
                seeds.fill("0, 1")
                seeds.press("Enter")
            return False

        wait_for(two_seeds, 30, "the seeds 0, 1 to be taken", interval=1.0)
        press(
            page,
            page.get_by_role("button", name="Launch", exact=True),
            lambda: len(Store(home).list_runs()) > 0,
            "the runs to be queued",
        )
        page.get_by_text(re.compile(r"Queued 2 runs")).wait_for()
        shot(page, tmp_path / "launch.png")
        runs = sorted(Store(home).list_runs().to_dict("records"), key=lambda r: r["config"]["seed"])
        assert [r["config"]["seed"] for r in runs] == [0, 1]
        for run in runs:
            assert run["config"]["epochs"] == 100 and run["config"]["schedule"] == "actcool"
            assert '"drawn"' in run["config"]["target"]  # the curve drawn above
        first, second = runs

        # -------------------------------------------------------------- Runs
        nav(page, "Runs")
        page.get_by_text(first["id"], exact=True).wait_for()  # the run just launched
        wait_for(lambda: steps_done(page) > 0, 90, "the run to record steps")
        before = steps_done(page)
        wait_for(lambda: steps_done(page) > before, 30, "the step count to grow")
        shot(page, tmp_path / "runs-live.png")
        press(
            page,
            page.get_by_role("button", name="Stop"),
            lambda: Store(home).get_run(first["id"])["status"] == "stopped",
            "the run to stop",
        )
        page.get_by_role("button", name="Resume").wait_for()
        shot(page, tmp_path / "runs-stopped.png")

        # -------------------------------------------------------------- Compare
        wait_for(
            lambda: len(Store(home).steps(second["id"])) >= 5,
            90,
            "the second run to record steps",
        )
        nav(page, "Compare")
        for run in runs:  # no group tag: the newest runs are chosen; legends name them
            page.get_by_text(f"{run['name']} · {run['id']}").first.wait_for()
        page.get_by_role("button", name="Download data (CSV)").wait_for()
        shot(page, tmp_path / "compare.png")
        assert page.locator(".js-plotly-plot").count() >= 5  # 3 overlays, bars, heatmaps

        # -------------------------------------------------------------- Design: ramp
        # the calibrated default (ramp): its warm-up trained here, then drawn as a run
        nav(page, "Design")
        page.get_by_role("heading", name="Design a target temperature curve").wait_for()
        page.get_by_label("Preset", exact=True).click()
        page.get_by_role("option", name="Calibrated default").click()
        press(
            page,
            page.get_by_role("button", name="Train the warm-up"),
            lambda: shown(page, re.compile(r"calibrated T_start = [\d.]+ bits")),
            "the warm-up to be trained",
            timeout=180,
        )
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        trained, total = map(
            int, re.search(r"the first (\d+) of the run's (\d+) steps", sidebar).groups()
        )
        press(
            page,
            page.get_by_role("button", name="Use this preset"),
            lambda: shown(page, re.compile(r"The first \d+% is the warm-up's linear rate")),
            "the preset to be in use",
        )
        # the same numbers wherever the page names the warm-up, and one law in use
        page.get_by_text(f"the scan after step {trained} of {total}").first.wait_for()
        # exactly one, once the rerun has replaced the page's stale elements (read mid-rerun
        # the old and the new line were both there once, in CI)
        wait_for(lambda: page.get_by_text("← in use").count() == 1, 30, "one law in use")
        shot(page, tmp_path / "design-ramp.png")


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_store_deleted_under_the_open_dashboard(app_url, tmp_path: Path):
    """The store folder is deleted (``shutil.rmtree``, as a user would) while the Runs page is
    open and polling it: the removal succeeds (the app writes nothing into the folder while
    it goes), the page says so on its own, shows an empty store (no traceback), and the
    sidebar's counts follow the store on their own."""
    import shutil

    from tests.app.seed import seed_run

    url, home = app_url
    run_id = seed_run(Store(home), "onecycle")
    with browser_page(tmp_path, 1440, 1000) as page:
        page.goto(url)
        nav(page, "Runs")
        page.get_by_text(run_id, exact=False).first.wait_for()
        wait_for(lambda: "1 runs" in sidebar_text(page), 30, "the sidebar to count the run")

        shutil.rmtree(home)  # as a user would, the app open and polling the store
        page.get_by_text(  # the app notices on its own: no click
            re.compile(r"was deleted or replaced while the dashboard was open")
        ).first.wait_for()
        page.get_by_text("No runs yet").first.wait_for()
        nav(page, "Compare")
        page.get_by_text("No runs to compare yet").first.wait_for()
        nav(page, "Runs")
        page.get_by_text("No runs yet").first.wait_for()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert (home / "catalog.duckdb").exists()  # an empty store in its place
        shot(page, tmp_path / "store-deleted.png")

        # the sidebar follows the store without any interaction
        store = Store(home)
        queued = store.create_run({"model": "convnet4"}, name="waiting", status="queued")
        wait_for(
            lambda: "1 runs (1 queued)" in sidebar_text(page),
            30,
            "the sidebar to count the queued run",
        )

        def picker() -> str:  # the chosen option, however the select box renders it
            return page.locator('[data-testid="stSelectbox"]').first.evaluate(
                "e => e.textContent + ' ' + [...e.querySelectorAll('input')]"
                ".map(i => i.value).join(' ')"
            )

        wait_for(lambda: f"{queued} · queued" in picker(), 30, "the run picker to show the new run")
        store.update_run(queued, status="finished")
        wait_for(
            lambda: "1 runs" in sidebar_text(page) and "queued" not in sidebar_text(page),
            30,
            "the sidebar to drop the finished run from 'queued'",
        )
        wait_for(
            lambda: f"{queued} · finished" in picker(),
            30,
            "the run picker to show the run's new status",
        )
        assert page.locator('[data-testid="stException"]').count() == 0


def overlap(a: dict | None, b: dict | None) -> bool:
    """Whether two bounding boxes (Playwright's x, y, width, height) intersect."""
    if not a or not b:
        return False
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def legends_clear(page) -> int:
    """Check that no chart's legend covers its title or its x axis's title, on the page
    shown; return how many legends there are."""
    plots = page.locator(".js-plotly-plot")
    legends = 0
    for i in range(plots.count()):
        plot = plots.nth(i)
        plot.scroll_into_view_if_needed()
        titles = [t.bounding_box() for t in plot.locator(".gtitle, .xtitle").all()]
        for legend in plot.locator("g.legend").all():
            legends += 1
            box = legend.bounding_box()
            assert not any(overlap(box, title) for title in titles), f"plot {i}: {titles}"
    return legends


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_charts_stay_readable_with_six_runs_at_1280_pixels(app_url, tmp_path: Path):
    """The demo's six runs (three seeds of two schedules) on a 1280-pixel screen: no legend
    covers a chart's title, log axes name the decade of every tick, and the Runs page's table
    of scan fits shows every column without scrolling sideways."""
    from tests.app.seed import seed_run

    url, home = app_url
    store = Store(home)
    for schedule in ("actcool", "onecycle"):
        for seed in (0, 1, 2):
            seed_run(store, schedule, seed=seed, tags=("demo",), name=f"demo-{schedule}-s{seed}")
    with browser_page(tmp_path, 1280, 900) as page:
        page.goto(url)
        nav(page, "Compare")
        page.get_by_text("Final test error by schedule").first.wait_for()
        plots = page.locator(".js-plotly-plot")
        wait_for(lambda: plots.count() >= 4 + 6, 60, "the overlays and six heatmaps")
        shot(page, tmp_path / "compare-six.png")
        assert legends_clear(page) >= 3
        lr = plots.filter(has_text="Learning rate").first
        ticks = lr.locator(".ytick text").evaluate_all("els => els.map(e => e.textContent)")
        assert ticks and all(t == "1" or "10" in t for t in ticks), ticks

        nav(page, "Runs")
        page.get_by_role("heading", name="Response models of one scan").wait_for()
        grid = page.locator('[data-testid="stDataFrame"]').last
        grid.scroll_into_view_if_needed()
        scroller = grid.locator(".dvn-scroller").first
        scroller.wait_for()
        sizes = scroller.evaluate("e => [e.scrollWidth, e.clientWidth]")
        shot(page, tmp_path / "runs-1280.png")
        assert legends_clear(page) >= 4  # temperature, errors, LR scans, fits, one scan
        assert sizes[0] <= sizes[1] + 1, sizes  # no sideways scrolling
        assert page.locator('[data-testid="stException"]').count() == 0


TRACKED_SCRIPT = """
import sys, time
import torch
from torch import nn
import actcool

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
with actcool.track(model, optimizer, home=sys.argv[1], name="my-script", measure_every=5) as run:
    for step in range(100_000):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.step(loss=loss)
        if run.stop_requested:
            break
        time.sleep(0.05)  # a slower model's step
"""


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_tracked_script_is_watched_live_and_stopped_from_the_runs_page(app_url, tmp_path):
    """A user's own loop recorded with ``actcool.track`` in another process: the Runs page
    shows it while it trains (its source, steps that grow), Stop asks the script, the script
    acknowledges at its next step and ends the run as stopped, and Resume is not offered."""
    url, home = app_url
    script = tmp_path / "train_mine.py"
    script.write_text(TRACKED_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = open(tmp_path / "script.log", "wb")
    process = subprocess.Popen(
        [sys.executable, str(script), str(home)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: len(Store(home).list_runs()) == 1, 60, "the script's run to appear")
        (run_id,) = Store(home).list_runs()["id"]
        with browser_page(tmp_path, 1440, 1000) as page:
            page.goto(url)
            nav(page, "Runs")
            page.get_by_text(re.compile(r"recorded by script .*train_mine\.py")).first.wait_for()
            wait_for(lambda: steps_done(page) > 0, 90, "the tracked run's steps on the page")
            before = steps_done(page)
            wait_for(lambda: steps_done(page) > before, 60, "the step count to grow")
            shot(page, tmp_path / "tracked-live.png")
            press(
                page,
                page.get_by_role("button", name="Stop"),
                lambda: process.poll() is not None,
                "the script to end its run",
            )
            assert process.returncode == 0
            run = Store(home).get_run(run_id)
            assert run["status"] == "stopped" and run["summary"]["stop_acknowledged_step"] > 0
            page.reload()
            nav(page, "Runs")
            acknowledged = run["summary"]["stop_acknowledged_step"]
            page.get_by_text(f"Stopped by its script at step {acknowledged:,}").first.wait_for()
            assert page.get_by_role("button", name="Resume").count() == 0
            shot(page, tmp_path / "tracked-stopped.png")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()
