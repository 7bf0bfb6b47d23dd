"""What a person does in the dashboard, in Chromium: sign in, submit a job and watch it finish, see its incident
on the chart, manage API keys, be refused what their role does not allow, and sign out."""

from __future__ import annotations

import math
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import sign_in
from tests.support import REPO, celery_worker

SCREENSHOT = REPO / "docs" / "images" / "dashboard-job.png"


def planted_incident_csv() -> bytes:
    """Five hours of a calm CPU, a minute apart, that sat at 95% for half an hour."""
    start = 1_796_083_200  # 2026-12-01T00:00:00Z
    rows = ["timestamp,cpu_percent,memory_percent"]
    for minute in range(300):
        cpu = 95.0 if 180 <= minute < 210 else 25 + (minute * 37 % 11) / 4
        rows.append(f"{start + 60 * minute},{cpu},{50 + 2 * math.sin(minute / 20):.2f}")
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.slow  # starts a worker
def test_a_submitted_csv_goes_from_queued_to_succeeded_and_its_incident_is_shaded(
    page: Page, owner, dashboard_env, tmp_path
):
    sign_in(page, owner)
    page.goto("/app/submit")
    page.fill("input[name=host]", "web-1")
    page.set_input_files(
        "input[name=file]", files=[{"name": "web-1.csv", "mimeType": "text/csv", "buffer": planted_incident_csv()}]
    )
    expect(page.locator("#quote")).to_contain_text("this job costs")
    page.click("#submit-job")
    expect(page).to_have_url(re.compile(r"/app/jobs$"))
    row = page.locator("tr[data-job-id]").first
    expect(row.locator("[data-field=status]")).to_have_text("queued")
    page.evaluate("window.sameDocument = true")
    with celery_worker(dashboard_env, tmp_path):  # no worker until now, so the page saw the job waiting
        expect(row.locator("[data-field=status]")).to_have_text("succeeded", timeout=30_000)
    assert page.evaluate("window.sameDocument") is True  # the row changed without a reload
    row.locator("a").first.click()
    chart = page.locator("figure.chart[data-metric=cpu_percent] svg")
    expect(chart.locator("rect.incident")).to_have_count(1)
    assert float(chart.locator("rect.incident").get_attribute("width")) > 10
    expect(page.locator("figure.chart[data-metric=memory_percent] svg rect.incident")).to_have_count(0)
    expect(page.locator("#incidents")).to_contain_text("level_shift")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_an_api_key_is_created_copied_used_and_revoked(page: Page, owner, dashboard_url):
    sign_in(page, owner)
    page.goto("/app/keys")
    page.fill("#create-key input[name=name]", "from the browser")
    page.click("#create-key button[type=submit]")
    shown = page.locator("#new-key-value").inner_text().strip()
    page.click("#copy-key")
    expect(page.locator("#copy-key")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown and copied.startswith("sck_")
    assert httpx.get(f"{dashboard_url}/v1/jobs", headers={"X-API-Key": copied}).status_code == 200
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="from the browser").get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="from the browser").locator("button", has_text="Revoke")).to_have_count(0)
    assert httpx.get(f"{dashboard_url}/v1/jobs", headers={"X-API-Key": copied}).status_code == 401


def test_a_viewer_sees_no_key_member_or_billing_buttons_and_is_refused_their_pages(page: Page, viewer):
    sign_in(page, viewer)
    for link in ("#nav-keys", "#nav-members", "#nav-billing"):
        expect(page.locator(link)).to_have_count(0)
    for path in ("/app/keys", "/app/members", "/app/billing"):
        assert page.goto(path).status == 403
        expect(page.locator("#problem")).to_contain_text("lack the")
    refused = page.request.post("/app/keys", form={"name": "sneaky", "csrf_token": _csrf(page)})
    assert refused.status == 403


def _csrf(page: Page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


def test_a_form_without_its_csrf_token_is_refused(page: Page, owner):
    sign_in(page, owner)
    page.goto("/app/keys")
    page.fill("#create-key input[name=name]", "forged")
    page.evaluate("document.querySelector('#create-key input[name=csrf_token]').remove()")
    with page.expect_response(lambda response: response.url.endswith("/app/keys")) as answer:
        page.click("#create-key button[type=submit]")
    assert answer.value.status == 403
    expect(page.locator("#problem")).to_contain_text("security token")
    page.goto("/app/keys")
    expect(page.locator("tr", has_text="forged")).to_have_count(0)


def test_sign_out_ends_the_session_even_for_a_kept_copy_of_the_cookie(
    page: Page, context, browser, owner, dashboard_url
):
    sign_in(page, owner)
    kept = context.cookies()
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    replay = browser.new_context(base_url=dashboard_url)
    try:
        replay.add_cookies(kept)
        replayed = replay.new_page()
        replayed.goto("/app/jobs")
        expect(replayed).to_have_url(re.compile(r"/app/sign-in\?next="))
    finally:
        replay.close()


def test_the_dashboard_pages_allow_only_their_own_scripts_and_no_framing(page: Page, owner):
    complaints: list[str] = []  # a CSP violation is reported on the console
    page.on("console", lambda message: message.type == "error" and complaints.append(message.text))
    page.on("pageerror", lambda error: complaints.append(str(error)))
    sign_in(page, owner)
    for path in ("/app/submit", "/app/hosts", "/app/keys", "/app/members", "/app/billing", "/app/audit"):
        page.goto(path)
    headers = page.goto("/app/jobs").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    cookie = next(each for each in page.context.cookies() if each["name"] == "smartcompute_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/app"
    assert complaints == []


@pytest.mark.slow  # starts a worker
def test_a_job_page_opened_while_the_job_waits_shows_its_chart_when_it_finishes(
    page: Page, owner, dashboard_env, tmp_path
):
    sign_in(page, owner)
    page.goto("/app/submit")
    page.set_input_files(
        "input[name=file]", files=[{"name": "web-2.csv", "mimeType": "text/csv", "buffer": planted_incident_csv()}]
    )
    page.click("#submit-job")
    page.locator("tr[data-job-id]").first.locator("a").first.click()
    expect(page.locator("#job [data-field=status]")).to_have_text("queued")
    with celery_worker(dashboard_env, tmp_path):
        expect(page.locator("figure.chart[data-metric=cpu_percent] rect.incident")).to_have_count(1, timeout=30_000)
    expect(page.locator("#job [data-field=status]")).to_have_text("succeeded")
