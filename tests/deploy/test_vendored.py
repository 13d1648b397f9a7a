"""Browser libraries are the site's own copies (tools/vendor_browser.py): the pinned
npm release's files, unchanged, with their licence; and no page loads anything from
another origin."""
from __future__ import annotations

import json
import re
from pathlib import Path

from tools import vendor_browser

WEB = Path(__file__).resolve().parents[2] / "services" / "web" / "web"


def test_vendored_files_are_the_pinned_releases_with_their_licences():
    assert vendor_browser.check() == []
    for name, spec in vendor_browser.PACKAGES.items():
        source = json.loads((vendor_browser.VENDOR / name / "SOURCE.json").read_text())
        assert source["license"] == spec["license"]
        assert "Permission is hereby granted" in (vendor_browser.VENDOR / name / "LICENSE.md").read_text()


def test_a_changed_vendored_file_is_noticed(tmp_path, monkeypatch):
    copy = tmp_path / "abcjs"
    copy.mkdir()
    for path in (vendor_browser.VENDOR / "abcjs").iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    (copy / "abcjs-basic-min.js").write_bytes(b"alert(1)")
    monkeypatch.setattr(vendor_browser, "VENDOR", tmp_path)
    assert vendor_browser.check() == ["abcjs: abcjs-basic-min.js is not the file SOURCE.json names"]


def test_templates_load_scripts_and_styles_from_the_site_only():
    for template in (WEB / "templates").rglob("*.html"):
        text = template.read_text()
        for url in re.findall(r'(?:src|href)="([^"]+)"', text):
            assert not re.match(r"(?:https?:)?//", url), f"{template.name} loads {url}"
