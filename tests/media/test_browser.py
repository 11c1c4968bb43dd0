"""End-to-end in headless Chromium: upload a picture to the library, pick it for an image reply,
see it in the simulator, then in the conversation view beside a picture a user sent."""
import re

import pytest

from tests.browser import browser, logged_in_admin, shot  # noqa: F401  (browser is a fixture)
from tests.media.conftest import make_png, put_user_media
from tests.polling import wait_until
from tests.wechat_client import WeChatServer, message_xml
from wechat_app.models import IncomingMedia, Material, Rule

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, django_user_model):
    with logged_in_admin(browser, live_server, django_user_model, width=1366, height=900) as page:
        yield page


def image_loaded(page, selector):
    """Whether the picture at ``selector`` loads (its bytes came through the admin's file view);
    scrolled into view first, since thumbnails load lazily."""
    page.locator(selector).first.scroll_into_view_if_needed()
    page.wait_for_function("s => { const img = document.querySelector(s); return img && img.complete; }",
                           arg=selector)
    return page.eval_on_selector(selector, "img => img.naturalWidth > 0")


def test_library_image_in_a_reply_the_simulator_and_the_conversation(page, account, sandbox, live_server, fetch_on):
    picture = make_png(160, 120)
    # 1. Upload to the library
    page.goto("/admin/wechat_app/material/add/")
    page.select_option("#id_account", str(account.pk))
    page.select_option("#id_kind", "image")
    page.set_input_files("#id_file", {"name": "banner.png", "mimeType": "image/png", "buffer": picture})
    shot(page, "media-01-upload-form")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    material = Material.objects.get()
    assert sandbox.state.media.get(account.app_id, material.media_id, permanent=True).data == picture
    assert image_loaded(page, "#result_list img.wx-thumb")
    shot(page, "media-02-library-list")

    # 2. An image reply whose media id is picked from the library
    page.goto("/admin/wechat_app/rule/add/")
    page.select_option("#id_account", str(account.pk))
    page.fill("#id_name", "cat-picture")
    page.fill("#id_match_value", "cat")
    page.select_option("#id_replies-0-type", "image")
    picker = page.locator(".wx-reply-card select.wx-material-picker").first
    page.wait_for_selector(f".wx-reply-card select.wx-material-picker option[value='{material.media_id}']",
                           state="attached")
    picker.select_option(material.media_id)
    assert page.input_value("#id_replies-0-media_id") == material.media_id
    shot(page, "media-03-rule-image-reply-picker")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Rule.objects.get(name="cat-picture").replies == [{"type": "image", "media_id": material.media_id}]

    # 3. The simulator shows the picture
    page.goto(f"/admin/wechat_app/rule/simulator/?account={account.pk}")
    page.fill("#id_text", "cat")
    page.click("#wx-send")
    page.wait_for_selector(".wx-msg-bot .wx-media-preview img.wx-thumb")
    assert image_loaded(page, ".wx-msg-bot .wx-media-preview img.wx-thumb")
    shot(page, "media-04-simulator")

    # 4. A user sends a picture and "cat" through the real callback; the conversation shows both pictures
    wechat = WeChatServer(live_server.url, account.name, account.token, account.app_id)
    sent = make_png(120, 160)
    wechat.send(message_xml("image", user="oUserPic", MediaId=put_user_media(sandbox, sent, filename="me.png",
                                                                             content_type="image/png")))
    answer = wechat.send(message_xml("text", user="oUserPic", Content="cat"))
    assert answer.fields["MsgType"] == "image" and answer.fields["Image"]["MediaId"] == material.media_id
    assert wait_until(lambda: IncomingMedia.objects.filter(status="done").exists())
    page.goto(f"/admin/wechat_app/messagelog/conversation/{account.pk}/?user=oUserPic")
    page.wait_for_selector(".wx-bubble-media img.wx-thumb")
    assert image_loaded(page, ".wx-bubble-media img.wx-thumb")
    assert image_loaded(page, ".wx-msg-bot .wx-media-preview img.wx-thumb")
    shot(page, "media-05-conversation")
    page.goto("/admin/wechat_app/messagelog/")
    assert image_loaded(page, "#result_list .wx-log-media img.wx-thumb")
    shot(page, "media-06-message-log")


def test_menu_media_id_button_picks_from_the_library(page, account):
    from wechat_app.models import Menu

    Material.objects.create(account=account, media_id="poster-media-id", kind="image", name="poster.png")
    Material.objects.create(account=account, media_id="intro-voice-id", kind="voice", name="intro.mp3")
    menu = Menu.objects.create(account=account, name="Main", buttons=[
        {"type": "media_id", "name": "Poster", "media_id": "typed-raw-id"}])
    page.goto(f"/admin/wechat_app/menu/{menu.pk}/change/")
    page.click("#wx-menu-tree [data-path='0']")
    page.wait_for_selector("select.wx-material-picker option[value='intro-voice-id']", state="attached")
    assert page.input_value("#wx-button-media_id") == "typed-raw-id"  # a raw id stays as typed
    page.locator("select.wx-material-picker").select_option("poster-media-id")
    assert page.input_value("#wx-button-media_id") == "poster-media-id"
    shot(page, "media-07-menu-media-id-picker")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    menu.refresh_from_db()
    assert menu.buttons[0]["media_id"] == "poster-media-id"


def test_mass_message_media_ids_pick_from_the_library(page, account):
    """The mass message form offers the chosen kind's materials; an image mass message collects
    up to 8 ids, one per line."""
    Material.objects.create(account=account, media_id="poster-media-id", kind="image", name="poster.png")
    Material.objects.create(account=account, media_id="flyer-media-id", kind="image", name="flyer.png")
    Material.objects.create(account=account, media_id="intro-voice-id", kind="voice", name="intro.mp3")
    page.goto("/admin/wechat_app/massmessage/add/")
    page.select_option("#id_account", str(account.pk))
    page.select_option("#id_kind", "image")
    picker = page.locator("#id_media_id + select.wx-material-picker")
    page.wait_for_selector("#id_media_id + select.wx-material-picker option[value='flyer-media-id']",
                           state="attached")
    assert page.locator("#id_media_id + select.wx-material-picker option[value='intro-voice-id']").count() == 0
    picker.select_option("poster-media-id")
    picker.select_option("flyer-media-id")
    assert page.input_value("#id_media_id").split("\n") == ["poster-media-id", "flyer-media-id"]
    page.select_option("#id_kind", "voice")  # another kind: its own materials, and picking replaces
    page.wait_for_selector("#id_media_id + select.wx-material-picker option[value='intro-voice-id']",
                           state="attached")
    picker.select_option("intro-voice-id")
    assert page.input_value("#id_media_id") == "intro-voice-id"
    shot(page, "media-08-mass-message-picker")


CHOICES_URL = re.compile(r"/wechat_app/material/choices/\?")


def picker_values(page, selector):
    return page.eval_on_selector_all(f"{selector} option", "options => options.map(o => o.value)")


@pytest.mark.parametrize("stale_answer", ["before the new one", "after the new one"])
def test_material_picker_ignores_the_answer_for_a_kind_no_longer_chosen(page, account, stale_answer):
    """Choosing the account asks for every type of material (the default kind, text, has none of its
    own); choosing the image kind right after asks for images. The first answer, late, must not put
    its voice materials in the image picker, whichever of the two arrives first (CI once saw it)."""
    Material.objects.create(account=account, media_id="flyer-media-id", kind="image", name="flyer.png")
    Material.objects.create(account=account, media_id="intro-voice-id", kind="voice", name="intro.mp3")
    held = []  # the library's answers, let through in the order the test chooses
    page.route(CHOICES_URL, lambda route: held.append(route))
    picker = "#id_media_id + select.wx-material-picker"
    page.goto("/admin/wechat_app/massmessage/add/")
    page.select_option("#id_account", str(account.pk))  # asks for every type
    page.select_option("#id_kind", "image")  # asks for images
    for _ in range(200):  # until both requests reach the route (events come in while Playwright waits)
        if len(held) == 2:
            break
        page.wait_for_timeout(25)
    assert len(held) == 2, [route.request.url for route in held]
    every_type = next(route for route in held if "voice" in route.request.url)
    images = next(route for route in held if route is not every_type)
    assert "kind=image" in images.request.url and "voice" not in images.request.url

    def let_through(route):
        with page.expect_response(lambda response: response.url == route.request.url) as answer:
            route.continue_()
        answer.value.finished()

    first, second = (every_type, images) if stale_answer == "before the new one" else (images, every_type)
    let_through(first)
    let_through(second)
    page.wait_for_selector(f"{picker} option[value='flyer-media-id']", state="attached")
    # A round trip through the page after both answers were read, so that a late answer's handler
    # has had its turn: if it has not, the check below can only miss the bug, never fail the fix.
    page.evaluate("() => new Promise(resolve => setTimeout(resolve))")
    assert picker_values(page, picker) == ["", "flyer-media-id"]
