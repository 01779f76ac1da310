"""The dashboard as a person uses it: a real chromium, driven by playwright, against a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.slow


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, capture_output=True)
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed and could not be installed with apt-get")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(small_model):
    import uvicorn

    from whyrec.serve import create_app

    port = _free_port()
    config = uvicorn.Config(create_app({"shop": small_model}), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not instance.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def test_pick_user_click_recommendation_see_sankey(server, small_model, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    fs = small_model.feature_space_
    user = fs.user_ids[0]
    first = small_model.recommend(user, k=1)
    from whyrec.explain import explain

    why = explain(small_model, user, first.item_ids[0][0])[0]
    support = [r for r in why.top(8) if r.relevance > 0]
    against = why.bottom(5)
    expected = [r.name for r in support]
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.goto(server + "/")
        page.fill("#user-input", str(user))
        page.click("#load-user")
        page.wait_for_selector("#recs li")
        assert page.locator("#recs li").first.get_attribute("data-item") == str(first.item_ids[0][0])
        page.locator("#recs li").first.click()
        page.wait_for_selector("#sankey .sankey")
        labels = page.locator("#sankey .node-label").all_text_contents()
        assert expected[0] in labels and set(expected) <= set(labels)
        assert page.text_content("#sentence") == why.sentence()
        drawn = page.evaluate(
            "() => { const d = document.getElementById('sankey').data[0]; "
            "return {labels: d.node.label, targets: d.link.target, values: d.link.value}; }"
        )
        # every supporting reason flows into the item with its relevance, the evidence against into "against"
        assert drawn["labels"] == [*expected, *(r.name for r in against), why.item_name, "against"]
        assert drawn["values"] == pytest.approx(
            [r.relevance for r in support] + [-r.relevance for r in against], rel=1e-5
        )
        assert drawn["targets"] == [len(drawn["labels"]) - 2] * len(support) + [len(drawn["labels"]) - 1] * len(against)
        browser.close()
