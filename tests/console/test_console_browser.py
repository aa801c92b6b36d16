"""Headless Chromium (Debian's package) through every page of the console, against local mode.

What each page shows is checked against the same API requests, signed by the test. Screenshots go to
a temporary directory (printed at the end of the module); TASKBEACON_UPDATE_SCREENSHOT=1 also writes
the README's docs/screenshots/console.png.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Setup

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]
DIMENSIONS = ("cluster", "service", "image", "availabilityZone", "launchType")

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: the browser tests need Debian's chromium (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Python package playwright is not installed")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("console-screenshots")
    yield folder
    print(f"\nconsole screenshots: {folder}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def context(browser: Any, setup: Setup) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(setup.console.url)  # the printed URL: trades the secret for the cookie, then back to /
    assert page.url == setup.console.origin + "/"
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    yield page
    page.close()
    assert problems == []  # no script error, no CSP violation, no failed request


def visit(page: Any, setup: Setup, fragment: str) -> None:
    act(page, lambda: page.goto(f"{setup.console.origin}/{fragment}"))


def act(page: Any, action: Any) -> None:
    """Do something that navigates, then wait until the page has finished that navigation."""
    before = (
        page.evaluate("document.body && document.body.dataset.done") if page.url != "about:blank" else None
    )
    action()
    done = f":not([data-done='{before}'])" if before else ""
    # No wait_for_function: it evaluates strings, which the console's CSP (no unsafe-eval) refuses.
    page.wait_for_selector(f"body[data-done]{done}", state="attached")


def rows(page: Any) -> list[str]:
    return list(page.locator("#results tbody tr").evaluate_all("rows => rows.map(r => r.dataset.taskId)"))


def ids(body: dict[str, Any]) -> list[str]:
    return [(item.get("task") or item)["taskId"] for item in body["items"]]


def test_overview_charts_match_the_summaries(page: Any, setup: Setup, shots: Path) -> None:
    visit(page, setup, "")
    assert page.title() == "Fleet overview · taskbeacon"
    for by in DIMENSIONS:
        expected = setup.api("/summary", by=by)
        bars = page.locator(f"svg[data-dimension={by}] a.bar").evaluate_all(
            "bars => bars.map(b => [b.dataset.group, Number(b.dataset.count)])"
        )
        assert bars == [[g["group"], g["running"]] for g in expected["groups"]], by
    total = setup.api("/summary", by="cluster")["total"]
    assert page.locator("#total strong").text_content() == str(total)
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    if os.environ.get("TASKBEACON_UPDATE_SCREENSHOT"):
        target = REPO / "docs" / "screenshots" / "console.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "overview.png", target)


def test_a_bar_opens_the_filtered_task_list(page: Any, setup: Setup) -> None:
    visit(page, setup, "")
    bar = page.locator("svg[data-dimension=cluster] a.bar").first
    cluster = bar.get_attribute("data-group")
    act(page, bar.click)
    assert page.evaluate("location.hash").startswith("#/tasks?")
    expected = setup.api("/tasks", cluster=cluster, status="RUNNING", limit=50)
    assert rows(page) == ids(expected)
    assert page.locator("#f-cluster").input_value() == cluster


def test_task_list_filters_paging_and_reload(page: Any, setup: Setup, shots: Path) -> None:
    visit(page, setup, "#/tasks?limit=5")
    first = setup.api("/tasks", limit=5)
    assert rows(page) == ids(first)
    page.screenshot(path=str(shots / "tasks.png"), full_page=True)
    act(page, lambda: page.click("#next-page"))
    second = setup.api("/tasks", limit=5, cursor=first["nextCursor"])
    assert rows(page) == ids(second)
    act(page, page.reload)  # the URL alone brings the same page back
    assert rows(page) == ids(second)
    act(page, lambda: page.click("#first-page"))
    assert rows(page) == ids(first)

    page.select_option("#f-launchType", "FARGATE")
    page.fill("#f-since", "24h")
    act(page, lambda: page.click("#apply"))
    hash_ = page.evaluate("location.hash")
    assert "launchType=FARGATE" in hash_ and "since=24h" in hash_
    fargate = setup.api("/tasks", launchType="FARGATE", limit=50)
    assert rows(page) == ids(fargate) and fargate["items"]
    assert {t["launchType"] for t in fargate["items"]} == {"FARGATE"}


def test_stale_tasks_are_marked(page: Any, setup: Setup) -> None:
    expected = setup.api("/tasks", limit=50)
    stale_id = expected["items"][1]["taskId"]

    def mark_stale(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        for item in body["items"]:
            item["stale"] = item["taskId"] == stale_id
        route.fulfill(response=response, json=body)

    page.route("**/api/tasks?*", mark_stale)
    visit(page, setup, "#/tasks")
    stale = page.locator("#results tbody tr.stale")
    assert stale.count() == 1
    assert stale.get_attribute("data-task-id") == stale_id
    assert stale.locator(".badge.stale").text_content() == "STALE"


CLASSIFIED = [
    ("10.0.1.10", None, "ip"),
    ("fd00::1", None, "ip"),
    ("2001:db8:0:0:0:0:2:1", None, "ip"),
    ("sha256:" + "ab" * 32, None, "imageDigest"),
    ("ab" * 32, None, "dockerId"),
    ("eni-0abc123def", None, "eni"),
    ("team=data", None, "tag"),
    ("team=data", "label", "label"),
    ("nginx:1.27", None, "image"),
    ("public.ecr.aws/nginx/nginx:1.27", None, "image"),
    ("app", None, "containerName"),
]


def test_the_search_box_recognises_each_kind(page: Any, setup: Setup) -> None:
    visit(page, setup, "#/search")
    for text, key_value, kind in CLASSIFIED:
        assert page.evaluate("([t, k]) => TaskBeacon.classify(t, k).kind", [text, key_value]) == kind, text
    now = 1_800_000_000_000
    assert page.evaluate("n => TaskBeacon.resolveTime('-2h', n)", now) == "2027-01-15T06:00:00Z"
    assert page.evaluate("n => TaskBeacon.resolveTime('1h30m', n)", now) == "2027-01-15T06:30:00Z"


def _search(page: Any, text: str, kind: str = "auto") -> None:
    page.fill("#q", text)
    page.select_option("#kind", kind)
    act(page, lambda: page.press("#q", "Enter"))


def test_search_pages_match_the_api(page: Any, setup: Setup, shots: Path) -> None:
    task = setup.api("/tasks", launchType="FARGATE", limit=1)["items"][0]
    container = task["containers"][0]
    ip = container["networks"][0]["ipv4Addresses"][0]
    visit(page, setup, "")

    _search(page, ip)
    assert page.evaluate("location.hash") == f"#/search?ip={ip}"
    assert rows(page) == ids(setup.api("/search", ip=ip, limit=50))
    assert page.locator("#results th").last.text_content() == "Held until"
    page.screenshot(path=str(shots / "search-ip.png"), full_page=True)

    _search(page, container["imageDigest"])
    assert rows(page) == ids(setup.api("/search", imageDigest=container["imageDigest"], limit=50))

    _search(page, container["image"])
    assert rows(page) == ids(setup.api("/search", image=container["image"], limit=50))

    _search(page, container["dockerId"], "dockerId")
    assert rows(page) == [task["taskId"]]

    key, value = next(iter(task["tags"].items()))
    _search(page, f"{key}={value}")
    assert rows(page) == ids(setup.api("/search", tag=f"{key}={value}", limit=50))
    act(page, lambda: page.click("#switch-kv"))  # the same k=v as a Docker label
    assert "label=" in page.evaluate("location.hash")
    labels = setup.api("/search", label=f"{key}={value}", limit=50)
    assert rows(page) == ids(labels) if labels["items"] else page.locator("#results-empty").is_visible()


def test_task_detail_shows_containers_networks_tags_and_history(page: Any, setup: Setup, shots: Path) -> None:
    visit(page, setup, "#/tasks?launchType=FARGATE")
    act(page, page.locator("a.task-link").first.click)
    task_id = page.evaluate("location.hash").removeprefix("#/task/")
    task = setup.api(f"/tasks/{task_id}")
    history = setup.api(f"/tasks/{task_id}/history", limit=50)
    assert page.locator("#title").text_content() == f"Task {task['taskId']}"
    names = page.locator("#containers-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.container)")
    assert names == [c["name"] for c in task["containers"]]
    shown_ips = page.locator("#networks-table tbody td:nth-child(3) a").all_text_contents()
    assert shown_ips == [ip for c in task["containers"] for n in c["networks"] for ip in n["ipv4Addresses"]]
    tags = page.locator("#tags-table tbody tr").evaluate_all(
        "rs => rs.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
    )
    assert dict(tags) == task["tags"]
    times = page.locator("#timeline > li").evaluate_all("ls => ls.map(l => l.dataset.at)")
    assert sorted(times, reverse=True) == times
    assert sorted(times) == sorted(item["at"] for item in history["items"])
    page.screenshot(path=str(shots / "task.png"), full_page=True)

    # A shared link to the task opens the same page in a new tab (the cookie is the browser's).
    other = page.context.new_page()
    act(other, lambda: other.goto(page.url))
    assert other.locator("#title").text_content() == f"Task {task['taskId']}"
    other.close()


def _focused(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
              const e = document.activeElement;
              const s = getComputedStyle(e);
              return {id: e.id, tag: e.tagName.toLowerCase(), cls: e.getAttribute('class') || '',
                      href: e.getAttribute('href') || '',
                      outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0};
            }"""
        )
    )


def _tab_to(page: Any, matches: Any, limit: int = 60, *, back: bool = False) -> dict[str, Any]:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        focused = _focused(page)
        assert focused["outline"], f"no visible focus on {focused}"
        if matches(focused):
            return focused
    raise AssertionError("never reached by Tab")


def test_keyboard_alone(page: Any, setup: Setup, shots: Path) -> None:
    visit(page, setup, "")
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        focused = _focused(page)
        assert focused["outline"], f"no visible focus on {focused}"
        order.append(focused["id"] or focused["tag"])
    assert order == ["skip", "nav-overview", "nav-tasks", "q", "kind", "at", "search-go"]

    # A chart bar: Tab reaches it, Enter opens the list it stands for.
    _tab_to(page, lambda f: "bar" in f["cls"])
    page.screenshot(path=str(shots / "keyboard-bar-focus.png"))
    act(page, lambda: page.keyboard.press("Enter"))
    assert page.evaluate("location.hash").startswith("#/tasks?")
    assert _focused(page)["id"] == "title"  # focus moves to the new page's heading

    # The filters, then a task: Enter opens it.
    _tab_to(page, lambda f: f["id"] == "f-cluster")
    _tab_to(page, lambda f: "task-link" in f["cls"])
    act(page, lambda: page.keyboard.press("Enter"))
    assert page.evaluate("location.hash").startswith("#/task/")
    page.screenshot(path=str(shots / "keyboard-task.png"))

    # Back up to the search box, Enter searches.
    _tab_to(page, lambda f: f["id"] == "q", back=True)
    page.keyboard.type("team=data")
    act(page, lambda: page.keyboard.press("Enter"))
    assert page.evaluate("location.hash") == "#/search?tag=team%3Ddata"

    # The skip button jumps past the header.
    _tab_to(page, lambda f: f["id"] == "skip", back=True)
    page.keyboard.press("Enter")
    assert _focused(page)["id"] == "title"


def test_without_the_cookie_nothing_loads(browser: Any, setup: Setup) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(setup.console.origin + "/#/tasks")
        assert response.status == 403
        assert "printed" in page.content()
        response = page.goto(setup.console.origin + "/?secret=wrong")
        assert response.status == 403
    finally:
        context.close()
