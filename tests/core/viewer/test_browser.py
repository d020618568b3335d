"""The viewer page in a real browser: Debian's Chromium driven by Selenium, on a real run folder.

`scripts/install_browser.sh` (run by the test command) installs chromium and chromium-driver; where
they are missing this module skips and says which binary is absent.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ajet_core import metrics as m
from ajet_core.metric_loggers.jsonl import read_metrics
from ajet_core.training.records import read_records

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed in this environment"
)
# E402 cannot hold here: these imports must come after the skip above, so that an environment
# without selenium skips this module instead of failing to collect it.
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# A panel re-rendered between finding an element and reading it: the wait tries again (it once
# failed a run here, reading a before/after column the page had just replaced).
RE_RENDERED = (StaleElementReferenceException,)

for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
    if not Path(binary).exists():
        pytest.skip(
            f"{binary} not found: install Debian's {package} (scripts/install_browser.sh)",
            allow_module_level=True,
        )


@pytest.fixture(scope="module")
def viewer_url(multi_turn_run, trained_run):
    # Two runs: the page overlays their reward curves (what `ajet compare` would give).
    yield from serve_viewer(multi_turn_run, trained_run)


@pytest.fixture(scope="module")
def tutorial_viewer_url(self_correction_run):
    yield from serve_viewer(self_correction_run)


def serve_viewer(*run_dirs: Path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ajet_core.cli.main",
            "view",
            *map(str, run_dirs),
            "--no-browser",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:
        url = next(line.split()[1] for line in process.stdout if line.startswith("open "))
        deadline = time.monotonic() + 120  # readiness: room for a loaded machine
        while True:
            try:
                httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the viewer never answered"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1500,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER)
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_page_shows_steps_episodes_token_strips_and_merge_links(
    browser, viewer_url, multi_turn_run
):
    wait = WebDriverWait(browser, 30, ignored_exceptions=RE_RENDERED)
    browser.get(viewer_url)
    steps = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#steps .step"))
    assert [s.get_attribute("data-step") for s in steps] == ["eval-0", "train-1", "train-2"]
    # Two runs, two overlaid reward curves.
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#curves polyline.curve")) == 2)

    browser.find_element(By.CSS_SELECTOR, '[data-step="train-2"]').click()
    wait.until(
        lambda d: (
            d.find_element(By.ID, "episodes-title").get_attribute("textContent")
            == "Episodes of train step 2"
        )
    )
    records = list(read_records(multi_turn_run / "records" / "train_step_000002.jsonl.gz"))
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr.episode-row"))
    assert [r.get_attribute("data-episode") for r in rows] == [r["episode_id"] for r in records]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#groups .group svg.histogram")) == 2

    record = records[0]
    rows[0].click()
    strip = wait.until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "#sample-0 .token-strip"))
    )
    tokens = strip.find_elements(By.CSS_SELECTOR, ".tok")
    sample = record["samples"][0]
    assert [int(t.get_attribute("data-id")) for t in tokens] == sample["input_ids"]
    classes = ["trained" if "trained" in t.get_attribute("class") else "masked" for t in tokens]
    assert classes == ["trained" if m else "masked" for m in sample["loss_mask"]]
    assert "masked" in classes and "trained" in classes

    # Merge links both ways: the sample names the calls it merged, each call names its sample.
    assert len(record["calls"]) == 3 and sample["call_ids"] == [
        c["call_id"] for c in record["calls"]
    ]
    to_calls = browser.find_elements(By.CSS_SELECTOR, "#sample-0 .merge-link")
    assert [link.get_attribute("data-call") for link in to_calls] == sample["call_ids"]
    for call in record["calls"]:
        box = f'[id="call-{call["call_id"]}"]'
        assert (
            browser.find_element(By.CSS_SELECTOR, f"{box} .merge-link").get_attribute("data-sample")
            == "0"
        )
        bubbles = browser.find_elements(By.CSS_SELECTOR, f"{box} .bubble")
        assert "reply" in bubbles[-1].get_attribute("class")
        assert call["reply"]["content"] in bubbles[-1].get_attribute("textContent")
    # Later calls show only their new messages: the earlier ones are the previous call's bubbles.
    later = browser.find_elements(By.CSS_SELECTOR, f'[id="call-{sample["call_ids"][1]}"] .bubble')
    new_messages = record["calls"][1]["messages"][len(record["calls"][0]["messages"]) + 1 :]
    assert len(later) == len(new_messages) + 1
    first_prompt = browser.find_element(
        By.CSS_SELECTOR, f'[id="call-{sample["call_ids"][0]}"] .bubble'
    )
    assert record["calls"][0]["messages"][0]["content"] in first_prompt.get_attribute("textContent")

    # Hover on a trained token shows its id, logprob, policy version and the advantage.
    first_trained = tokens[classes.index("trained")]
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})", first_trained
    )  # the pane scrolls, not the window
    webdriver.ActionChains(browser).move_to_element(first_trained).perform()
    tip = wait.until(ec.visibility_of_element_located((By.ID, "tooltip"))).text
    position = classes.index("trained")
    assert f"id        {sample['input_ids'][position]}" in tip
    assert f"{sample['old_logprobs'][position]:.4f}" in tip and f"{sample['advantage']:.4f}" in tip
    assert f"version   {sample['versions'][position]}" in tip

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "viewer_episode.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    browser.execute_script("document.getElementById('episode-pane').scrollTop = 0")
    browser.save_screenshot(
        str(ARTIFACTS / "viewer_conversation.png")
    )  # the chat bubbles of the calls

    to_calls[-1].click()  # a merge link jumps to (and highlights) its call
    wait.until(
        lambda d: (
            "highlight"
            in d.find_element(
                By.CSS_SELECTOR, f'[id="call-{sample["call_ids"][-1]}"]'
            ).get_attribute("class")
        )
    )
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # Filters and search go through the page too.
    search = browser.find_element(By.ID, "task-search")
    search.send_keys(record["task"]["task_id"])
    wait.until(
        lambda d: (
            all(
                r.text.startswith(record["task"]["task_id"])
                for r in d.find_elements(By.CSS_SELECTOR, "tr.episode-row")
            )
            and len(d.find_elements(By.CSS_SELECTOR, "tr.episode-row"))
            == sum(r["task"]["task_id"] == record["task"]["task_id"] for r in records)
        )
    )


def chart_points(browser, box: str) -> list[str]:
    """The hover titles of a chart's points ("<run> step <n>: <value>"), in drawing order."""
    return browser.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' circle title')]"
        ".map((t) => t.textContent)",
        box,
    )


def replies(column) -> list[str]:
    return [b.get_attribute("textContent") for b in column.find_elements(By.CSS_SELECTOR, ".reply")]


def test_tutorial_run_shows_reward_and_held_out_curves_and_one_task_before_and_after(
    browser, tutorial_viewer_url, self_correction_run
):
    wait = WebDriverWait(browser, 30, ignored_exceptions=RE_RENDERED)
    browser.get(tutorial_viewer_url)
    name = f"{self_correction_run.parent.name}/{self_correction_run.name}"
    rows = read_metrics(self_correction_run)

    # Both curves, point for point what metrics.jsonl holds: reward per training step, held-out
    # success before training (step 0) and after the last step.
    def expected(metric: str) -> list[str]:
        return [f"{name} step {r['step']}: {r[metric]:.4f}" for r in rows if metric in r]

    assert len(expected(m.EVAL_PASS_AT_1)) == 2 and len(expected(m.REWARD_MEAN)) == 2
    wait.until(lambda d: chart_points(d, "#heldout") == expected(m.EVAL_PASS_AT_1))
    assert chart_points(browser, "#curves") == expected(m.REWARD_MEAN)
    assert browser.find_elements(By.CSS_SELECTOR, "#heldout polyline.curve")
    assert browser.find_elements(By.CSS_SELECTOR, "#curves polyline.curve")

    # One held-out task at the first and the last evaluation, side by side: the whole
    # conversation of each, its three replies those the records hold.
    before = {
        r["task"]["task_id"]: r
        for r in read_records(self_correction_run / "records" / "eval_step_000000.jsonl.gz")
    }
    after = {
        r["task"]["task_id"]: r
        for r in read_records(self_correction_run / "records" / "eval_step_000002.jsonl.gz")
    }
    assert list(before) == list(after) and len(before) == 2
    changed = [t for t in before if before[t]["is_success"] != after[t]["is_success"]]
    box = wait.until(ec.visibility_of_element_located((By.ID, "before-after-box")))
    select = box.find_element(By.ID, "ba-task")
    options = [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")]
    assert sorted(options) == sorted(before)
    shown = (changed or list(before))[0]  # a task whose outcome training changed comes first
    assert select.get_attribute("value") == shown

    def columns_show(task: str) -> bool:
        cols = browser.find_elements(By.CSS_SELECTOR, "#before-after .ba-col")
        return [c.get_attribute("data-eval-step") for c in cols] == ["0", "2"] and [
            replies(c) for c in cols
        ] == [
            [f"assistant · reply{c['reply']['content'] or ''}" for c in side[task]["calls"]]
            for side in (before, after)
        ]

    wait.until(lambda d: columns_show(shown))
    assert all(len(side[shown]["calls"]) == 3 for side in (before, after))
    first_question = before[shown]["calls"][0]["messages"][0]["content"]
    assert first_question in box.find_element(By.CSS_SELECTOR, ".bubble.user").text
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "viewer_before_after.png"
    assert box.screenshot(str(shot)) and shot.stat().st_size > 10_000

    other = next(t for t in before if t != shown)
    Select(select).select_by_value(other)
    wait.until(lambda d: columns_show(other))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # A task that is not in both evaluations is a named 404, not an empty panel.
    api = f"{tutorial_viewer_url.rstrip('/')}/api/runs/0/before_after"
    answer = httpx.get(api, params={"task": "nope"}, timeout=30)
    assert answer.status_code == 404 and "'nope'" in answer.json()["error"]
