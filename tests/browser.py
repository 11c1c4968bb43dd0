"""What the browser tests share: Debian's chromium driven by Playwright, a logged-in admin page
at a given size, and screenshots in test-artifacts/screenshots/ (git-ignored).

Use: ``from tests.browser import browser, logged_in_admin, shot`` (``browser`` is a module-scoped
fixture) and make a ``page`` fixture that yields from ``logged_in_admin(...)``.
"""
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the test itself
# are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "pw-browser-12345"


def chromium_path():
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser",
                      shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if path is None or sync_playwright is None:
        message = "browser tests need the playwright package and Debian's chromium (scripts/ensure-browser.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def logged_in_admin(browser, live_server, django_user_model, *, width, height, check_js_errors=True):
    """A page of a new superuser "operator", logged in to the admin, at ``width`` x ``height``;
    with ``check_js_errors`` any JavaScript error on the way fails the test at the end."""
    django_user_model.objects.create_superuser("operator", "op@example.com", PASSWORD)
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto("/admin/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    context.close()
    if check_js_errors:
        assert not errors, f"JavaScript errors on the page: {errors}"


def right_edge(page, selector):
    """Where the first element matching ``selector`` ends on the x axis (CSS pixels)."""
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"]


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
