"""Signatures and AES crypto: official vectors from WeChat's SDK samples, and wechatpy both ways.

Official vectors (Tencent's WXBizMsgCrypt samples, 2014, linked from the 消息加解密接入指引 page
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html):

* Java ``WXBizMsgCryptTest``: token "pamtest", EncodingAESKey "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
  app id "wxb11529c136998cb6", random prefix "aaaabbbbccccdddd": the documented ciphertexts of
  "我是中文abcd123" and of a video reply.
* Python ``Sample.py``: token "spamtest", same key, app id "wx2c2769f8efd9abc2", timestamp
  1409735669, nonce "1320562132", msg_signature 5d197aaf…: a documented encrypted text message.
"""
import base64
import struct

import pytest
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature as wechatpy_check_signature

from wechat_app.protocol import (
    AppIdMismatchError,
    DecryptError,
    InvalidAESKeyError,
    InvalidSignatureError,
    MalformedMessageError,
    MessageCrypto,
    check_signature,
    make_signature,
    parse_message,
    parse_xml,
    validate_aes_key,
)
from wechat_app.protocol.crypto import pkcs7_pad, pkcs7_unpad

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

# --- WXBizMsgCryptTest.java ---
JAVA_TOKEN, JAVA_APPID, JAVA_RANDOM = "pamtest", "wxb11529c136998cb6", b"aaaabbbbccccdddd"
JAVA_TIMESTAMP, JAVA_NONCE = "1409304348", "xxxxxx"
JAVA_PLAIN = "我是中文abcd123"
JAVA_CIPHER = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
JAVA_PLAIN2 = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA["
    "gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType>"
    "<Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId>"
    "<Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]>"
    "</Description></Video></xml>"
)
JAVA_CIPHER2 = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+w"
    "LMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9en"
    "GIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38"
    "YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042Ol"
    "Ub1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8"
    "xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
)

# --- Sample.py ---
PY_TOKEN, PY_APPID, PY_TIMESTAMP, PY_NONCE = "spamtest", "wx2c2769f8efd9abc2", "1409735669", "1320562132"
PY_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
PY_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9"
    "FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3y"
    "t+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v"
    "6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
PY_ENVELOPE = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[" + PY_ENCRYPT + "]]></Encrypt></xml>"
)


def java_crypto():
    return MessageCrypto(JAVA_TOKEN, KEY, JAVA_APPID)


# --- official vectors ------------------------------------------------------------------------
def test_official_java_vector_encrypt():
    assert java_crypto().encrypt(JAVA_PLAIN, random_prefix=JAVA_RANDOM) == JAVA_CIPHER
    assert java_crypto().encrypt(JAVA_PLAIN2, random_prefix=JAVA_RANDOM) == JAVA_CIPHER2


def test_official_java_vector_decrypt():
    assert java_crypto().decrypt(JAVA_CIPHER) == JAVA_PLAIN
    assert java_crypto().decrypt(JAVA_CIPHER2) == JAVA_PLAIN2


def test_official_java_vector_envelope_round_trip():
    """The Java sample's encryptMsg/decryptMsg with its timestamp and nonce (signature recomputed)."""
    envelope = java_crypto().encrypt_message(JAVA_PLAIN2, JAVA_NONCE, JAVA_TIMESTAMP)
    fields = parse_xml(envelope)
    assert fields["TimeStamp"] == JAVA_TIMESTAMP and fields["Nonce"] == JAVA_NONCE
    assert fields["MsgSignature"] == make_signature(JAVA_TOKEN, JAVA_TIMESTAMP, JAVA_NONCE, fields["Encrypt"])
    plain = java_crypto().decrypt_message(fields["Encrypt"], fields["MsgSignature"], JAVA_TIMESTAMP, JAVA_NONCE)
    assert plain == JAVA_PLAIN2


def test_official_python_sample_decrypt_message():
    crypto = MessageCrypto(PY_TOKEN, KEY, PY_APPID)
    assert make_signature(PY_TOKEN, PY_TIMESTAMP, PY_NONCE, PY_ENCRYPT) == PY_SIGNATURE
    encrypt = parse_xml(PY_ENVELOPE)["Encrypt"]
    xml = crypto.decrypt_message(encrypt, PY_SIGNATURE, PY_TIMESTAMP, PY_NONCE)
    message = parse_message(xml)
    assert (message.type, message.text, message.id) == ("text", "abcdteT", "6054768590064713728")
    assert message.uid == "oyORnuP8q7ou2gfYjqLzSIWZf0rs" and message.sp == "gh_10f6c3c3ac5a"


def test_official_python_sample_wrong_signature_and_app_id():
    with pytest.raises(InvalidSignatureError):
        MessageCrypto(PY_TOKEN, KEY, PY_APPID).decrypt_message(PY_ENCRYPT, "0" * 40, PY_TIMESTAMP, PY_NONCE)
    with pytest.raises(AppIdMismatchError):
        MessageCrypto(PY_TOKEN, KEY, "wxotherapp").decrypt_message(PY_ENCRYPT, PY_SIGNATURE, PY_TIMESTAMP, PY_NONCE)


# --- wechatpy, both directions -----------------------------------------------------------------
PLAINTEXTS = [JAVA_PLAIN, JAVA_PLAIN2, "", "x" * 31, "y" * 32, "z" * 33, "<xml><a><![CDATA[]]]]><![CDATA[>]]></a></xml>",
              "emoji 😀 and 中文 " * 50]


@pytest.mark.parametrize("plain", PLAINTEXTS)
def test_ours_encrypt_wechatpy_decrypts(plain):
    envelope = java_crypto().encrypt_message(plain, "nonce42", "1700000000")
    theirs = WeChatCrypto(JAVA_TOKEN, KEY, JAVA_APPID)
    fields = parse_xml(envelope)
    assert theirs.decrypt_message(envelope, fields["MsgSignature"], "1700000000", "nonce42") == plain


@pytest.mark.parametrize("plain", [p for p in PLAINTEXTS if p.startswith("<xml>") or p == JAVA_PLAIN2])
def test_wechatpy_encrypt_ours_decrypts(plain):
    theirs = WeChatCrypto(JAVA_TOKEN, KEY, JAVA_APPID)
    envelope = theirs.encrypt_message(plain, "nonce42", "1700000000")
    fields = parse_xml(envelope)
    assert java_crypto().decrypt_message(fields["Encrypt"], fields["MsgSignature"], "1700000000", "nonce42") == plain


def test_signature_agrees_with_wechatpy():
    signature = make_signature("tok123", "1700000000", "nonce")
    wechatpy_check_signature("tok123", signature, "1700000000", "nonce")  # raises if it disagrees
    check_signature(signature, "tok123", "1700000000", "nonce")
    check_signature(signature.upper(), "tok123", "1700000000", "nonce")  # hex case does not matter


@pytest.mark.parametrize("bad", [None, "", "0" * 40, "zz", "é" * 40])
def test_signature_refused(bad):
    with pytest.raises(InvalidSignatureError):
        check_signature(bad, "tok123", "1700000000", "nonce")


# --- refusals ------------------------------------------------------------------------------------
def _raw_encrypt(data: bytes) -> str:
    """AES-CBC with the test key and no padding of ours: to build hostile plaintexts."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = validate_aes_key(KEY)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def _frame(body: bytes, app_id=JAVA_APPID.encode()) -> bytes:
    return b"r" * 16 + struct.pack(">I", len(body)) + body + app_id


@pytest.mark.parametrize("last_byte", [0, 33, 255])
def test_bad_padding_value_raises(last_byte):
    data = pkcs7_pad(_frame(b"hello"))[:-1] + bytes([last_byte])
    with pytest.raises(DecryptError):
        java_crypto().decrypt(_raw_encrypt(data))


def test_inconsistent_padding_raises():
    padded = pkcs7_pad(_frame(b"hello"))
    amount = padded[-1]
    assert amount > 2
    data = padded[:-2] + bytes([amount - 1, amount])  # last byte says N, but the run is broken
    with pytest.raises(DecryptError):
        java_crypto().decrypt(_raw_encrypt(data))


def test_unpad_never_returns_empty_bytes_silently():
    with pytest.raises(DecryptError):
        pkcs7_unpad(b"")
    with pytest.raises(DecryptError):
        pkcs7_unpad(bytes([0]) * 32)
    assert pkcs7_unpad(bytes([32]) * 32) == b""  # a full block of padding is a valid empty payload


def test_length_beyond_plaintext_raises():
    data = b"r" * 16 + struct.pack(">I", 10_000) + b"short" + JAVA_APPID.encode()
    with pytest.raises(DecryptError):
        java_crypto().decrypt(_raw_encrypt(pkcs7_pad(data)))


def test_wrong_app_id_raises():
    encrypted = MessageCrypto(JAVA_TOKEN, KEY, "wxanotherapp000").encrypt("<xml/>")
    with pytest.raises(AppIdMismatchError) as info:
        java_crypto().decrypt(encrypted)
    assert info.value.received == "wxanotherapp000"
    # wechatpy agrees that it is the app id that is wrong
    from wechatpy.exceptions import InvalidAppIdException

    envelope = MessageCrypto(JAVA_TOKEN, KEY, "wxanotherapp000").encrypt_message("<xml/>", "n", "1")
    signature = parse_xml(envelope)["MsgSignature"]
    with pytest.raises(InvalidAppIdException):
        WeChatCrypto(JAVA_TOKEN, KEY, JAVA_APPID).decrypt_message(envelope, signature, "1", "n")


@pytest.mark.parametrize("bad", ["not base64!!", "abc", "A" * 15, "", "////" * 3 + "=", base64.b64encode(b"x" * 17).decode()])
def test_bad_base64_or_length_raises(bad):
    with pytest.raises((DecryptError, MalformedMessageError)):
        java_crypto().decrypt(bad)


def test_not_utf8_raises():
    data = pkcs7_pad(_frame(b"\xff\xfe\xfd"))
    with pytest.raises(DecryptError):
        java_crypto().decrypt(_raw_encrypt(data))


def test_missing_encrypt_raises():
    with pytest.raises(MalformedMessageError):
        java_crypto().decrypt_message("", "sig", "1", "n")


@pytest.mark.parametrize("key", ["", "short", KEY + "A", KEY[:-1] + "=", KEY[:-1] + "-", None])
def test_invalid_aes_key(key):
    with pytest.raises(InvalidAESKeyError):
        MessageCrypto("tok", key, "wx1")


def test_repr_hides_secrets():
    text = repr(java_crypto())
    assert JAVA_TOKEN not in text and KEY not in text


def test_each_encryption_uses_a_fresh_prefix():
    crypto = java_crypto()
    assert crypto.encrypt("same") != crypto.encrypt("same")
    assert crypto.decrypt(crypto.encrypt("same")) == "same"
