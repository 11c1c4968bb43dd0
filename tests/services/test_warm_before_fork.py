"""warm_before_fork (gunicorn --preload): the indexes built at once, no connection left open."""
import pytest
from django.core.cache import cache
from django.db import connection

from wechat_app.engine.registry import warm_before_fork
from wechat_app.models import Account
from wechat_app.services import rule_index, rules
from wechat_app.services.cachebatch import django_redis_client
from wechat_app.services.rules import import_rules


@pytest.mark.django_db(transaction=True)
def test_builds_every_enabled_index_and_closes_the_connections():
    rules.clear_local_indexes()
    account = Account.objects.create(name="pre", app_id="wx0000000000000077", app_secret="s" * 16, token="tok123")
    import_rules(account, "- name: hi\n  match: {exact: hi}\n  reply: hello\n")
    account.refresh_from_db()
    rules.clear_local_indexes()
    assert rule_index.known_stamp(account) is None
    client = django_redis_client(cache)
    if client is not None:
        cache.get("anything")  # a Redis connection in the pool
    warm_before_fork()
    assert rule_index.known_stamp(account) is not None  # built, under the current stamp
    if connection.vendor != "sqlite" or not connection.is_in_memory_db():  # Django keeps in-memory SQLite open
        assert connection.connection is None
    if client is not None:
        pool = client.get_client().connection_pool
        assert not pool._in_use_connections and all(c._sock is None for c in pool._available_connections)
    rules.clear_local_indexes()
