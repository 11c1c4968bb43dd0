"""The gateway command finds its groups in wechat_app/management/gateway/."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db
def test_health_reports_database_cache_and_channels():
    out = StringIO()
    call_command("wechat_gateway", "health", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["database"] == "ok" and report["cache"] == "ok" and "mp" in report["channels"]


def test_a_group_is_required():
    with pytest.raises(CommandError):
        call_command("wechat_gateway")
