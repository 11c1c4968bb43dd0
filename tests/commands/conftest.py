from tests.callback.conftest import engine, make_account, wechat  # noqa: F401  (shared fixtures)
