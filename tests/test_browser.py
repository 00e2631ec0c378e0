"""The web page in real Chromium (headless, Playwright) against a real server and catalog."""

from __future__ import annotations

import base64
import csv
import io
import sqlite3
import time
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
    (folder / "broken.mp3").write_bytes(b"not audio at all" * 100)  # listed as failed
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
    # this query's answer, not the previous one still on the page
    page.wait_for_function(
        "([q]) => document.body.dataset.state === 'results' && "
        "document.getElementById('results-heading').textContent === `Results for “${q}”`",
        arg=[query.strip()],
    )
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
        "[...document.querySelectorAll('#results canvas.timeline')]"
        ".every(c => c.getAttribute('aria-label').startsWith('Waveform and segment scores over'))"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser-search.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_a_weak_genre_in_the_query_shows_a_warning(page, site):
    """The built-in model ranks Mystery below chance on games it never heard: say so."""
    search(page, "mystery adventure")
    box = page.locator("#results-warnings")
    items = [t for t in box.locator("li").all_inner_texts() if not t.startswith("no track fits")]
    assert box.is_visible() and len(items) == 1 and items[0].startswith("Mystery: ROC-AUC")
    search(page, "adventure")  # a genre it ranks usefully: no warning left behind
    assert page.locator("#results-warnings").is_hidden()
    # each result says how well it fits, as the API does
    expected = api_search(site, "adventure")
    shown = page.locator("#results .fit").all_inner_texts()
    assert shown == [f"{r['fit_level']} fit {r['fit']:.2f}" for r in expected]


def test_a_cue_length_fits_each_results_window(page, site):
    expected = httpx.get(site[0] + "/api/search", params={"q": "adventure", "length": 42}).json()
    page.fill("#cue-length", "0:42")
    search(page, "adventure")
    page.wait_for_function(
        f"document.querySelectorAll('#results .result').length === {len(expected['results'])}"
    )
    assert expected["results"]
    for r in expected["results"]:
        assert r["segment"]["end"] - r["segment"]["start"] == pytest.approx(42, abs=0.02)
    page.fill("#cue-length", "soon")
    page.press("#q", "Enter")
    page.wait_for_selector("#message:not([hidden])")
    assert 'Cue length: not a time: "soon"' in page.inner_text("#message")
    page.fill("#cue-length", "")


def test_a_word_that_names_a_track_finds_it_and_says_how_it_was_read(page):
    search(page, "jdruid")
    assert page.locator("#results .result").count() == 1
    assert "Trip on the Funny Boat" in page.inner_text("#results .result")
    assert page.inner_text("#results-note") == "1 track · name:jdruid"
    page.fill("#q", "zombie")
    page.press("#q", "Enter")
    page.wait_for_selector("#message:not([hidden])")
    assert "unknown genre 'zombie'" in page.inner_text("#message")


def test_the_api_docs_render_with_the_network_blocked(browser, site):
    """Swagger UI comes from files installed with the package: nothing leaves the machine."""
    context = browser.new_context()
    page = context.new_page()
    outside: list[str] = []

    def only_here(route):
        if route.request.url.startswith(site[0]):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", only_here)
    page.goto(site[0] + "/api/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    shown = page.locator(".opblock-summary-path").all_inner_texts()
    context.close()
    assert "/api/search" in shown and "/api/refine" in shown
    assert outside == []


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
    search(page, "action")  # an answer first: the error must not leave it standing
    page.fill("#q", "zombie romance")
    page.press("#q", "Enter")
    message = page.locator("#message")
    message.wait_for(state="visible")
    assert "unknown genre 'zombie'" in message.inner_text()
    assert "Genres: Action, Adventure" in message.inner_text()
    assert message.get_attribute("role") == "alert"
    assert page.locator("#results .result").count() == 0
    assert page.inner_text("#results-heading") == "Results"
    assert page.get_attribute("body", "data-state") == "error"


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


def test_keyboard_transport_and_help(page):
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("adventure")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .result")
    page.locator("#results-heading").click()  # out of the box: keys go to the transport
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator("#results .result").nth(1)
    assert "selected" in second.get_attribute("class")
    assert page.evaluate("document.activeElement.closest('.result') === "
                         "document.querySelectorAll('#results .result')[1]")  # fmt: skip
    page.keyboard.press("k")
    first = page.locator("#results .result").first
    assert "selected" in first.get_attribute("class")
    page.locator("#results-heading").click()
    page.keyboard.press(" ")  # plays the selected result
    page.wait_for_function("!document.getElementById('audio').paused", timeout=20_000)
    page.wait_for_function("document.getElementById('audio').currentTime > 0.2")
    before = page.evaluate("document.getElementById('audio').currentTime")
    page.keyboard.press("ArrowRight")
    after = page.evaluate("document.getElementById('audio').currentTime")
    assert after >= before + 4
    page.wait_for_selector("#results .result .playhead")  # drawn over the playing card
    page.keyboard.press("s")
    assert first.locator("button.mark-kept").get_attribute("aria-pressed") == "true"
    page.keyboard.press("?")
    assert page.locator("#keys-help").is_visible()
    page.keyboard.press("Escape")
    assert page.locator("#keys-help").is_hidden()
    # the chips keep their arrow keys (the transport leaves form controls alone)
    page.locator(".chip input[type='range']").first.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('q').value === 'Adventure:1.1'")


def test_a_compact_list_fits_twelve_results_on_a_laptop_screen(browser, site):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(site[0])
    page.wait_for_function("document.getElementById('add-genre').options.length > 1")
    page.check("#compact")
    search(page, "adventure")
    rows = page.locator("#results .result")
    first, last = rows.first.bounding_box(), rows.last.bounding_box()
    pitch = (last["y"] - first["y"]) / max(1, rows.count() - 1)
    player = page.locator(".player").bounding_box()["y"]  # the player covers the bottom
    fits = int((player - first["y"]) // pitch)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-compact.png"))
    count = rows.count()
    context.close()
    assert count >= 6 and fits >= 12, (pitch, first, player)


def test_results_play_their_window_once_or_looped(page, site):
    hit = next(h for h in api_search(site, "adventure") if h["segment"]["start"] > 5)
    search(page, "adventure")
    card = page.locator(f'#results .result[data-id="{hit["id"]}"]')
    page.select_option("#play-mode", "loop")
    card.locator("button.play").click()
    page.wait_for_function("!document.getElementById('audio').paused", timeout=20_000)
    end = hit["segment"]["end"]
    page.evaluate(f"document.getElementById('audio').currentTime = {end - 0.3}")
    page.wait_for_function(  # past the window's end it starts the window again
        f"(() => {{ const a = document.getElementById('audio');"
        f" return !a.paused && a.currentTime < {end - 5}; }})()",
        timeout=20_000,
    )
    assert (
        page.evaluate("document.getElementById('audio').currentTime") >= hit["segment"]["start"] - 1
    )
    page.select_option("#play-mode", "window")
    card.locator("button.play").click()  # pause
    card.locator("button.play").click()  # and from its start again, once
    page.evaluate(f"document.getElementById('audio').currentTime = {end - 0.3}")
    page.wait_for_function("document.getElementById('audio').paused", timeout=20_000)
    assert page.evaluate("document.getElementById('audio').currentTime") >= end - 0.5


def test_a_tracks_page_from_its_title(page, site):
    search(page, "adventure")
    first = page.locator("#results .result").first
    track_id = int(first.get_attribute("data-id"))
    first.locator("a.title").click()
    page.wait_for_url(f"{site[0]}/tracks/{track_id}")
    page.wait_for_selector("#track-view-similar li a")
    detail = httpx.get(f"{site[0]}/api/tracks/{track_id}").json()
    assert page.inner_text("#track-view-heading") == (detail["title"] or
                                                      Path(detail["path"]).stem)  # fmt: skip
    assert page.locator("#track-view-genres .bar-row").count() == len(detail["genres"])
    assert "Tempo" in page.inner_text("#track-view-facts")
    assert page.get_attribute("#track-view-timeline", "aria-label").startswith("Waveform")
    assert page.locator("#track-view-sounds li").count() == 10
    like = page.locator("#track-view-similar li a")
    assert f"/tracks/{track_id}" not in like.evaluate_all("n => n.map(a => a.getAttribute('href'))")
    page.click("#track-view-play")
    page.wait_for_function("!document.getElementById('audio').paused", timeout=20_000)
    like.first.click()  # another track's page
    page.wait_for_function(f"location.pathname !== '/tracks/{track_id}'")
    page.wait_for_selector("#track-view-similar li a")
    assert httpx.get(f"{site[0]}/tracks/99999").status_code == 404


def test_chips_edit_the_query(page):
    search(page, "romance comedy")
    page.locator('.chip[data-genre="Comedy"] .chip-exclude').click()
    page.wait_for_function("document.getElementById('q').value === 'Romance:1 -Comedy:1'")
    page.wait_for_selector('.chip.excluded[data-genre="Comedy"]')
    page.locator('.chip[data-genre="Romance"] input[type="range"]').focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.getElementById('q').value === 'Romance:1.1 -Comedy:1'")
    page.wait_for_selector("#results .result")
    page.wait_for_function("document.body.dataset.state === 'results'")
    # after the answer re-draws the chips, the weight keeps the focus and takes more keys
    assert page.evaluate("document.activeElement.closest('.chip')?.dataset.genre") == "Romance"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.getElementById('q').value === 'Romance:1 -Comedy:1'")
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
    # the query box and its chips no longer claim these results
    assert page.input_value("#q") == "" and page.locator("#chips .chip").count() == 0


def test_a_search_in_flight_disables_the_button_and_says_so(page):
    held = []
    page.route("**/api/search?*", lambda route: held.append(route))
    page.fill("#q", "action")
    page.press("#q", "Enter")
    page.wait_for_function("document.getElementById('search-button').disabled")
    assert page.inner_text("#results-heading") == "Searching…"
    assert page.get_attribute("#results", "aria-busy") == "true"
    held[0].continue_()
    page.wait_for_selector("#results .result")
    page.wait_for_function("!document.getElementById('search-button').disabled")
    assert page.get_attribute("#results", "aria-busy") == "false"


def test_failed_files_are_listed_from_the_header(page):
    box = page.locator("#failures")
    box.wait_for(state="visible")
    assert page.inner_text("#failures-count") == "1 failed"
    page.click("#failures-count")
    listed = page.inner_text("#failures-list")
    assert "broken.mp3" in listed and ":" in listed


def test_an_empty_catalog_says_how_to_index_a_folder(browser, tmp_path):
    empty = tmp_path / "music"
    empty.mkdir()
    app = create_app(tmp_path / "empty.db", index_roots=[empty])
    with served_in_thread(app) as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("document.getElementById('catalog-status').textContent")
        note = page.inner_text("#results-note")
        context.close()
    assert note.startswith("The catalog is empty: index a folder with the Index panel")


def test_duplicate_titles_are_told_apart_by_their_file_names(page):
    """Eleven tracks titled "Living Caves" in a brief: each shows its file name too."""
    names = page.evaluate(
        """async () => {
            const { nameAmong } = await import("/static/format.js");
            const tracks = [
                { title: "Living Caves", path: "/m/caves/cave1.ogg" },
                { title: "Living Caves", path: "/m/caves/cave2.ogg" },
                { title: "Trip", path: "/m/trip.ogg" },
                { title: null, path: "/m/untitled-cue.flac" },
            ];
            return tracks.map((t) => nameAmong(t, tracks));
        }"""
    )
    assert names == ["Living Caves · cave1.ogg", "Living Caves · cave2.ogg", "Trip", "untitled-cue"]


def test_the_page_fits_a_420_px_screen(browser, site):
    context = browser.new_context(viewport={"width": 420, "height": 800})
    page = context.new_page()
    page.goto(site[0])
    page.wait_for_function("document.getElementById('add-genre').options.length > 1")
    search(page, "adventure")
    page.wait_for_timeout(300)
    wide = page.evaluate(
        "[document.documentElement.scrollWidth, [...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > 421 && e.offsetParent !== null)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)]"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-420.png"), full_page=True)
    context.close()
    assert wide[0] <= 420, wide[1]


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


def brief_entries(page) -> list[int]:
    return [
        int(i)
        for i in page.locator("#brief-entries .brief-entry").evaluate_all(
            "n => n.map(x => x.dataset.entryId)"
        )
    ]


def create_brief(page, name: str) -> int:
    page.fill("#brief-new-name", name)
    page.press("#brief-new-name", "Enter")
    page.wait_for_selector("#brief-body:not([hidden])")
    page.wait_for_function(  # the panel shows before the status line says so
        f"document.getElementById('brief-status').textContent === 'Created “{name}”.'"
    )
    return int(page.locator("#brief-select").input_value())


def add_to_brief(page, card) -> None:
    before = page.locator("#brief-entries .brief-entry").count()
    card.locator("button.add-to-brief").click()
    page.wait_for_function(
        f"document.querySelectorAll('#brief-entries .brief-entry').length === {before + 1}"
    )


def eventually(check, timeout: float = 10) -> None:
    """Wait for the server to have what the page sent (``check`` returns true)."""
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "the change did not reach the server"
        time.sleep(0.05)


def test_a_brief_is_kept_on_the_server_and_exports_m3u(page, site, catalog, browser):
    """The shortlist that was in the browser is a brief in the catalog: another browser sees
    it, a reload reopens it, and its M3U plays each entry's window."""
    search(page, "adventure")
    cards = page.locator("#results .result")
    cards.nth(0).locator("button.add-to-brief").click()  # no brief chosen yet: say so
    page.wait_for_function("document.getElementById('brief-status').textContent !== ''")
    assert page.locator("#brief-status").inner_text().startswith("Choose or create a brief")
    assert "error" in page.locator("#brief-status").get_attribute("class")

    brief = create_brief(page, "Adventure picks")
    for n in (0, 1):
        add_to_brief(page, cards.nth(n))
    assert cards.nth(0).locator("button.add-to-brief").inner_text() == "In brief (1) · add again"
    assert cards.nth(2).locator("button.add-to-brief").inner_text() == "Add to brief"
    stored = httpx.get(f"{site[0]}/api/briefs/{brief}").json()["entries"]
    with sqlite3.connect(catalog) as con:
        paths = {p for (p,) in con.execute("SELECT path FROM tracks")}
    hits = api_search(site, "adventure")
    assert [e["track_id"] for e in stored] == [h["id"] for h in hits[:2]]
    assert all(e["path"] in paths for e in stored)
    assert [(e["start"], e["end"]) for e in stored] == [
        (h["segment"]["start"], h["segment"]["end"]) for h in hits[:2]
    ]
    with page.expect_download() as done:
        page.click("#brief-export-m3u")
    assert done.value.suggested_filename == "Adventure picks.m3u"  # filename*: the name as given
    lines = Path(done.value.path()).read_text().splitlines()
    assert lines[:2] == ["#EXTM3U", "#PLAYLIST:cuefinder: Adventure picks"]
    audio = f"{site[0]}/api/tracks/{stored[0]['track_id']}/audio"  # plays from this server
    assert lines[2].startswith("#EXTINF:") and lines[5] == audio
    assert lines[3] == f"#EXTVLCOPT:start-time={stored[0]['start']:.2f}"

    page.reload()  # this browser reopens the brief it worked on
    page.wait_for_selector("#brief-entries .brief-entry")
    assert brief_entries(page) == [e["id"] for e in stored]
    other = browser.new_context().new_page()  # another browser finds it in the picker
    try:
        other.goto(site[0])
        other.wait_for_selector(f'#brief-select option[value="{brief}"]', state="attached")
        other.select_option("#brief-select", str(brief))
        other.wait_for_selector("#brief-entries .brief-entry")
        assert other.locator("#brief-entries .brief-entry").count() == 2
    finally:
        other.context.close()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#brief-delete")
    page.wait_for_selector("#brief-body", state="hidden")
    # the body hides before the list is refreshed and the status set (briefs.js remove)
    page.wait_for_function(
        "document.getElementById('brief-status').textContent.startsWith('Deleted')"
    )
    assert page.locator("#brief-status").inner_text() == "Deleted “Adventure picks”."
    assert httpx.get(f"{site[0]}/api/briefs/{brief}").status_code == 404
    assert page.locator(f'#brief-select option[value="{brief}"]').count() == 0


def test_a_brief_is_built_edited_exported_and_shared(page, site, catalog, browser):
    import opentimelineio as otio

    from cuefinder.find.cuesheet import timecode

    url = site[0]
    brief = create_brief(page, "Reel 3 chase")
    page.fill("#brief-by", "Ana")
    page.press("#brief-by", "Tab")
    search(page, "action")
    hits = api_search(site, "action")[:4]
    for n in range(4):
        add_to_brief(page, page.locator("#results .result").nth(n))
    ids = brief_entries(page)

    def stored() -> list[dict]:
        return httpx.get(f"{url}/api/briefs/{brief}").json()["entries"]

    assert [e["track_id"] for e in stored()] == [h["id"] for h in hits]
    assert all(e["added_by"] == "Ana" for e in stored())
    entry = page.locator("#brief-entries .brief-entry")
    assert entry.nth(0).locator(".entry-start").input_value() == f"{hits[0]['segment']['start']:g}"
    assert entry.nth(0).locator(".entry-by").inner_text() == "added by Ana"

    page.locator(f'[data-entry-id="{ids[3]}"] .entry-remove').click()  # one too many
    page.wait_for_function("document.querySelectorAll('#brief-entries .brief-entry').length === 3")
    assert [e["id"] for e in stored()] == ids[:3]
    ids = ids[:3]

    notes = ["cold open, under the titles", "the bridge: hits on the cut", "tail out"]
    for n, note in enumerate(notes):
        entry.nth(n).locator(".entry-note").fill(note)
        entry.nth(n).locator(".entry-note").press("Enter")
    eventually(lambda: [e["note"] for e in stored()] == notes)
    duration = stored()[1]["duration"]
    entry.nth(1).locator(".entry-start").fill("10")
    entry.nth(1).locator(".entry-start").press("Tab")
    eventually(lambda: stored()[1]["start"] == 10)
    entry.nth(1).locator(".entry-end").fill("12.6")
    entry.nth(1).locator(".entry-end").press("Enter")
    eventually(lambda: stored()[1]["end"] == 12.6)
    assert entry.nth(1).locator(".entry-window").inner_text() == "0:10–0:13"
    entry.nth(2).locator(".entry-start").fill("3.2")
    entry.nth(2).locator(".entry-start").press("Enter")
    eventually(lambda: stored()[2]["start"] == 3.2)
    entry.nth(0).locator(".entry-start").fill(str(round(stored()[0]["duration"] + 50)))
    entry.nth(0).locator(".entry-start").press("Enter")  # past the end: the API's words
    page.wait_for_function("document.getElementById('brief-status').textContent.includes('past')")
    assert "is past the end of" in page.locator("#brief-status").inner_text()
    assert entry.nth(0).locator(".entry-start").input_value() == f"{hits[0]['segment']['start']:g}"
    assert stored()[0]["start"] == hits[0]["segment"]["start"] and duration > 12.6

    # reorder: the first down (by mouse), then the new last up (from the keyboard)
    page.locator(f'[data-entry-id="{ids[0]}"] .entry-down').click()
    page.wait_for_function(f"document.querySelector('#brief-entries .brief-entry')"
                           f".dataset.entryId === '{ids[1]}'")  # fmt: skip
    assert brief_entries(page) == [ids[1], ids[0], ids[2]]
    page.locator(f'[data-entry-id="{ids[0]}"] .entry-down').focus()
    page.keyboard.press("Enter")  # now last: its down button is disabled, focus goes to up
    page.wait_for_function(f"document.querySelector('#brief-entries .brief-entry:last-child')"
                           f".dataset.entryId === '{ids[0]}'")  # fmt: skip
    assert brief_entries(page) == [ids[1], ids[2], ids[0]]
    focused = page.evaluate(
        "[document.activeElement.className, document.activeElement.closest('li').dataset.entryId]"
    )
    assert focused == ["entry-up", str(ids[0])]
    order = [ids[1], ids[2], ids[0]]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-brief-panel.png"), full_page=True)
    assert [e["id"] for e in stored()] == order
    final = {e["id"]: e for e in stored()}

    httpx.post(f"{url}/api/briefs", json={"name": "Reel 4 love"})  # a taken name: the API says
    page.fill("#brief-name", "reel 4 LOVE")
    page.press("#brief-name", "Enter")
    page.wait_for_function("document.getElementById('brief-status').textContent.includes('exists')")
    assert page.locator("#brief-name").input_value() == "Reel 3 chase"

    with page.expect_download() as done:
        page.click("#brief-export-csv")
    assert done.value.suggested_filename == "Reel 3 chase.csv"
    rows = list(csv.DictReader(io.StringIO(Path(done.value.path()).read_text())))
    assert [r["note"] for r in rows] == [final[i]["note"] for i in order]
    assert [r["path"] for r in rows] == [final[i]["path"] for i in order]
    assert [(r["in (25 fps)"], r["out (25 fps)"]) for r in rows] == [
        (timecode(final[i]["start"]), timecode(final[i]["end"])) for i in order
    ]
    assert rows[0]["in (25 fps)"] == "00:00:10:00" and rows[0]["out (25 fps)"] == "00:00:12:15"
    assert rows[1]["in (25 fps)"] == "00:00:03:05"
    page.select_option("#brief-fps", "24")
    with page.expect_download() as done:
        page.click("#brief-export-otio")
    assert done.value.suggested_filename == "Reel 3 chase.otio"
    timeline = otio.adapters.read_from_file(done.value.path(), "otio_json")
    clips = list(timeline.tracks[0].find_clips())
    assert timeline.name == "cuefinder: Reel 3 chase"
    assert [c.metadata["cuefinder"]["note"] for c in clips] == [final[i]["note"] for i in order]
    assert [c.media_reference.target_url for c in clips] == [
        Path(final[i]["path"]).as_uri() for i in order
    ]
    first = clips[0].source_range
    assert first.start_time.rate == 24 and first.start_time.to_seconds() == 10
    assert first.end_time_exclusive().to_seconds() == pytest.approx(12.6, abs=1 / 24)

    # the same brief for an editor: an EDL at 29.97 drop frame and Final Cut Pro XML, both
    # read back by parsers
    import xml.etree.ElementTree as ET

    import pycmx

    page.select_option("#brief-fps", "29.97")
    with page.expect_download() as done:
        page.click("#brief-export-edl")
    assert done.value.suggested_filename == "Reel 3 chase.edl"
    edl = pycmx.parse_cmx3600(io.StringIO(Path(done.value.path()).read_text()))
    edits = [e.edits[0] for e in edl.events]
    assert [e.source_in for e in edits] == [timecode(final[i]["start"], "29.97") for i in order]
    assert [e.source_out for e in edits] == [timecode(final[i]["end"], "29.97") for i in order]
    assert edits[0].source_in == "00:00:10;00" and all(e.channels.audio for e in edits)
    with page.expect_download() as done:
        page.click("#brief-export-fcpxml")
    assert done.value.suggested_filename == "Reel 3 chase.fcpxml"
    fcp = ET.parse(done.value.path()).getroot()  # expat: a strict parser
    spine = fcp.findall("library/event/project/sequence/spine/asset-clip")
    assert fcp.find("library/event/project").get("name") == "Reel 3 chase"
    assert [c.find("marker").get("value") for c in spine] == [final[i]["note"] for i in order]
    assert spine[0].get("start") == "1001/100s"  # 10 s is 299.7 frames: frame 300, 10.01 s

    share = page.locator("#brief-share").get_attribute("href")
    assert share == f"/briefs/{brief}"
    assert page.locator("#brief-share-url").input_value() == url + share
    view = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    view.on("pageerror", lambda err: errors.append(str(err)))
    try:
        view.goto(url + share)
        view.wait_for_selector("#brief-view-entries .brief-view-entry")
        assert view.locator("#brief-view-heading").inner_text() == "Reel 3 chase"
        assert view.title() == "Reel 3 chase · cuefinder"
        items = view.locator("#brief-view-entries .brief-view-entry")
        assert items.evaluate_all("n => n.map(x => Number(x.dataset.entryId))") == order
        assert items.locator(".entry-note").all_inner_texts() == [final[i]["note"] for i in order]
        assert items.locator(".entry-by").all_inner_texts() == ["added by Ana"] * 3
        assert items.nth(0).locator(".entry-window").inner_text().startswith("0:10–0:13 of ")
        titles = [final[i]["title"] or Path(final[i]["path"]).stem for i in order]
        assert items.locator(".entry-title").all_inner_texts() == titles
        for editing in ("input", "textarea", "select", "form", ".entry-up", ".entry-remove"):
            assert view.locator(f"#brief-view {editing}").count() == 0, editing
        assert view.locator("#brief-panel").is_hidden() and view.locator("#q").is_hidden()
        exports = view.locator("#brief-view-exports a")
        assert exports.evaluate_all("n => n.map(a => a.getAttribute('href'))") == [
            f"/api/briefs/{brief}/export?format={f}&fps=25"
            for f in (
                "csv",
                "edl",
                "fcpxml",
                "xml",
                "otio",
                "markers",
                "markers-xml",
                "m3u",
                "xspf",
            )
        ]
        with view.expect_download() as done:
            exports.nth(0).click()
        assert (
            Path(done.value.path()).read_bytes()
            == httpx.get(url + exports.nth(0).get_attribute("href")).content
        )
        view.screenshot(path=str(ARTIFACTS / "browser-brief.png"), full_page=True)
        # its play button plays the in/out window: from 0:10, pausing at 0:12.6
        items.nth(0).locator("button.entry-play").click()
        view.wait_for_function(
            "(() => { const a = document.getElementById('audio');"
            " return a.paused && a.currentTime >= 12.5 && a.readyState >= 2; })()",
            timeout=40_000,
        )
        assert view.evaluate("document.getElementById('audio').currentTime") < 13.6
        assert "(from 0:10 to 0:13)" in view.locator("#now-playing").inner_text()
        assert not errors, errors
        missing = view.goto(url + "/briefs/99999")
        assert missing.status == 404
        view.wait_for_function(
            "document.getElementById('brief-view-heading').textContent === 'No such brief'"
        )
        assert "no brief 99999" in view.locator("#message").inner_text()
    finally:
        view.context.close()


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
    assert set(before[:2]).isdisjoint(kept)  # the kept ones do not lead
    assert page.locator("#refine").is_disabled()
    for track in kept:
        page.locator(f'.result[data-id="{track}"] button.mark-kept').click()
    page.locator(f'.result[data-id="{rejected}"] button.mark-rejected').click()
    card = page.locator(f'.result[data-id="{kept[0]}"]')
    assert card.locator("button.mark-kept").get_attribute("aria-pressed") == "true"
    assert card.get_attribute("data-mark") == "kept"
    assert page.locator("#brief-entries .brief-entry").count() == 0  # marks are not the brief
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
    # the kept tracks now lead, their game's third beside them, every other game below
    assert set(after[:3]) == {i for name, i in ids.items() if name.startswith("mix3_loop")}
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
