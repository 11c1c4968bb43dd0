"""Schemathesis against the live schema of a live server: every operation, a bounded number of
generated requests each (derandomized), no 500 and no response that breaks the schema.

Bounded to finish in a minute or three on 2 busy cores: ``FUZZ_EXAMPLES`` requests per operation
(environment variable, default 20). Nothing here reaches WeChat: the default API base URL and the
seeded account point at a sandbox of the test's own.
"""
import logging
import os

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from wechat_app.models import Account, Menu, MenuVersion, MessageLog, Rule  # noqa: E402
from wechat_app.sandbox.testing import running_sandbox  # noqa: E402
from wechat_app.services.rules import import_rules  # noqa: E402

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
SCHEMA_PATH = "/wechat/api/schema/"
PASSWORD = "fuzz-pass-0123456789"
RULES = """
- name: game
  match: {exact: game}
  reply: Pick a number
  follow_ups: {retries: 1, rules: [{name: pick, match: {regex: '^([1-9])$'}, reply: 'You picked {1}'}]}
- name: news
  match: {contains: news}
  reply: {type: news, articles: [{title: Today, url: 'https://example.com/today'}]}
"""


@pytest.fixture
def api_headers(django_user_model, settings):
    """How the fuzzer authenticates: ONE place, a superuser's API token, with no throttling (the
    fuzzer sends thousands of requests a minute)."""
    from wechat_app.services.api_tokens import create_token

    settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "API_THROTTLE_RATES": {}}
    owner = django_user_model.objects.create_superuser("fuzz", "fuzz@example.com", PASSWORD)
    _token, key = create_token(owner, "fuzzer")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def api_schema(live_server, api_headers, settings):
    with running_sandbox() as sandbox:
        # Whatever the fuzzer creates talks to the sandbox, never to WeChat.
        settings.WECHAT_APP = {**getattr(settings, "WECHAT_APP", {}), "API_BASE_URL": sandbox.url,
                               "ILINK_API_BASE_URL": sandbox.url, "ILINK_LONG_POLL_SECONDS": 1}
        account = Account.objects.create(name="shop", app_id="wxfuzz00000000001", app_secret="fuzz-secret-0001",
                                          token="fuzztoken1", encrypt_mode="plain", api_base_url=sandbox.url)
        sandbox.state.add_app(account.app_id, account.app_secret)
        import_rules(account, RULES)
        menu = Menu.objects.create(account=account, name="fuzz-menu", buttons=[{"type": "click", "name": "Today",
                                                                                "key": "TODAY"}])
        version = MenuVersion.objects.create(account=account, menu=menu, number=1, status="published",
                                             document={"button": menu.buttons})
        for number in range(3):
            MessageLog.objects.create(account=account, dedupe_key=f"fuzz{number}", user="oFuzzUser", msg_type="text",
                                      text=f"news {number}", status="replied", rule_name="news",
                                      reply={"type": "text", "content": "hi"})
        schema = schemathesis.openapi.from_url(f"{live_server.url}{SCHEMA_PATH}?format=json", headers=api_headers)
        # Path parameters that name seeded objects, for half of the generated requests: random ids
        # alone would only ever meet 404.
        schema.seeded = {"accounts": "shop", "rules": Rule.objects.filter(account=account).first().pk,
                         "menus": menu.pk, "menu-versions": version.pk,
                         "messages": MessageLog.objects.filter(account=account).first().pk}
        yield schema


def with_seeded_objects(schema, operation):
    """The operation's strategy, with its path parameter naming a seeded object half of the time."""
    resource = operation.path.split("/api/", 1)[-1].split("/", 1)[0]
    seeded = schema.seeded.get(resource)
    if resource == "accounts" and operation.method.lower() in ("put", "patch", "delete"):
        seeded = None  # renaming or deleting the seeded account would leave the others nothing to find

    def choose(pair):
        case, use_seeded = pair
        if use_seeded and seeded is not None and case.path_parameters:
            for name in case.path_parameters:
                case.path_parameters[name] = seeded
        return case

    return st.tuples(operation.as_strategy(), st.booleans()).map(choose)


def test_api_is_fuzzed_clean(api_schema, api_headers, live_server, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")  # thousands of expected 400s and 404s
    # One test walking the operations (schemathesis's lazy pytest parametrization does not run on
    # pytest 9): every operation is tried, and every failure is reported, not only the first.
    failures, operations, statuses = [], 0, {}
    # Deletions last: the other operations keep finding the seeded objects.
    ordered = sorted((result.ok() for result in api_schema.get_all_operations()),
                     key=lambda operation: operation.method.lower() == "delete")
    for operation in ordered:
        operations += 1

        @given(case=with_seeded_objects(api_schema, operation))
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def fuzz(case):
            response = case.call_and_validate(base_url=live_server.url, headers=api_headers,
                                              checks=[not_a_server_error, response_schema_conformance])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        try:
            fuzz()
        except KeyboardInterrupt:
            raise
        except BaseException as err:  # noqa: BLE001 - schemathesis's failure groups; all reported below
            failures.append(f"{operation.method.upper()} {operation.path}: {err}"[:3000])
    print(f"{operations} operations, answers: {dict(sorted(statuses.items()))}")
    assert operations > 20
    assert not failures, f"{len(failures)} of {operations} operations failed:\n\n" + "\n\n".join(failures)
