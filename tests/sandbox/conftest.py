from wechat_app.sandbox.testing import sandbox  # noqa: F401  (pytest fixture)
