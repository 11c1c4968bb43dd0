"""Reading the API's error answers (``{"error": {"code", "message", "fields"}}``, docs/api.md)."""


def error_fields(resp) -> dict:
    """The field errors of a 400 answer."""
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == "invalid", body
    return body["error"]["fields"]


def message(resp) -> str:
    return resp.json()["error"]["message"]


def code(resp) -> str:
    return resp.json()["error"]["code"]
