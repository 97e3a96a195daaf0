"""llama.cpp's web UI at `/`, driven in Debian's chromium by Playwright (docs/webui.md).

Playwright's own browser download cannot run here: the tests point it at the system's
chromium, and are skipped (with the reason) only where none is installed or the library was
built without the UI. XLLAMACPP_WEBUI_SCREENSHOT=path writes the README's screenshot.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

import xllamacpp as xlc
from conftest import make_params

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ASSISTANT = '[aria-label="Assistant message with actions"]'
USER = '[aria-label="User message with actions"]'
KEY = "sk-webui-test"
# forces the reply's text, so that the page has to show it as text
FAILED_403 = "Failed to load resource: the server responded with a status of 403"
XSS_REPLY = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (requirements-dev.txt)")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (`make deps` installs it when run as root)", allow_module_level=True)


def _get(url: str, key: str | None = None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _server(model_path, **fields) -> xlc.Server:
    s = xlc.Server(make_params(model_path, n_parallel=2, n_ctx=4096, **fields))
    if _get(s.listening_address + "/")[0] == 404:
        s.close()
        pytest.skip("the library was built without the web UI (no node/npm at build time)")
    return s


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def chat_server(model_path):
    s = _server(model_path, ui_config_json=json.dumps({"max_tokens": 24, "titleGenerationUseLLM": False}))
    yield s
    s.close()


class Page:
    """One browser tab on a server, with every console error and page error it saw."""

    def __init__(self, browser, url: str) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": 1100, "height": 760})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.failed: list[str] = []  # "status path" of each answer >= 400
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {urlsplit(r.url).path}"))

    def unexpected_errors(self) -> list[str]:
        """Console errors and failed requests, but for llama-server's own: with its tools off
        (the default) it answers the UI's GET /tools with 403, and the browser logs that."""
        tools_off = [f for f in self.failed if f == "403 /tools"]
        logged_403 = [e for e in self.errors if e.startswith(FAILED_403)]
        others = [e for e in self.errors if not e.startswith(FAILED_403)]
        return others + [f for f in self.failed if f != "403 /tools"] + logged_403[len(tools_off):]

    def open(self) -> "Page":
        self.page.goto(self.url + "/")
        return self

    def input(self):
        return self.page.get_by_placeholder("Type a message...")

    def send(self, text: str) -> None:
        box = self.input()
        box.wait_for(timeout=30_000)
        box.click()
        box.fill(text)
        self.page.keyboard.press("Enter")

    def reply(self):
        return self.page.locator(ASSISTANT).last

    def reply_text(self) -> str:
        """The last reply's text, without the model name and statistics under it."""
        content = self.reply().locator(".agentic-content")
        return content.inner_text().strip() if content.count() else ""

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser, chat_server):
    t = Page(browser, chat_server.listening_address).open()
    yield t
    t.close()


def _wait_idle(page) -> None:
    """Until the form shows its send button again (no stop button)."""
    page.get_by_role("button", name="Stop", exact=True).wait_for(state="detached", timeout=120_000)


def test_the_page_loads_with_no_console_errors(tab):
    tab.input().wait_for(timeout=30_000)
    tab.page.wait_for_load_state("networkidle")
    assert tab.unexpected_errors() == [], (tab.errors, tab.failed)


def test_a_reply_streams_in_token_by_token_and_a_reload_keeps_the_conversation(tab):
    tab.send("Write a sentence about the sea.")
    tab.reply().wait_for(timeout=60_000)
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = tab.reply_text()
        if text and (not seen or text != seen[-1]):
            seen.append(text)
        if seen and tab.page.get_by_role("button", name="Stop", exact=True).count() == 0:
            break
        time.sleep(0.02)
    final = tab.reply_text()
    assert final, "no reply"
    assert len(seen) >= 3, f"the reply did not appear piece by piece: {seen}"
    assert all(final.startswith(t.rstrip()) for t in seen), (seen, final)
    if os.environ.get("XLLAMACPP_WEBUI_SCREENSHOT"):
        tab.page.screenshot(path=os.environ["XLLAMACPP_WEBUI_SCREENSHOT"])

    tab.page.reload()
    tab.page.locator(USER).first.wait_for(timeout=30_000)
    assert "Write a sentence about the sea." in tab.page.locator(USER).first.inner_text()
    tab.reply().wait_for(timeout=30_000)
    assert tab.reply_text() == final
    assert tab.unexpected_errors() == [], (tab.errors, tab.failed)


def _slots_busy(url: str, key: str | None = None) -> list:
    status, body = _get(url + "/slots", key)
    assert status == 200, body
    return [s["id"] for s in json.loads(body) if s.get("is_processing")]


def _settled_text(t: Page, within: float, quiet: float) -> str | None:
    """The reply's text once it has stayed the same for `quiet` seconds, or None if it is still
    changing after `within` seconds."""
    deadline = time.monotonic() + within
    text, since = t.reply_text(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = t.reply_text()
        if now != text:
            text, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return text
    return None


def test_the_stop_button_stops_the_generation_and_frees_the_slot(browser, model_path):
    s = _server(model_path, n_predict=-1, ui_config_json=json.dumps({"max_tokens": -1}))
    t = Page(browser, s.listening_address).open()
    try:
        t.send("Tell a very long story.")
        t.reply().wait_for(timeout=60_000)
        deadline = time.monotonic() + 60
        while not _slots_busy(s.listening_address) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _slots_busy(s.listening_address), "the generation never started"
        t.page.get_by_role("button", name="Stop", exact=True).click()
        _wait_idle(t.page)
        deadline = time.monotonic() + 10
        while _slots_busy(s.listening_address) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _slots_busy(s.listening_address) == []
        # the page may still paint a piece it had received before the stop: let it settle,
        # then nothing more may arrive (a generation still running would keep it changing)
        stopped = _settled_text(t, within=15.0, quiet=1.0)
        assert stopped is not None, "text kept coming after stop"
        time.sleep(2.0)
        assert t.reply_text() == stopped, "text kept coming after stop"
        assert _slots_busy(s.listening_address) == []
    finally:
        t.close()
        s.close()


def test_a_reply_with_html_is_shown_as_text_and_runs_nothing(browser, model_path):
    grammar = "root ::= " + json.dumps(XSS_REPLY)
    # the UI's customJson joins every request: a grammar forces the reply (without the UI's own
    # tools, which llama.cpp does not combine with a grammar)
    s = _server(model_path, ui_config_json=json.dumps({"customJson": json.dumps({"grammar": grammar, "tools": []})}))
    t = Page(browser, s.listening_address).open()
    try:
        t.send("Say something.")
        t.reply().wait_for(timeout=60_000)
        _wait_idle(t.page)
        text = t.reply_text()
        assert text == XSS_REPLY, text
        assert t.page.evaluate("window.__xss") is None
        assert t.reply().locator("img, script").count() == 0
    finally:
        t.close()
        s.close()


def test_with_an_api_key_the_ui_gets_in_once_the_key_is_entered_and_not_before(browser, model_path):
    s = _server(model_path, api_keys=[KEY], ui_config_json=json.dumps({"max_tokens": 8}))
    t = Page(browser, s.listening_address).open()
    try:
        t.page.get_by_role("button", name="Enter API Key").click(timeout=30_000)
        assert t.input().count() == 0, "the chat form showed before a key was entered"
        key_box = t.page.locator("#api-key-input")
        key_box.fill("wrong-key")
        t.page.get_by_role("button", name="Save & Retry").click()
        t.page.get_by_text("Invalid API key").wait_for(timeout=10_000)
        assert t.input().count() == 0
        key_box.fill(KEY)
        t.page.get_by_role("button", name="Save & Retry").click()
        t.send("Hello")
        t.reply().wait_for(timeout=60_000)
        deadline = time.monotonic() + 120
        while not t.reply_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert t.reply_text(), "no reply with the key"
    finally:
        t.close()
        s.close()


def test_webui_off_answers_404_at_the_root(model_path):
    with xlc.Server(make_params(model_path, ui=False)) as s:
        assert _get(s.listening_address + "/")[0] == 404
        status, body = _get(s.listening_address + "/sw.js")
        assert status == 200 and b"unregister" in body  # llama-server's self-removing worker


def test_webui_config_json_reaches_the_ui_through_props(chat_server, model_path):
    assert chat_server.handle("GET", "/props")["ui_settings"] == {"max_tokens": 24, "titleGenerationUseLLM": False}
    p = make_params(model_path, n_parallel=1)
    p.webui_config_json = json.dumps({"theme": "dark"})  # upstream xllamacpp's name for ui_config_json
    with xlc.Server(p) as s:
        assert s.handle("GET", "/props")["ui_settings"] == {"theme": "dark"}
