"""The README's screenshot of the page: a search with a cue length, and a brief of three cues.

Run against a server on the demo catalog (``make demo``, then ``cuefinder --catalog
~/.cache/cuefinder/demo/catalog.db serve``); it adds a brief named "Reel 3 chase" there.

    python docs/screenshot.py [--url http://127.0.0.1:8000] [-o docs/page.png]
"""

from __future__ import annotations

import argparse

import httpx
from PIL import Image
from playwright.sync_api import sync_playwright

NOTES = ("under the chase, from the cut to the car", "alt: darker", "if the scene runs long")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-o", "--output", default="docs/page.png")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    brief = httpx.post(f"{base}/api/briefs", json={"name": "Reel 3 chase"}).json()
    params = {"q": "adventure -comedy", "length": 42}
    hits = httpx.get(f"{base}/api/search", params=params).json()["results"]
    for hit, note in zip(hits, NOTES):
        httpx.post(f"{base}/api/briefs/{brief['id']}/entries",
                   json={"track": hit["id"], "start": hit["segment"]["start"],
                         "end": hit["segment"]["end"], "note": note, "by": "Ana"})  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=["--no-sandbox"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(base)
        page.evaluate(f"localStorage.setItem('cuefinder.brief', '{brief['id']}')")
        page.goto(base)
        page.wait_for_function("document.getElementById('add-genre').options.length > 1")
        page.fill("#cue-length", "0:42")
        page.fill("#q", params["q"])
        page.press("#q", "Enter")
        page.wait_for_selector("#results .result")
        drawn = ("[...document.querySelectorAll('#results canvas.timeline')]"
                 ".every(c => c.getAttribute('aria-label').startsWith('Waveform'))")  # fmt: skip
        page.wait_for_function(drawn)
        page.wait_for_timeout(800)
        page.screenshot(path=args.output)
        browser.close()
    small = Image.open(args.output).convert("RGB").quantize(colors=96)  # a small file
    small.save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
