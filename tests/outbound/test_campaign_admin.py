"""The campaign form and page: keyword fields from the template, errors as form errors (issue 8
item 3), recipients one per line or by tag, preview, test send, Start, self-refreshing progress."""
import pytest

from wechat_app.models import Campaign, OutboundMessage, Template
from wechat_app.services import outbound

from .conftest import APP_ID

ADD = "/admin/wechat_app/campaign/add/"
CONTENT = "{{first.DATA}}\nOrder: {{keyword1.DATA}}\n{{remark.DATA}}"


@pytest.fixture
def staff(admin_client):
    return admin_client


@pytest.fixture
def template(sandbox, account):
    sandbox.state.add_template(APP_ID, "Order shipped", CONTENT, template_id="tpl-ship")
    sandbox.state.add_template(APP_ID, "Old one", "{{x.DATA}}", template_id="tpl-old")
    outbound.sync_templates(account)
    Template.objects.filter(template_id="tpl-old").update(active=False)  # gone from WeChat
    return Template.objects.get(template_id="tpl-ship")


def post_data(template_, **extra):
    data = {"name": "Spring sale", "template": template_.pk, "data__first": "Hello", "data__keyword1": "A-1",
            "data__remark": "Thanks", "url": "", "audience": "list", "openids": "o_one\no_two\n\no_one\n",
            "tag_id": "", "miniprogram": "", "rate_limit": ""}
    data.update(extra)
    return data


def test_wrong_keyword_is_a_form_error_not_a_500(staff, template):
    response = staff.post(ADD, post_data(template, data__bogus="x"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "unknown template keyword(s): bogus" in str(errors["data"])
    assert not Campaign.objects.exists()
    # the raw JSON form of the field gets the same answer
    raw = {k: v for k, v in post_data(template).items() if not k.startswith("data__")}
    response = staff.post(ADD, {**raw, "data": '{"first": "a", "nope": "b"}'})
    assert response.status_code == 200 and "nope" in str(response.context["adminform"].form.errors["data"])
    response = staff.post(ADD, {**raw, "data": "[1, 2"})
    assert response.status_code == 200 and "data" in response.context["adminform"].form.errors
    assert not Campaign.objects.exists()


def test_empty_keyword_is_refused(staff, template):
    response = staff.post(ADD, post_data(template, data__keyword1="  "))
    assert response.status_code == 200
    assert "Fill in every keyword: keyword1" in str(response.context["adminform"].form.errors["data"])


def test_keyword_fields_come_from_the_chosen_template(staff, template):
    html = staff.get(f"{ADD}?template={template.pk}").content.decode()
    for keyword in ("first", "keyword1", "remark"):
        assert f'name="data__{keyword}"' in html
    assert '<textarea name="data"' not in html and 'input type="text" name="data"' not in html  # no raw JSON
    # the script gets every offered template's keywords; the inactive one is not offered
    form = staff.get(ADD).context["adminform"].form
    offered = [t.template_id for t in form.fields["template"].queryset]
    assert offered == ["tpl-ship"]
    assert "wx-campaign-templates" in html


def test_a_valid_form_saves_a_draft(staff, template, account):
    response = staff.post(ADD, post_data(template))
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.account == account and campaign.status == Campaign.Status.DRAFT
    assert campaign.data == {"first": "Hello", "keyword1": "A-1", "remark": "Thanks"}
    assert campaign.openids == ["o_one", "o_two"]
    # the change form shows the values back in the keyword fields and the list one per line
    form = staff.get(f"/admin/wechat_app/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="data__keyword1"' in form and 'value="A-1"' in form
    assert "o_one\no_two</textarea>" in form


def test_inactive_template_is_refused(staff, template):
    old = Template.objects.get(template_id="tpl-old")
    response = staff.post(ADD, post_data(template, template=old.pk))
    assert response.status_code == 200 and "template" in response.context["adminform"].form.errors


@pytest.mark.parametrize("extra, field, text", [
    ({"openids": ""}, "openids", "at least one openid"),
    ({"openids": "good\nnot an openid!"}, "openids", "not an openid"),
    ({"audience": "tag", "tag_id": ""}, "tag_id", "needs a tag id"),
    ({"audience": "tag", "tag_id": "abc"}, "tag_id", "valid choice"),  # tags come from the Tag model
    ({"url": "javascript:alert(1)"}, "url", "valid url"),
    ({"miniprogram": '{"pagepath": "x"}'}, "miniprogram", "appid"),
])
def test_recipients_and_links_are_validated(staff, template, extra, field, text):
    response = staff.post(ADD, post_data(template, **extra))
    assert response.status_code == 200
    assert text.lower() in str(response.context["adminform"].form.errors.get(field, "")).lower()
    assert not Campaign.objects.exists()


def test_tag_audience_keeps_no_list(staff, template):
    from wechat_app.models import Tag

    Tag.objects.create(account=template.account, tag_id=7, name="VIP")  # offered among the account's tags
    assert ">VIP (0)</option>" in staff.get(ADD).content.decode()
    response = staff.post(ADD, post_data(template, audience="tag", tag_id="7"))
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.tag_id == 7 and campaign.openids == []


def test_page_preview_test_send_start_and_progress(staff, sandbox, template, followers,
                                                   django_capture_on_commit_callbacks):
    staff.post(ADD, post_data(template, openids="\n".join(followers)))
    campaign = Campaign.objects.get()
    page = staff.get(f"/admin/wechat_app/campaign/{campaign.pk}/change/").content.decode()
    assert "Hello\nOrder: A-1\nThanks" in page  # the rendered message
    assert f'action="/admin/wechat_app/campaign/{campaign.pk}/start/"' in page
    assert f'action="/admin/wechat_app/campaign/{campaign.pk}/test/"' in page

    # a test to one openid: queued and sent, not part of the campaign
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/admin/wechat_app/campaign/{campaign.pk}/test/", {"openid": followers[0]})
    assert response.status_code == 302
    test = OutboundMessage.objects.get()
    assert test.campaign is None and test.to_user == followers[0] and test.status == "sent"
    assert sandbox.state.list_messages(kind="template")[0]["payload"]["data"]["keyword1"]["value"] == "A-1"
    bad = staff.post(f"/admin/wechat_app/campaign/{campaign.pk}/test/", {"openid": "no spaces"}, follow=True)
    assert "An openid is" in bad.content.decode() and OutboundMessage.objects.count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(f"/admin/wechat_app/campaign/{campaign.pk}/start/")
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE and campaign.total == 5
    progress = staff.get(f"/admin/wechat_app/campaign/progress/?id={campaign.pk}&id=x&id=²&id={'9' * 30}").json()
    assert progress[str(campaign.pk)]["status"] == "done" and "100% · 5/5" in progress[str(campaign.pk)]["html"]
    # a sent campaign's page is a record: no Save, no Start
    page = staff.get(f"/admin/wechat_app/campaign/{campaign.pk}/change/").content.decode()
    assert 'name="_save"' not in page and "/start/" not in page


def test_running_campaign_progress_polls_itself(staff, template, account):
    campaign = Campaign.objects.create(account=account, name="R", template=template,
                                       data={"first": "a", "keyword1": "b", "remark": "c"}, openids=["o1"],
                                       status=Campaign.Status.RUNNING)
    OutboundMessage.objects.create(account=account, campaign=campaign, kind="template", to_user="o1", payload={})
    for url in ("/admin/wechat_app/campaign/", f"/admin/wechat_app/campaign/{campaign.pk}/change/"):
        html = staff.get(url).content.decode()
        assert f'data-campaign-progress="{campaign.pk}" data-status="running"' in html
        assert 'data-url="/admin/wechat_app/campaign/progress/"' in html and "wechat_app/js/campaign.js" in html


def test_list_keeps_few_columns(staff, template):
    from wechat_app.admin.outbound import CampaignAdmin

    assert CampaignAdmin.list_display == ["name", "account", "status_display", "progress", "created"]


def test_service_renders_the_preview(template):
    text = outbound.render_template_message(template, {"first": "Hi", "keyword1": {"value": "K"}})
    assert text == "Hi\nOrder: K\n{{remark.DATA}}"
