"""The schema and docs pages shipped with the app: served under wechat/api/, with the app's own
drf-spectacular settings, valid, documenting auth and errors, readable only by the API's users
unless API_DOCS_PUBLIC, and the pages' scripts and styles from local static files."""
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.test import Client

from wechat_app.services import api_tokens

pytestmark = pytest.mark.django_db
API = "/wechat/api"


@pytest.fixture
def root():
    return get_user_model().objects.create_superuser("root", "root@example.com", None)


@pytest.fixture
def admin_client(root):
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def schema(admin_client):
    resp = admin_client.get(f"{API}/schema/?format=json")
    assert resp.status_code == 200, resp.content[:500]
    return json.loads(resp.content)


def test_the_served_schema_validates_without_warnings(admin_client):
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    resp = admin_client.get(f"{API}/schema/?format=json")
    validate_schema(json.loads(resp.content))
    assert not GENERATOR_STATS, str(GENERATOR_STATS)


def test_the_schema_uses_the_app_s_settings_not_the_project_s(schema, settings):
    assert schema["info"]["title"] == "WeChat app API"
    assert "AccountRequest" in schema["components"]["schemas"]  # COMPONENT_SPLIT_REQUEST
    assert "app_secret" not in schema["components"]["schemas"]["Account"]["properties"]  # write-only


def test_project_overrides_through_api_schema_settings(settings, admin_client):
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_SCHEMA_SETTINGS": {"TITLE": "Shop API",
                                                                           "SERVERS": [{"url": "https://shop.test"}]}}
    schema = json.loads(admin_client.get(f"{API}/schema/?format=json").content)
    assert schema["info"]["title"] == "Shop API" and schema["servers"] == [{"url": "https://shop.test"}]


def test_only_the_app_s_endpoints(schema):
    paths = set(schema["paths"])
    assert all(p.startswith("/wechat/api/") for p in paths)
    assert not {"/wechat/api/schema/", "/wechat/api/docs/", "/wechat/api/redoc/", "/wechat/api/"} & paths


def test_auth_is_described(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiToken"]["type"] == "http" and schemes["ApiToken"]["scheme"] == "bearer"
    assert "cookieAuth" in schemes and "basicAuth" not in schemes
    operation = schema["paths"]["/wechat/api/accounts/"]["get"]
    assert {"ApiToken": []} in operation["security"]


def test_every_operation_documents_its_errors_with_the_error_component(schema):
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = operation["responses"]
            assert {"401", "403", "429"} <= set(codes), (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method in ("post", "put", "patch"):
                assert "400" in codes, (method, path)
            for code, answer in codes.items():
                if code >= "400":
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (method, path, code)
            assert "Retry-After" in codes["429"]["headers"]


def test_no_rst_markup_and_no_emptied_placeholders(schema):
    text = json.dumps(schema)
    assert "``" not in text
    assert "/wechat/callback//" not in text and "/wechat/callback/{name}/" in text


def test_the_account_endpoints_have_examples(schema):
    create = schema["paths"]["/wechat/api/accounts/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["examples"]
    assert create["responses"]["201"]["content"]["application/json"]["examples"]
    assert schema["paths"]["/wechat/api/accounts/{name}/"]["get"]["responses"]["200"]["content"][
        "application/json"]["examples"]


def test_the_rule_export_is_documented_as_the_list_it_answers(schema, admin_client):
    from wechat_app.models import Account

    Account.objects.create(name="shop", app_id="wx00000000000000shop", app_secret="S3cr3tValue0001", token="tok123")
    content = schema["paths"]["/wechat/api/accounts/{name}/rules/export/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/yaml", "application/json"}
    assert all(answer["schema"]["type"] == "array" for answer in content.values())
    resp = admin_client.get(f"{API}/accounts/shop/rules/export/", {"as": "json"})
    assert resp.status_code == 200 and isinstance(json.loads(resp.content), list)


def test_manage_py_spectacular_validates_clean_with_the_app_settings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out),
                 "--custom-settings", "wechat_app.api.schema.SPECTACULAR_SETTINGS")
    assert "ApiToken" in out.read_text()


# ---- who may read them ------------------------------------------------------------------------------

@pytest.mark.parametrize("page", ["schema/", "docs/", "redoc/"])
def test_docs_need_an_api_user_unless_public(settings, page, root):
    anonymous = Client().get(f"{API}/{page}")
    if page == "schema/":
        assert anonymous.status_code == 401
    else:  # a browser goes to the login page and back
        assert anonymous.status_code == 302 and anonymous["Location"] == f"/admin/login/?next=%2Fwechat%2Fapi%2F{page[:-1]}%2F"
    plain = get_user_model().objects.create_user("plain", password=None)
    client = Client()
    client.force_login(plain)
    assert client.get(f"{API}/{page}").status_code == 403
    _, key = api_tokens.create_token(root, "docs")
    assert Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(f"{API}/{page}").status_code == 200
    settings.WECHAT_APP = {**settings.WECHAT_APP, "API_DOCS_PUBLIC": True}
    assert Client().get(f"{API}/{page}").status_code == 200


def local_assets(html: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["docs/", "redoc/"])
def test_the_pages_load_their_scripts_and_styles_from_local_static_files(admin_client, settings, page):
    resp = admin_client.get(f"{API}/{page}")
    assert resp.status_code == 200
    html = resp.content.decode()
    assets = [a for a in local_assets(html) if not a.startswith(f"{API}/{page}")]  # the page's own init script
    assert assets and all(a.startswith("/" + settings.STATIC_URL.strip("/") + "/drf_spectacular_sidecar/")
                          for a in assets), assets
    for asset in assets:
        assert finders.find(asset.split("/static/", 1)[1]), asset
    assert "cdn" not in html.lower() and "//" not in "".join(a.split("://")[0] for a in assets if "://" in a)


def test_the_swagger_init_script_points_at_the_app_s_schema(admin_client):
    resp = admin_client.get(f"{API}/docs/?script=")
    assert resp.status_code == 200 and f"{API}/schema/" in resp.content.decode()


def test_the_api_modules_take_extend_schema_from_the_app():
    """drf-spectacular's own ``extend_schema`` bases a decorated method's schema on the project's
    ``DEFAULT_SCHEMA_CLASS`` (DRF's, in a project without REST_FRAMEWORK settings), which breaks the
    schema: the app's modules import it from ``wechat_app.api.schema``."""
    from pathlib import Path

    import wechat_app

    root = Path(wechat_app.__file__).parent
    offenders = [str(path.relative_to(root)) for path in root.rglob("*.py")
                 if path.name != "schema.py" and "extend_schema" in path.read_text(encoding="utf-8")
                 and "drf_spectacular.utils import" in path.read_text(encoding="utf-8")]
    assert not offenders, offenders
