"""The dashboard as a person uses it: a real chromium, driven by playwright, against a live server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
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


def _user_with_a_counterfactual(model):
    """A user whose top recommendation has a counterfactual set of history items (n = 10)."""
    from whyrec.explain import counterfactual

    fs = model.feature_space_
    for user in range(fs.n_users):
        recs = model.recommend(fs.user_ids[user], k=1)
        found = counterfactual(model, model.user_profiles(np.array([user])), int(recs.items[0][0]), n=10)
        if found.verified and found.removed_items:
            return fs.user_ids[user], found
    pytest.fail("no user of the test model has a counterfactual")


def test_pick_user_click_recommendation_see_sankey(server, small_model, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    user, found = _user_with_a_counterfactual(small_model)
    first = small_model.recommend(user, k=1)
    from whyrec.explain import explain
    from whyrec.explain.edits import ProfileEdits

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
        # the browser's speech engine, replaced by a recorder (headless chromium has no voices)
        page.add_init_script(
            "window.__spoken = []; Object.defineProperty(window, 'speechSynthesis', {configurable: true, "
            "value: {speak: (u) => window.__spoken.push(u.text), cancel: () => {}}});"
        )
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

        page.click("#read-aloud")
        assert page.evaluate("() => window.__spoken") == [why.sentence()]

        # what would change it: the verified set, and the list without it
        page.wait_for_selector("#toggle-counterfactual:not([hidden])")
        assert f"would drop from rank {found.rank} to {found.new_rank}" in page.text_content("#counterfactual")
        before = page.locator("#recs li").evaluate_all("items => items.map(i => i.dataset.item)")
        page.click("#toggle-counterfactual")
        page.wait_for_function(
            "first => ![...document.querySelectorAll('#recs li')].some(li => li.dataset.item === first)",
            arg=str(first.item_ids[0][0]),
        )
        after = page.locator("#recs li").evaluate_all("items => items.map(i => i.dataset.item)")
        # the list the model gives without the set (the removed items still count as seen)
        fs = small_model.feature_space_
        bag = small_model.user_profiles(fs.user_index([user]))
        edits = ProfileEdits(small_model, bag)
        scores = small_model.score(edits.removal_bags(edits.mask(found.removed_tokens)))
        expected_after = [str(fs.item_ids[i]) for i in edits.top(scores, 10)]
        assert after == expected_after and after != before and str(first.item_ids[0][0]) not in after
        page.click("#toggle-counterfactual")  # put them back: the original list returns
        page.wait_for_function("n => document.querySelector('#recs li').dataset.item === n", arg=before[0])
        browser.close()
