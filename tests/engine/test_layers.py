"""The engine stays pure Python, and code rules are discovered at start-up."""
import subprocess
import sys

from django.apps import apps
from django.test import override_settings

from wechat_app.engine import registry


def test_engine_imports_no_django():
    code = ("import sys, wechat_app.engine, wechat_app.engine.dialect; "
            "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_rule_modules_are_imported_in_ready():
    module = "tests.engine.sample_rules_module"
    sys.modules.pop(module, None)
    with registry.isolated(), override_settings(WECHAT_APP={"RULE_MODULES": [module]}):
        assert "sample-autodiscovered" not in [s.name for s in registry.rules_for()]
        apps.get_app_config("wechat_app").ready()
        assert "sample-autodiscovered" in [s.name for s in registry.rules_for()]
    sys.modules.pop(module, None)
