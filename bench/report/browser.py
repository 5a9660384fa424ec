"""Open a report in a real headless Chromium and say what a reader would see.

    python -m bench.report.browser results/report/index.html [--screenshot page.png]

Uses Playwright (dev extra) driving the system's Chromium (Debian: `apt-get install chromium`,
/usr/bin/chromium); never Playwright's own browser download, which cannot work offline. Every
request that is not the page itself or a data: URI is blocked and recorded, so a report that
would fetch anything from elsewhere is caught even on a closed network.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: Flags for a closed network and a container: no sandbox (root), no GPU, nothing phoning home.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage")  # fmt: skip


def find_chromium() -> str | None:
    """$CELLBENCH_CHROMIUM, else /usr/bin/chromium, else chromium / chromium-browser on PATH."""
    for candidate in (os.environ.get("CELLBENCH_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_page(html: str | Path, screenshot: str | Path | None = None,
               chromium: str | None = None, width: int = 1280) -> dict:  # fmt: skip
    """Load `html` (a file) headless and return: console (list of (type, text) messages),
    errors (console errors and uncaught page errors), blocked (URLs the page tried to fetch),
    images (list of {alt, natural_width, decoded}), title, screenshot (PNG bytes of the full
    page), pixel_std (standard deviation of the screenshot's grey levels, 0 for a blank page),
    height (page height in CSS pixels)."""
    from playwright.sync_api import sync_playwright

    path = Path(html).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"html: {path} does not exist")
    executable = chromium or find_chromium()
    if executable is None:
        raise FileNotFoundError("chromium: not found; install it (Debian: apt-get install -y "
                                "chromium) or set CELLBENCH_CHROMIUM")  # fmt: skip
    url = path.as_uri()
    console, errors, blocked = [], [], []

    def route(request_route):
        request = request_route.request
        if request.url == url or request.url.startswith("data:"):
            request_route.continue_()
        else:
            blocked.append(request.url)
            request_route.abort()

    with sync_playwright() as driver, tempfile.TemporaryDirectory() as profile:
        # A fresh profile per check: no state from an earlier run, nothing left behind.
        context = driver.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS),
            viewport={"width": width, "height": 900},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.route("**/*", route)
            page.goto(url, wait_until="load")
            images = page.evaluate(
                """async () => Promise.all(Array.from(document.images).map(async (img) => {
                    let decoded = true;
                    try { await img.decode(); } catch (e) { decoded = false; }
                    return {alt: img.alt, natural_width: img.naturalWidth, decoded: decoded};
                }))"""
            )
            title = page.title()
            height = page.evaluate("document.documentElement.scrollHeight")
            png = page.screenshot(full_page=True)
        finally:
            context.close()
    errors = [f"console {kind}: {text}" for kind, text in console if kind == "error"] + errors
    if screenshot:
        Path(screenshot).write_bytes(png)
    return {"console": console, "errors": errors, "blocked": blocked, "images": images,
            "title": title, "screenshot": png, "pixel_std": _pixel_std(png),
            "height": height}  # fmt: skip


def _pixel_std(png: bytes) -> float:
    import numpy as np
    from PIL import Image  # Pillow comes with matplotlib

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(grey.std())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="report file (index.html)")
    parser.add_argument("--screenshot", type=Path, help="write a full-page PNG here")
    args = parser.parse_args(argv)
    result = check_page(args.html, args.screenshot)
    images = result["images"]
    broken = [i["alt"] for i in images if not (i["decoded"] and i["natural_width"] > 0)]
    print(
        f"{args.html}: title {result['title']!r}, {len(images)} images ({len(broken)} broken), "
        f"{len(result['errors'])} errors, {len(result['blocked'])} blocked requests, "
        f"page height {result['height']} px, screenshot grey std {result['pixel_std']:.1f}"
    )
    for line in result["errors"] + [f"blocked: {u}" for u in result["blocked"]] + [
            f"broken image: {b}" for b in broken]:  # fmt: skip
        print(f"  {line}")
    return 1 if result["errors"] or result["blocked"] or broken else 0


if __name__ == "__main__":
    sys.exit(main())
