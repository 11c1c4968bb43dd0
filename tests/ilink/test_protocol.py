"""The pure-Python iLink protocol: headers, sizes, the media crypto (checked against the sandbox's
own implementation) and inbound messages."""
import base64
import math

import pytest

from wechat_app.protocol import ilink
from wechat_app.sandbox import ilink as sandbox_ilink


def test_headers_carry_the_token_type_bearer_and_a_uin():
    headers = ilink.request_headers("tok")
    assert headers["AuthorizationType"] == "ilink_bot_token"
    assert headers["Authorization"] == "Bearer tok"
    uin = base64.b64decode(headers["X-WECHAT-UIN"]).decode()
    assert uin.isdigit() and 0 <= int(uin) < 2 ** 32
    assert "Authorization" not in ilink.request_headers()
    assert ilink.with_base_info({"a": 1})["base_info"] == {"channel_version": ilink.CHANNEL_VERSION}


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
def test_encrypted_size_is_the_padded_ciphertext_size(size):
    key = ilink.new_aes_key()
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    ciphertext = ilink.encrypt(data, key)
    assert len(ciphertext) == ilink.encrypted_size(size) == math.ceil((size + 1) / 16) * 16
    assert sandbox_ilink._decrypt(ciphertext, key) == data  # an independent implementation
    assert ilink.decrypt(sandbox_ilink._encrypt(data, key), key) == data


def test_media_keys_in_both_spellings():
    key = ilink.new_aes_key()
    assert ilink.decode_item_key(base64.b64encode(key).decode()) == key
    assert ilink.decode_item_key(ilink.encode_item_key(key)) == key
    assert ilink.decode_item_key(key.hex()) == key
    with pytest.raises(ilink.ILinkProtocolError):
        ilink.decode_item_key("bm90IGEga2V5")
    with pytest.raises(ilink.ILinkProtocolError):
        ilink.decrypt(ilink.encrypt(b"x", key), ilink.new_aes_key())


def _msg(item, **fields):
    return {"message_id": 42, "from_user_id": "u@im.wechat", "to_user_id": "b@im.bot", "create_time_ms": 1_700_000_000_000,
            "message_type": 1, "context_token": "ctx", "item_list": [item], **fields}


def test_inbound_text_voice_file_and_image():
    text = ilink.to_message(_msg({"type": 1, "text_item": {"text": "hello"}}))
    assert (text.uid, text.sp, text.type, text.text, text.id) == ("u@im.wechat", "b@im.bot", "text", "hello", "42")
    assert text.param["context_token"] == "ctx" and text.dedupe_key == "msg:42"
    assert text.raw["item_list"][0]["text_item"]["text"] == "hello"
    voice = ilink.to_message(_msg({"type": 3, "voice_item": {"text": "transcript", "media": {
        "encrypt_query_param": "p", "aes_key": "k"}}}))
    assert voice.type == "voice" and voice.text == "transcript"
    assert voice.param["media"]["download_param"] == "p"
    file = ilink.to_message(_msg({"type": 4, "file_item": {"file_name": "a.pdf", "len": "3", "media": {
        "encrypt_query_param": "p", "aes_key": "k"}}}))
    assert file.type == "file" and file.param["file_name"] == "a.pdf" and file.param["media"]["kind"] == "file"
    image = ilink.to_message(_msg({"type": 2, "image_item": {"media": {"encrypt_query_param": "p", "aes_key": "k"}}}))
    assert image.type == "image" and image.create_time == 1_700_000_000
    with pytest.raises(ilink.ILinkProtocolError):
        ilink.to_message({"item_list": []})
