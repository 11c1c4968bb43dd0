"""The outbound endpoints in the OpenAPI schema: typed requests per message kind, examples everywhere."""
import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import patched_settings

from wechat_app.api.schema import spectacular_settings_for_app
from wechat_app.client.messages import CUSTOM_KINDS

PREFIXES = ("/wechat/api/outbound-messages/", "/wechat/api/templates/", "/wechat/api/campaigns/",
            "/wechat/api/followers/")


@pytest.fixture(scope="module")
def schema():
    # With the app's drf-spectacular settings, as the served schema and ``manage.py spectacular
    # --custom-settings wechat_app.api.schema.SPECTACULAR_SETTINGS`` make it (only the app's endpoints).
    with patched_settings(spectacular_settings_for_app()):
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, item in schema["paths"].items():
        if path.startswith(PREFIXES):
            for method, operation in item.items():
                yield path, method, operation


def test_the_customer_service_request_is_one_typed_schema_per_kind(schema):
    components = schema["components"]["schemas"]
    body = schema["paths"]["/wechat/api/outbound-messages/custom/"]["post"]["requestBody"]
    request = components[body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert request["discriminator"]["propertyName"] == "kind"
    assert set(request["discriminator"]["mapping"]) == set(CUSTOM_KINDS)
    video_ref = request["discriminator"]["mapping"]["video"]
    video = components[video_ref.rsplit("/", 1)[1]]["properties"]["content"]
    assert "$ref" in video or "properties" in video


def test_every_outbound_operation_has_examples(schema):
    seen = 0
    for path, method, operation in operations(schema):
        seen += 1
        body = operation.get("requestBody")
        if body:
            content = body["content"]["application/json"]
            assert content.get("examples"), f"{method.upper()} {path}: no request example"
        answers = [r for code, r in operation["responses"].items() if code.startswith("2") and r.get("content")]
        for answer in answers:
            assert answer["content"]["application/json"].get("examples"), f"{method.upper()} {path}: no answer example"
    assert seen >= 20


def test_the_idempotency_key_header_is_documented(schema):
    for path in ("/wechat/api/outbound-messages/custom/", "/wechat/api/outbound-messages/template/"):
        parameters = schema["paths"][path]["post"]["parameters"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters)
