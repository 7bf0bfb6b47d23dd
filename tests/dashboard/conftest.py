"""The dashboard in a real browser: Playwright driving Debian's Chromium against the API as the Procfile runs it
(gunicorn), with real workers where a test needs jobs to finish. One browser for the whole run; each test gets
a fresh browser context (its own cookies)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.conftest import make_account
from tests.support import Account, gunicorn_server

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright never downloads a browser here


@pytest.fixture(scope="session")
def dashboard_env(base_env) -> dict[str, str]:
    # A stream whose page was left ends at its next heartbeat: a short one frees its thread within the test.
    return {**base_env, "EVENT_HEARTBEAT_SECONDS": "1", "EVENT_STREAMS_PER_PROCESS": "6"}


@pytest.fixture(scope="session")
def dashboard_url(dashboard_env, tmp_path_factory) -> str:
    """The API and its dashboard in one gunicorn process; threads to spare for the pages' event streams."""
    with gunicorn_server(dashboard_env, tmp_path_factory.mktemp("dashboard-api"), threads=8) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start; containers often have a small
        # /dev/shm, which Chromium would otherwise fill.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def context(browser, dashboard_url) -> BrowserContext:
    context = browser.new_context(base_url=dashboard_url, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dashboard_url)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def owner(sessions) -> Account:
    return make_account(sessions)


@pytest.fixture(scope="session")
def viewer(sessions, owner) -> Account:
    return make_account(sessions, role="viewer", account_of=owner)


def sign_in(page: Page, account: Account) -> None:
    page.goto("/app/sign-in")
    page.fill("input[name=email]", account.email)
    page.fill("input[name=password]", account.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/app/jobs$"))
