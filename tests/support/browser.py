"""Headless Chromium from Debian's package, driven by Playwright for Python
(never a downloaded browser build)."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# The song page the README shows (docs/images/), retaken by every browser run.
README_SCREENSHOT = ROOT / "docs" / "images" / "song-page.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError("Debian's chromium is not installed: run `bash tools/install-system-deps.sh`")
    return path


@contextlib.contextmanager
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def readme_screenshot(page, name: str = README_SCREENSHOT.name) -> Path:
    """A picture in the README (docs/images/``name``; by default the song page): the
    viewport, what a visitor sees first. Written only when the page looks different, so
    it stays current and an unchanged site leaves the checkout clean."""
    path = README_SCREENSHOT.parent / name
    png = page.screenshot()
    if not path.exists() or path.read_bytes() != png:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    return path
