"""Project-level guarantees: migrations committed, system checks clean."""
import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_migrations_are_committed():
    out = io.StringIO()
    try:
        call_command("makemigrations", "wechat_app", "--check", "--dry-run", stdout=out)
    except SystemExit as exit_:  # --check exits 1 when a migration is missing
        pytest.fail(f"models changed without a migration:\n{out.getvalue()} (exit {exit_.code})")


def test_system_checks_pass():
    call_command("check", "--fail-level", "WARNING")
