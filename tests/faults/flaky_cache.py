"""A local-memory cache that can be switched off, to play a Redis that is down (tests only)."""
from django.core.cache.backends.locmem import LocMemCache


class CacheDown(ConnectionError):
    pass


class FlakyCache(LocMemCache):
    """``FlakyCache.down = True``: every operation raises, as django-redis does when Redis is gone."""

    down = False
    calls = 0

    def _check(self):
        type(self).calls += 1
        if type(self).down:
            raise CacheDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    def add(self, *args, **kwargs):
        self._check()
        return super().add(*args, **kwargs)

    def get(self, *args, **kwargs):
        self._check()
        return super().get(*args, **kwargs)

    def set(self, *args, **kwargs):
        self._check()
        return super().set(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._check()
        return super().delete(*args, **kwargs)

    def get_many(self, *args, **kwargs):
        self._check()
        return super().get_many(*args, **kwargs)

    def incr(self, *args, **kwargs):
        self._check()
        return super().incr(*args, **kwargs)

    def touch(self, *args, **kwargs):
        self._check()
        return super().touch(*args, **kwargs)
