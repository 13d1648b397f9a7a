"""The website under gunicorn, started with the exact command and environment of
`make run` (devstack.launcher), in headless Chromium. The generator and votes
services are small fakes on real gRPC servers here, so this test pins down the
website alone; test_stack_browser.py runs the same journey on the real stack."""
from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from devstack.launcher import Ports, base_env, service_specs, wait_for_http
from devstack.servers import free_port
from tests.support.browser import DESKTOP, PHONE, browser, readme_screenshot, screenshot
from tests.support.web_fakes import FakeBackends

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def site(tmp_path_factory, redis_server):
    fakes = FakeBackends()
    fakes.generator.piece_delay_s = 0.0
    ports = Ports(web=free_port(), generator=fakes.generator_server.port, votes=fakes.votes_server.port,
                  web_metrics=free_port())
    spec = next(s for s in service_specs(ports, "postgresql://unused",
                                         redis_server.url, Path("unused"), "e2e-secret") if s.name == "web")
    env = {**base_env(), **spec.env, "WEB_WORKERS": "2", "WEB_THREADS": "4", "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(spec.argv, env=env, cwd=Path(__file__).resolve().parents[2],
                               start_new_session=True)
    url = f"http://127.0.0.1:{ports.web}"
    try:
        wait_for_http(url + "/healthz", 60, process)
        yield url, fakes, ports
    finally:
        process.terminate()
        process.wait(20)
        fakes.stop()


def test_journey_in_chromium(site, monkeypatch):
    url, fakes, _ = site
    with browser() as chromium:
        context = chromium.new_context(viewport=DESKTOP)
        page = context.new_page()
        errors = []  # script errors and missing assets; expected 404/503 documents are not errors
        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if "/static/" in r.url and r.status >= 400 else None)

        # Make Random lands on a song page (the pick comes from the pool; empty here -> any id)
        page.goto(url + "/")
        assert re.search(r"/song/\d+(\?fallback=random)?$", page.url)
        assert page.locator("h1.song-title").inner_text().startswith("Song of")
        page.goto(url + "/song/2024")
        assert page.locator("h1.song-title").inner_text() == "Song of 24"
        assert "I counted to 2024" in page.locator(".lyrics").inner_text()
        vote_frame = page.frame_locator("iframe.vote-frame")
        vote_frame.get_by_text("Sign in to vote").wait_for()
        page.locator("[data-melody-ready]").wait_for()  # the picture shows the score, every time
        screenshot(page, "song-desktop")
        assert readme_screenshot(page).stat().st_size > 10_000, "the README's song page"

        # Share: without the Web Share API the link is copied
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        page.click("[data-share]")
        page.get_by_text("Link copied").wait_for()

        # Sign in to vote -> register -> back to the song
        vote_frame.get_by_text("Sign in to vote").click()
        page.wait_for_url(re.compile(r"/auth/login\?next="))
        screenshot(page, "sign-in")
        page.click("text=Create an account")
        page.fill("input[name=username]", "dora")
        page.fill("input[name=password]", "a long password")
        page.fill("input[name=password2]", "a long password")
        screenshot(page, "register")
        page.click("button:has-text('Create account')")
        page.wait_for_url(url + "/song/2024")
        page.locator("[data-account].is-signed-in").wait_for()
        assert page.locator("[data-account]").inner_text() == "dora"

        # Vote up inside the widget
        vote_frame.locator("button.vote-up").click()
        vote_frame.get_by_text("You voted up.").wait_for()
        assert vote_frame.locator("[data-up]").inner_text() == "1"
        screenshot(page, "song-voted")

        # Top 10 and My votes
        page.click("nav >> text=Top 10")
        page.wait_for_url(url + "/top")
        assert page.locator(".chart-title").first.inner_text() == "Song of 24"
        screenshot(page, "top")
        page.click("nav >> text=My votes")
        page.wait_for_url(url + "/my/votes")
        assert page.locator(".chart-title").first.inner_text() == "Song of 24"
        screenshot(page, "my-votes")

        # Sign out
        page.click("button:has-text('Sign out')")
        page.wait_for_load_state()
        page.goto(url + "/my/votes")
        assert "/auth/login" in page.url

        # Errors look like the site
        page.goto(url + "/song/not-a-number")
        assert page.locator("h1").inner_text() == "No such song"
        screenshot(page, "not-found")

        # A slow song is watched being written, then the finished page replaces it
        fakes.generator.piece_delay_s = 0.5
        page.goto(url + "/song/777", wait_until="commit")
        page.locator(".pill", has_text="being written").wait_for()
        page.locator(".lyrics-writing").wait_for()
        screenshot(page, "writing")
        page.locator("h1.song-title").get_by_text("Song of 777").wait_for(timeout=15000)
        page.locator(".song:not(.song-writing)").wait_for(timeout=15000)
        fakes.generator.piece_delay_s = 0.0

        # Generator down: friendly 503
        fakes.generator.down = True
        response = page.goto(url + "/song/31415926")
        assert response.status == 503
        screenshot(page, "unavailable")
        fakes.generator.down = False
        assert page.goto(url + "/song/2024").status == 200
        assert not errors, errors

        # Phone
        phone = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        mobile = phone.new_page()
        mobile.goto(url + "/song/2024")
        screenshot(mobile, "song-phone")
        mobile.goto(url + "/top")
        screenshot(mobile, "top-phone")
        width = mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the page must not scroll sideways on a phone"


def test_metrics_sum_every_gunicorn_worker(site):
    """prometheus-client multiprocess mode: one scrape of the master's metrics port
    covers both workers; the public port has no /metrics."""
    url, _, ports = site
    for _ in range(20):  # spread over both workers
        urllib.request.urlopen(url + "/privacy", timeout=5).read()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url + "/metrics", timeout=5)
    refused.value.close()
    assert refused.value.code == 404
    body = urllib.request.urlopen(f"http://127.0.0.1:{ports.web_metrics}/metrics", timeout=5).read().decode()
    line = next(line for line in body.splitlines()
                if line.startswith('web_http_requests_total{endpoint="pages.privacy",method="GET",status="200"}'))
    assert float(line.split()[-1]) >= 20


def test_song_tune_in_chromium(site):
    """The score is drawn, Play sounds (an AudioContext running) and lights the first
    line's words one after another in order; Pause suspends the sound, Play goes on
    with the next word."""
    url, _, _ = site
    with browser() as chromium:
        page = chromium.new_context(viewport=DESKTOP).new_page()
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/song/2024")
        page.locator("[data-melody-ready]").wait_for()
        score = page.locator("[data-melody-score] svg")
        assert score.count() >= 1 and score.first.bounding_box()["height"] > 50, "the score is drawn"
        assert page.locator("[data-melody-score] .abcjs-note").count() > 0
        melody = page.evaluate("fetch('/api/songs/2024/melody').then(r => r.json())")
        first_line = [i for i, w in enumerate(melody["words"]) if w["line"] == 0]
        assert [w.inner_text() for w in page.locator(".lyric-word").all()[:len(first_line)]] == \
            [melody["words"][i]["text"] for i in first_line]
        # every word the page lights, in order, as the page lights it
        page.evaluate("""() => {
            window.litWords = [];
            new MutationObserver(records => records.forEach(r => {
                if (r.target.classList.contains('is-sung')) window.litWords.push(Number(r.target.dataset.word));
            })).observe(document.querySelector('.lyrics'), {subtree: true, attributes: true,
                                                           attributeFilter: ['class']});
        }""")
        page.click("[data-melody-play]")
        # (functions, not strings: the page's CSP refuses eval)
        page.wait_for_function("last => window.litWords.includes(last)", arg=first_line[-1], timeout=30000)
        assert page.get_attribute(".melody", "data-audio") == "running"
        page.click("[data-melody-play]")  # pause
        page.wait_for_function("() => document.querySelector('.melody').dataset.audio === 'suspended'")
        assert page.evaluate("window.litWords")[:len(first_line)] == first_line
        screenshot(page, "song-playing")
        # paused on the first line's last word, the README's picture is the same every run
        if page.get_attribute(".lyric-word.is-sung", "data-word") == str(first_line[-1]):
            readme_screenshot(page, "song-score.png")
        assert page.locator("[data-melody-label]").inner_text() == "Play"
        lit = page.evaluate("window.litWords.length")
        page.click("[data-melody-play]")  # on from where it paused
        page.wait_for_function("n => window.litWords.length > n", arg=lit, timeout=30000)
        words_lit = page.evaluate("window.litWords")
        assert words_lit[lit] == words_lit[lit - 1] + 1, "the next word, none skipped"
        assert page.get_attribute(".melody", "data-audio") == "running"
        assert not errors, errors
