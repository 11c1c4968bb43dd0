"""CacheBatch gives the same results through a django-redis pipeline as through the cache API."""
import pytest
from django.core.cache import cache

from wechat_app.services.cachebatch import CacheBatch, django_redis_client


def run_batch():
    cache.set("present", {"a": 1}, 60)
    batch = CacheBatch(cache)
    first_add = batch.add("claim", {"state": "processing"}, 60)
    second_add = batch.add("claim", {"state": "other"}, 60)
    present = batch.get("present")
    missing = batch.get("missing")
    batch.set("stored", [1, 2, 3], 60)
    batch.set("forever", "x", None)
    batch.delete("present")
    assert len(batch) == 7
    batch.execute()
    assert len(batch) == 0
    return {
        "first_add": first_add.value, "second_add": second_add.value, "present": present.value,
        "missing": missing.value, "stored": cache.get("stored"), "forever": cache.get("forever"),
        "deleted": cache.get("present"), "claim": cache.get("claim")
    }


EXPECTED = {
    "first_add": True, "second_add": False, "present": {"a": 1}, "missing": None, "stored": [1, 2, 3],
    "forever": "x", "deleted": None, "claim": {"state": "processing"}
}


def test_batch_results_match_the_cache_api():
    assert run_batch() == EXPECTED


def test_pipeline_is_used_on_django_redis_and_agrees(settings):
    if django_redis_client(cache) is None:
        pytest.skip("the cache is not django-redis here (CI's second pass runs this on Redis)")
    assert run_batch() == EXPECTED
    # Values written by the pipeline are read back by the ordinary API and vice versa.
    batch = CacheBatch(cache)
    batch.set("k", {"reply_xml": "<xml>]]></xml>"}, 30)
    batch.execute()
    assert cache.get("k") == {"reply_xml": "<xml>]]></xml>"}
    assert 0 < cache.ttl("k") <= 30


def test_empty_batch_does_nothing():
    CacheBatch(cache).execute()
