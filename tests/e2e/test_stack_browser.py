"""The whole stack, started as `make run` starts it (devstack.launcher.Stack: real
PostgreSQL and Redis, generator with a tiny random model, votes, pregen, web under
gunicorn), driven in headless Chromium: random song, song page, register, vote,
Top 10, My votes, sign out."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from devstack.launcher import ROOT, Ports, Stack, base_env, wait_for_http
from devstack.servers import free_port
from tests.support.browser import DESKTOP, browser, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]



@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("model") / "random"
    subprocess.run([sys.executable, "-m", "training.randommodel", str(model_dir)],
                   env=base_env(), cwd=ROOT, check=True, timeout=120)
    ports = Ports(web=free_port(), generator=free_port(), votes=free_port(), generator_metrics=free_port(),
                  votes_metrics=free_port(), pregen_metrics=free_port(), web_metrics=free_port())
    env = {
        # small and quick on a shared CPU: short songs, one worker each, cheap password hashing
        "GENERATOR_DEVICE": "cpu", "GENERATOR_WORKERS": "1", "GENERATOR_MAX_NEW_TOKENS": "64",
        "GENERATOR_THREADS": "1", "POOL_TARGET_SIZE": "8", "PREGEN_BATCH": "4",
        "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "1024", "ARGON2_PARALLELISM": "1",
        "WEB_WORKERS": "1", "WEB_THREADS": "4", "LOG_LEVEL": "WARNING",
    }
    running = Stack(tmp_path_factory.mktemp("stack"), ports, model_dir, env=env, restart=False)
    try:
        running.start()
        # The generator listens before its workers are warm; /readyz says when all is up.
        wait_for_http(running.url + "/readyz", timeout=120)
        yield running
    finally:
        running.stop()


def test_whole_stack_journey(stack):
    url = stack.url
    with browser() as chromium:
        page = chromium.new_context(viewport=DESKTOP).new_page()

        # Make Random: a song page (maybe written on the spot, then the finished page)
        page.goto(url + "/")
        page.locator(".song:not(.song-writing) h1.song-title").wait_for(timeout=60000)
        song_url = page.url.split("?")[0]
        assert re.search(r"/song/\d+$", song_url), page.url
        title = page.locator("h1.song-title").inner_text()
        assert title
        screenshot(page, "stack-song")

        # The same id is the same song (from the cache now), and the page is cacheable
        response = page.goto(song_url)
        assert response.status == 200 and "public" in response.headers["cache-control"]
        assert page.locator("h1.song-title").inner_text() == title

        # Register through the vote widget's sign-in link, come back, vote up
        frame = page.frame_locator("iframe.vote-frame")
        frame.get_by_text("Sign in to vote").click()
        page.wait_for_url(re.compile(r"/auth/login"))
        page.click("text=Create an account")
        page.fill("input[name=username]", "erin")
        page.fill("input[name=password]", "a long password")
        page.fill("input[name=password2]", "a long password")
        page.click("button:has-text('Create account')")
        page.wait_for_url(song_url)
        frame.locator("button.vote-up").click()
        frame.get_by_text("You voted up.").wait_for()

        # Top 10 (straight from the votes service) and My votes
        page.goto(url + "/top")
        assert title in page.locator(".chart").inner_text()
        screenshot(page, "stack-top")
        page.goto(url + "/my/votes")
        assert title in page.locator(".chart").inner_text()
        screenshot(page, "stack-my-votes")

        # Sign out
        page.click("button:has-text('Sign out')")
        page.wait_for_load_state()
        page.goto(url + "/my/votes")
        assert "/auth/login" in page.url
