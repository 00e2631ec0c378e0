"""The web page in real Chromium (headless, Playwright) against a real server and catalog."""

from __future__ import annotations

import base64
import csv
import io
import sqlite3
from pathlib import Path

import httpx
import pytest
from serve_helpers import RangeLog, build_library, cuefinder, served_in_thread

from cuefinder.serve import create_app

pytestmark = pytest.mark.slow  # not in `make test-fast`

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, music_root) -> Path:
    folder = build_library(
        tmp_path_factory.mktemp("browser") / "library",
        [
            next((music_root / "funnyboat").glob("*.ogg")),
            *sorted((music_root / "scorched3d-data").glob("*.ogg")),
            *sorted((music_root / "abe-data").glob("*.ogg")),
        ],
    )
    db = folder.parent / "catalog.db"
    cuefinder("--catalog", db, "index", "-q", folder)
    return db


@pytest.fixture(scope="module")
def site(catalog):
    """(base URL, the log of every request's path and Range header)."""
    watched = RangeLog(create_app(catalog))
    with served_in_thread(watched) as url:
        yield url, watched


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(site[0])
    page.wait_for_function("document.getElementById('add-genre').options.length > 1")
    yield page
    context.close()
    assert not errors, errors  # no uncaught script errors on the page


def search(page, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_selector("#results .result")


def api_search(site, query: str) -> list[dict]:
    return httpx.get(site[0] + "/api/search", params={"q": query}).json()["results"]


def test_a_query_shows_ranked_results_with_bars_and_timelines(page, site):
    search(page, "funny adventure")
    cards = page.locator("#results .result")
    expected = api_search(site, "funny adventure")
    assert cards.count() == len(expected) == 6
    scores = [float(s) for s in page.locator("#results .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) == [round(r["score"], 3) for r in expected]
    assert page.locator("#chips .chip").all_inner_texts()[0].startswith("Comedy")
    assert cards.first.locator(".bar-row").count() == 2
    page.wait_for_function(
        "[...document.querySelectorAll('canvas.timeline')]"
        ".every(c => c.getAttribute('aria-label').startsWith('Segment scores over'))"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-search.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_a_weak_genre_in_the_query_shows_a_warning(page, site):
    """The built-in model ranks Mystery below chance on games it never heard: say so."""
    search(page, "mystery adventure")
    box = page.locator("#results-warnings")
    assert box.is_visible() and box.locator("li").count() == 1
    assert box.inner_text().startswith("Mystery: ROC-AUC")
    search(page, "adventure")  # a genre it ranks usefully: no warning left behind
    assert page.locator("#results-warnings").is_hidden()
    # each result says how well it fits, as the API does
    expected = api_search(site, "adventure")
    shown = page.locator("#results .fit").all_inner_texts()
    assert shown == [f"{r['fit_level']} fit {r['fit']:.2f}" for r in expected]


def test_play_starts_at_the_best_segment_and_plays(page, site):
    hits = api_search(site, "romance comedy")
    hit = next(h for h in hits if h["segment"]["start"] > 30)
    search(page, "romance comedy")
    before = len(site[1].seen)
    page.locator(f'.result[data-id="{hit["id"]}"] button.play').click()
    start = hit["segment"]["start"]
    page.wait_for_function(
        f"(() => {{ const a = document.getElementById('audio');"
        f" return !a.paused && a.readyState >= 2 && a.currentTime >= {start}; }})()",
        timeout=20_000,
    )
    first = page.evaluate("document.getElementById('audio').currentTime")
    page.wait_for_timeout(800)
    later = page.evaluate("document.getElementById('audio').currentTime")
    assert start <= first < later < start + 30
    ranged = [r for p, r in site[1].seen[before:] if p == f"/api/tracks/{hit['id']}/audio"]
    assert any(r and r.startswith("bytes=") for r in ranged), site[1].seen[before:]
    button = page.locator(f'.result[data-id="{hit["id"]}"] button.play')
    assert button.get_attribute("aria-pressed") == "true"
    button.click()  # pauses
    page.wait_for_function("document.getElementById('audio').paused")


def test_a_bad_query_shows_the_apis_message(page):
    page.fill("#q", "zombie romance")
    page.press("#q", "Enter")
    message = page.locator("#message")
    message.wait_for(state="visible")
    assert "unknown genre 'zombie'" in message.inner_text()
    assert "Genres: Action, Adventure" in message.inner_text()
    assert message.get_attribute("role") == "alert"


def test_the_page_works_from_the_keyboard(page):
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("scary")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .result")
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('play')"):
            break
    focused = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.className, s.outlineStyle, s.outlineWidth]; })()"
    )
    assert focused[0] == "play" and focused[1] != "none" and focused[2] != "0px"
    page.keyboard.press("Space")
    page.wait_for_function("!document.getElementById('audio').paused", timeout=20_000)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('audio').paused")


def test_chips_edit_the_query(page):
    search(page, "romance comedy")
    page.locator('.chip[data-genre="Comedy"] .chip-exclude').click()
    page.wait_for_function("document.getElementById('q').value === 'Romance:1 -Comedy:1'")
    page.wait_for_selector('.chip.excluded[data-genre="Comedy"]')
    page.locator('.chip[data-genre="Romance"] input[type="range"]').focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('q').value === 'Romance:1.1 -Comedy:1'")
    page.select_option("#add-genre", "Horror")
    page.wait_for_function("document.getElementById('q').value.endsWith(' Horror:1')")
    page.wait_for_selector('.chip[data-genre="Horror"]')
    page.locator('.chip[data-genre="Horror"] .chip-remove').click()
    page.wait_for_function("document.getElementById('q').value === 'Romance:1.1 -Comedy:1'")


def test_more_like_this(page, site):
    search(page, "action")
    first = page.locator("#results .result").first
    reference = int(first.get_attribute("data-id"))
    title = first.locator(".title").inner_text()
    first.locator("button.more").click()
    page.wait_for_function(
        "document.getElementById('results-heading').textContent.startsWith('Tracks like')"
    )
    assert title in page.locator("#results-heading").inner_text()
    ids = [
        int(i)
        for i in page.locator("#results .result").evaluate_all("n => n.map(x => x.dataset.id)")
    ]
    assert ids and reference not in ids


def test_dropping_a_reference_file_finds_tracks_like_it(page, transcoded):
    data = base64.b64encode(transcoded["mp3"].read_bytes()).decode()
    page.evaluate(
        """(data) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "clip.mp3", {type: "audio/mpeg"}));
            const drop = new DragEvent("drop", {dataTransfer: transfer, bubbles: true});
            document.body.dispatchEvent(drop);
        }""",
        data,
    )
    page.wait_for_function(
        "document.getElementById('results-heading').textContent === 'Tracks like “clip.mp3”'",
        timeout=30_000,
    )
    first = page.locator("#results .result").first
    assert "Funny Boat" in first.locator(".title").inner_text()  # the clip was cut from it


def test_a_shortlist_exports_as_csv_and_m3u(page, catalog):
    search(page, "adventure")
    cards = page.locator("#results .result")
    for n in (0, 1):
        cards.nth(n).locator("button.keep").click()
    assert page.locator("#shortlist .kept").count() == 2
    with page.expect_download() as done:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(done.value.path()).read_text())))
    with sqlite3.connect(catalog) as con:
        paths = {p for (p,) in con.execute("SELECT path FROM tracks")}
    assert len(rows) == 2 and all(r["path"] in paths and r["found_by"] == "adventure" for r in rows)
    assert float(rows[0]["segment_end"]) > float(rows[0]["segment_start"])
    with page.expect_download() as done:
        page.click("#export-m3u")
    lines = Path(done.value.path()).read_text().splitlines()
    assert lines[0] == "#EXTM3U" and lines[1].startswith("#EXTINF:") and lines[2] == rows[0]["path"]
    page.reload()  # kept in this browser
    page.wait_for_selector("#shortlist .kept")
    assert page.locator("#shortlist .kept").count() == 2
    page.click("#clear-shortlist")
    assert page.locator("#shortlist .kept").count() == 0


def shown_ids(page) -> list[int]:
    return [
        int(i)
        for i in page.locator("#results .result").evaluate_all("n => n.map(x => x.dataset.id)")
    ]


def test_keep_reject_refine_and_save_as_a_tag(page, site, catalog):
    """Keep two of a game's tracks, reject another game's, refine (live), save the marks as a
    tag, then search it from the query box."""
    with sqlite3.connect(catalog) as con:
        ids = {Path(p).name: i for i, p in con.execute("SELECT id, path FROM tracks")}
    kept = [ids["mix3_loop1.ogg"], ids["mix3_loop2.ogg"]]  # scorched3d's music
    rejected = ids["JDruid-Trip_on_the_Funny_Boat.ogg"]
    search(page, "adventure")
    before = shown_ids(page)
    assert before[0] == rejected and set(before[:2]).isdisjoint(kept)  # the kept ones rank low
    assert page.locator("#refine").is_disabled()
    for track in kept:
        page.locator(f'.result[data-id="{track}"] button.mark-kept').click()
    page.locator(f'.result[data-id="{rejected}"] button.mark-rejected').click()
    card = page.locator(f'.result[data-id="{kept[0]}"]')
    assert card.locator("button.mark-kept").get_attribute("aria-pressed") == "true"
    assert card.get_attribute("data-mark") == "kept"
    assert page.locator("#shortlist .kept").count() == 0  # marks are not the shortlist
    assert page.locator("#marks-summary").inner_text() == "2 kept · 1 rejected"
    page.locator("#refine").click()  # the page stays: no navigation, the list is replaced
    page.wait_for_function(
        "document.getElementById('results-heading').textContent === 'Refined: “adventure”'"
    )
    after = shown_ids(page)
    expected = httpx.post(
        site[0] + "/api/refine", json={"kept": kept, "rejected": [rejected], "q": "adventure"}
    ).json()["results"]
    assert after == [r["id"] for r in expected]
    assert rejected not in after and len(after) == len(before) - 1
    assert set(kept) <= set(after[:3])  # the kept tracks now lead (their game's third ties)
    assert all(before.index(k) >= 3 > after.index(k) for k in kept)
    for track in kept:  # their marks stay on the new cards
        button = page.locator(f'.result[data-id="{track}"] button.mark-kept')
        assert button.get_attribute("aria-pressed") == "true"
    labels = page.locator(f'.result[data-id="{after[0]}"] .bar-label').all_inner_texts()
    assert labels == ["Adventure", "like kept"]

    page.fill("#tag-name", "scary")  # a word the query language has: the API's message, inline
    page.click("#save-tag")
    result = page.locator("#tag-result")
    page.wait_for_function("document.getElementById('tag-result').textContent.includes('Horror')")
    assert "already means Horror" in result.inner_text()
    assert "error" in result.get_attribute("class") and page.locator("#message").is_hidden()
    page.fill("#tag-name", "loops")
    page.press("#tag-name", "Enter")
    page.wait_for_function("document.getElementById('tag-result').textContent.includes('loops')")
    assert result.inner_text().startswith("Saved tag “loops”: 2 examples, 1 not")
    assert "error" not in result.get_attribute("class")
    taught = httpx.get(site[0] + "/api/tags").json()
    assert [(t["name"], t["positives"], t["negatives"]) for t in taught] == [("loops", 2, 1)]
    page.wait_for_selector('#add-genre option[value="loops"]', state="attached")

    search(page, "#loops")
    page.wait_for_function(
        "document.getElementById('results-heading').textContent === 'Results for “#loops”'"
    )
    found = shown_ids(page)
    assert found == [r["id"] for r in api_search(site, "#loops")]
    loops = {i for name, i in ids.items() if name.startswith("mix3_loop")}
    assert set(found[:3]) == loops  # the tag's own game first, its untaught track too
    assert found[-1] == rejected
    assert page.locator("#chips .chip").all_inner_texts()[0].startswith("loops")


def test_a_corrected_genre_says_so_on_its_cards(page, site):
    top = api_search(site, "adventure")[0]
    response = httpx.post(site[0] + "/api/tags/Adventure", json={"not": [top["id"]]})
    assert response.json()["kind"] == "correction"
    try:
        search(page, "adventure")
        card = page.locator(f'.result[data-id="{top["id"]}"]')
        note = card.locator(".corrected").inner_text()
        assert note.startswith("Corrected: Adventure −0.") and card.locator(".bar-row").count() == 1
        assert page.locator("#results .result").first.get_attribute("data-id") != str(top["id"])
    finally:
        assert httpx.delete(site[0] + "/api/tags/Adventure").status_code == 204
