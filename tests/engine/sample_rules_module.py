"""A RULE_MODULES module for the autodiscovery test."""
from wechat_app.engine import rule


@rule("sample-autodiscovered", exact="autodiscovered")
def sample(message, context):
    return "found by RULE_MODULES"
