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


def _serve(app):
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not instance.started and time.time() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", instance, thread


@pytest.fixture(scope="module")
def server(small_model):
    from whyrec.serve import create_app

    url, instance, thread = _serve(create_app({"shop": small_model}))
    yield url
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server_with_store(small_model, tmp_path_factory):
    from whyrec.serve import create_app

    store = tmp_path_factory.mktemp("dashboard") / "events.db"
    url, instance, thread = _serve(create_app({"shop": small_model}, store=store, api_key="k3y", slow_workers=0))
    yield url
    instance.should_exit = True
    thread.join(timeout=10)


def _browser(p):
    return p.chromium.launch(
        executable_path=_chromium(),
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    )


def _screenshot(page, name: str) -> None:
    """Save the page as docs/images/NAME.png when WHYREC_SCREENSHOTS names the folder (`make screenshots`)."""
    folder = os.environ.get("WHYREC_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"))


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
    expected = [r.label for r in support]
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
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
            "return {labels: d.node.label, names: d.node.customdata, targets: d.link.target, values: d.link.value}; }"
        )
        # every supporting reason flows into the item with its relevance, the evidence against into "against"
        # the right-hand nodes are named by the title and on hover, never across the flows
        assert drawn["labels"] == [*expected, *(r.label for r in against), "", ""]
        assert drawn["names"][-2:] == [why.item_name, "against"]
        assert drawn["values"] == pytest.approx(
            [r.relevance for r in support] + [-r.relevance for r in against], rel=1e-5
        )
        assert drawn["targets"] == [len(drawn["labels"]) - 2] * len(support) + [len(drawn["labels"]) - 1] * len(against)

        # the Sankey collapses to a layer's groups, which carry the same total as the reasons
        from whyrec.explain import layers

        kinds = layers(why, item_values=small_model.item_values_)["kind"]
        page.select_option("#sankey-layer", "kind")
        page.wait_for_function(
            "() => document.getElementById('sankey').data[0].node.customdata.includes('who you are')"
        )
        collapsed = page.evaluate("() => document.getElementById('sankey').data[0].node.customdata")
        values = page.evaluate("() => document.getElementById('sankey').data[0].link.value")
        assert collapsed[:-2] == [g.label for g in kinds if g.relevance > 0] + [
            g.label for g in sorted(kinds, key=lambda g: g.relevance) if g.relevance < 0
        ]
        assert sum(v if i < sum(g.relevance > 0 for g in kinds) else -v for i, v in enumerate(values)) == pytest.approx(
            why.relevance.sum(), rel=1e-5
        )
        page.select_option("#sankey-layer", "")

        page.click("#read-aloud")
        assert page.evaluate("() => window.__spoken") == [why.sentence()]

        # what would change it: the verified set, and the list without it
        page.wait_for_selector("#toggle-counterfactual:not([hidden])")
        assert page.text_content("#counterfactual") == found.sentence
        _screenshot(page, "dashboard")
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


def test_pick_an_item_and_watch_the_list_change(server_with_store, small_model):
    """The loop: the dashboard asks for the key, shows the history, posts "I'd pick this", and the
    list and the explanation refresh in place with what changed marked."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    fs = small_model.feature_space_
    user = next(fs.user_ids[u] for u in range(fs.n_users) if small_model.train_matrix_[u].nnz >= 3)
    history = [fs.item_names[i] for i in small_model.train_matrix_[fs.user_index([user])[0]].indices]
    with playwright_api.sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server_with_store + "/")
        page.wait_for_selector("#api-key-box:not([hidden])")  # the server requires a key: it is asked for
        page.fill("#api-key", "k3y")
        page.click("#save-api-key")
        page.fill("#user-input", str(user))
        page.click("#load-user")
        page.wait_for_selector("#recs li button.pick")
        assert sorted(page.locator("#history li").all_text_contents()) == sorted(history)
        before = page.locator("#recs li").evaluate_all("items => items.map(i => i.dataset.item)")
        # explain an item for which the pick will become a reason, then pick the first item
        from whyrec.explain import explain_pairs

        picked = before[0]
        picked_name = fs.item_names[fs.item_index([picked])[0]]
        old_bag = small_model.user_profiles(fs.user_index([user]))
        bag = small_model.with_history(old_bag, fs.item_index([picked]))
        expected = [str(i) for i in small_model.top_k(small_model.score(bag), 10, bag[:, : fs.n_items]).item_ids[0]]

        viewed = next(i for i in before[1:] if i in expected)
        page.locator("#recs li .name").nth(before.index(viewed)).click()
        page.wait_for_selector("#sankey .sankey")
        page.locator("#recs li button.pick").first.click()
        page.wait_for_function(
            "picked => ![...document.querySelectorAll('#recs li')].some(li => li.dataset.item === picked)", arg=picked
        )
        after = page.locator("#recs li").evaluate_all("items => items.map(i => i.dataset.item)")
        # the list the model gives for the history with the picked item added, changes marked
        assert after == expected
        assert page.locator("#recs .change.new").count() == len(set(after) - set(before))
        assert page.locator("#recs .change.up").count() == sum(
            before.index(i) > after.index(i) for i in after if i in before
        )
        page.wait_for_selector("#history li.event")
        assert picked_name in page.text_content("#history li.event")
        _screenshot(page, "dashboard-events")
        # the explanation of the item in view refreshes; reasons it did not have before are named
        new = explain_pairs(small_model, bag, fs.item_index([viewed]))[0]
        page.wait_for_function("s => document.getElementById('sentence').textContent === s", arg=new.sentence())
        ranked = new.top(500)
        position = next(n for n, r in enumerate(ranked) if r.name == f"item:{picked_name}")
        relevance = ranked[position].relevance
        text, numbers = page.text_content("#new-reason"), page.get_attribute("#new-reason", "title")
        assert text.startswith(f"Your pick {picked_name} now counts") and "item:" not in text
        assert (
            numbers
            == f"relevance {'+' if relevance >= 0 else ''}{relevance:.4f}, reason {position + 1} of {len(ranked)}"
        )
        browser.close()


@pytest.mark.parametrize("width", [360, 390, 420])
def test_the_dashboard_fits_a_phone(server, small_model, width):
    """At phone widths the page is one column: nothing runs off the right edge, labels included."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    user, _ = _user_with_a_counterfactual(small_model)
    with playwright_api.sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": width, "height": 844}, is_mobile=True, device_scale_factor=2)
        page.goto(server + "/")
        page.fill("#user-input", str(user))
        page.click("#load-user")
        page.wait_for_selector("#recs li")
        page.locator("#recs li").first.click()
        page.wait_for_selector("#sankey .sankey")
        page.wait_for_selector("#toggle-counterfactual:not([hidden])")
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        wide = page.evaluate(
            "w => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5)",
            width,
        )
        assert scroll <= width and not wide, (scroll, wide)
        icon = page.request.get(server + "/favicon.ico")
        assert icon.ok and "svg" in icon.headers["content-type"]
        browser.close()


def test_titles_are_shown_as_text_never_run(tmp_path):
    """A catalogue's titles are the user's data: markup in them is shown, not run, in every list."""
    import pandas as pd

    from whyrec.data import Dataset
    from whyrec.models import ItemKNN
    from whyrec.serve import create_app

    playwright_api = pytest.importorskip("playwright.sync_api")
    rng = np.random.default_rng(0)
    pairs = {(u, i) for u, i in zip(rng.integers(0, 40, 400), rng.integers(0, 12, 400), strict=True)}
    interactions = pd.DataFrame(sorted(pairs), columns=["user", "item"])
    hostile = '<img src=x onerror="window.__ran = 1">'
    titles = [f"{hostile} {i}" if i % 2 else f"Tom & Jerry <b>{i}</b>" for i in range(12)]
    items = pd.DataFrame({"item": range(12), "title": titles})
    model = ItemKNN().fit(Dataset.from_frames(interactions, items=items))
    url, instance, thread = _serve(create_app({"<b>shop</b>": model}))
    try:
        with playwright_api.sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/")
            page.fill("#user-input", "0")
            page.click("#load-user")
            page.wait_for_selector("#recs li")
            page.click("#builder summary")
            page.fill("#item-search", "Tom")
            page.wait_for_selector("#item-results li")
            page.locator("#recs li").first.click()
            page.wait_for_selector("#sankey .sankey")
            shown = page.locator("#recs .name").all_text_contents() + page.locator("#history li").all_text_contents()
            shown += page.locator("#item-results li").all_text_contents()
            assert page.evaluate("() => window.__ran") is None
            assert page.locator("#recs img, #history img, #item-results img, #recs b, #item-results b").count() == 0
            assert set(shown) & set(titles) and all(s.strip() in titles for s in shown), shown
            assert page.locator("#model option").all_text_contents() == ["<b>shop</b>"]
            browser.close()
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
