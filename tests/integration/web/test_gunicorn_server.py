"""web's gunicorn, configured as in production (web/gunicorn_conf.py), around a
tiny WSGI app: gunicorn's own lines (boot, worker timeout, errors) are the same
JSON lines as the application's, with the request id where there is one;
`timeout` is a heartbeat (a request longer than it is not killed, a stuck worker
is); metrics are served by the master on METRICS_PORT, not on the public port."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from devstack.launcher import ROOT, base_env, wait_for_http
from devstack.servers import free_port

pytestmark = pytest.mark.timeout(120)

APP = '''
import logging, time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/broken-stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def body():
            yield b"first part"
            raise RuntimeError("the stream broke")
        return body()
    if path == "/sleep":
        time.sleep(float(environ["QUERY_STRING"]))
    if path == "/metrics":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not here"]
    logging.getLogger("probe").info("app line")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ.get("HTTP_X_REQUEST_ID", "").encode()]
'''


def get(url: str, headers: dict | None = None, timeout: float = 20) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def json_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    bad = [line for line in lines if not line.startswith("{")]
    assert not bad, f"lines that are not JSON: {bad[:5]}"
    return [json.loads(line) for line in lines]


def wait_for_line(path: Path, text: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in json_lines(path):
            if text in entry["msg"]:
                return entry
        time.sleep(0.2)
    raise AssertionError(f"no log line with {text!r}:\n{path.read_text()[-3000:]}")


@pytest.fixture
def gunicorn(tmp_path):
    (tmp_path / "probe_app.py").write_text(APP)
    port, metrics_port = free_port(), free_port()
    env = base_env()
    # the probe app is the only module not installed: gunicorn imports it from here
    env.update(PYTHONPATH=str(tmp_path), WEB_BIND=f"127.0.0.1:{port}", SECRET_KEY="probe",
               WEB_WORKERS="1", WEB_THREADS="4", METRICS_PORT=str(metrics_port), LOG_FORMAT="json",
               LOG_LEVEL="INFO", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    log = tmp_path / "web.log"
    with open(log, "ab") as out:
        # --timeout 2 on the command line (over the config's 30 s): the heartbeat test stays short
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:web.gunicorn_conf", "--timeout", "2",
             "probe_app:app"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/", 30, process)
        yield {"url": url, "metrics": f"http://127.0.0.1:{metrics_port}/metrics", "log": log, "process": process}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


def test_gunicorn_lines_are_json_with_request_ids(gunicorn):
    url, log = gunicorn["url"], gunicorn["log"]
    # every request gets an id before the app runs: the visitor's, else a new one
    assert get(url + "/", {"X-Request-ID": "visitor-id-1"}) == (200, b"visitor-id-1")
    status, body = get(url + "/")
    assert status == 200 and len(body) == 32
    # an error inside a request: gunicorn's own line carries the request's id
    with pytest.raises(Exception):  # noqa: B017 - the connection breaks mid-body
        get(url + "/broken-stream", {"X-Request-ID": "broken-stream-7"})
    error = wait_for_line(log, "Error handling request")
    assert error["request_id"] == "broken-stream-7" and error["level"] == "error"
    assert "the stream broke" in error["exc"]

    entries = json_lines(log)
    assert all(e["service"] == "web" and e["ts"] and e["level"] for e in entries)
    assert any("Listening at" in e["msg"] and e["logger"] == "gunicorn.error" for e in entries)
    assert any("Booting worker" in e["msg"] for e in entries)
    app_line = next(e for e in entries if e["msg"] == "app line" and e.get("request_id") == "visitor-id-1")
    assert app_line["logger"] == "probe"
    # gunicorn's boot lines belong to no request
    assert not any(e.get("request_id") for e in entries if "Booting worker" in e["msg"])


def test_timeout_is_a_heartbeat_not_a_request_limit(gunicorn):
    url, log, process = gunicorn["url"], gunicorn["log"], gunicorn["process"]
    # a request three times longer than the 2 s timeout is not killed: the worker heartbeats
    assert get(url + "/sleep?6", {"X-Request-ID": "slow-1"}) == (200, b"slow-1")
    assert not any("WORKER TIMEOUT" in e["msg"] for e in json_lines(log))
    # a worker that stops heartbeating (stuck) is killed and replaced, said in JSON
    worker = psutil.Process(process.pid).children()[0]
    worker.send_signal(signal.SIGSTOP)
    timeout_line = wait_for_line(log, "WORKER TIMEOUT")
    assert timeout_line["level"] == "critical" and str(worker.pid) in timeout_line["msg"]
    deadline = time.monotonic() + 30
    while get(url + "/")[0] != 200:
        assert time.monotonic() < deadline, "no new worker"
        time.sleep(0.2)


def test_metrics_come_from_the_master_on_their_own_port(gunicorn):
    status, body = get(gunicorn["metrics"])
    assert status == 200 and body is not None
    assert get(gunicorn["url"] + "/metrics")[0] == 404  # the app's port has none (here: the probe app's 404)
    line = wait_for_line(gunicorn["log"], "metrics on port")
    assert line["logger"] == "gunicorn.error"


def test_the_heartbeat_does_not_follow_the_generation_timeout(monkeypatch):
    import importlib

    monkeypatch.setenv("SECRET_KEY", "test")  # the configuration reads WebSettings, which require it
    monkeypatch.setenv("GENERATION_TIMEOUT_S", "600")
    import web.gunicorn_conf as conf
    assert importlib.reload(conf).timeout == 30
    assert conf.worker_class == "web.serverlog.RequestIdWorker" and conf.logger_class == "web.serverlog.JsonLogger"
