"""Message encryption of the "safe" and "compatible" modes (AES-256-CBC, PKCS#7 with 32-byte blocks).

The plaintext is ``random(16) + len(msg) as 4 bytes big-endian + msg + app_id``; the key is the
base64-decoded EncodingAESKey and the IV its first 16 bytes.
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html

Usage::

    crypto = MessageCrypto(token, encoding_aes_key, app_id)
    xml = crypto.decrypt_message(body, msg_signature, timestamp, nonce)  # verified plaintext XML
    body = crypto.encrypt_message(reply_xml, nonce, timestamp)           # <xml><Encrypt>...
"""
from __future__ import annotations

import base64
import binascii
import os
import re
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import AppIdMismatchError, DecryptError, InvalidAESKeyError, MalformedMessageError
from .signature import check_signature, make_signature

BLOCK_SIZE = 32  # WeChat pads to 32 bytes, not AES's 16.
_AES_KEY_RE = re.compile(r"^[A-Za-z0-9+/]{43}$")


def validate_aes_key(encoding_aes_key: str) -> bytes:
    """Return the 32-byte AES key, or raise ``InvalidAESKeyError`` with the reason."""
    if not isinstance(encoding_aes_key, str) or not _AES_KEY_RE.match(encoding_aes_key):
        raise InvalidAESKeyError("EncodingAESKey must be 43 characters of base64 (A-Z, a-z, 0-9, +, /).")
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # pragma: no cover - 43 base64 chars always decode to 32 bytes
        raise InvalidAESKeyError("EncodingAESKey must decode to 32 bytes.")
    return key


def new_aes_key() -> str:
    """A random EncodingAESKey (32 random bytes as 43 characters of base64), as the console generates."""
    return base64.b64encode(os.urandom(32)).decode("ascii")[:43]


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    amount = block_size - len(data) % block_size
    return data + bytes([amount]) * amount


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Strip PKCS#7 padding, raising ``DecryptError`` on anything malformed (never guessing)."""
    if not data:
        raise DecryptError("empty plaintext")
    amount = data[-1]
    if not 1 <= amount <= block_size or amount > len(data) or data[-amount:] != bytes([amount]) * amount:
        raise DecryptError("bad padding")
    return data[:-amount]


class MessageCrypto:
    """Encrypt and decrypt callback payloads for one account (token, EncodingAESKey, app id)."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str):
        self.token = token
        self.key = validate_aes_key(encoding_aes_key)
        self.app_id = app_id
        # One Cipher serves every message: each encryptor()/decryptor() is a fresh context.
        self._cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def __repr__(self):  # never show the key or the token
        return f"<MessageCrypto app_id={self.app_id!r}>"

    # --- payload level -----------------------------------------------------------------------
    def encrypt(self, plaintext: str | bytes, random_prefix: bytes | None = None) -> str:
        """Encrypt one message, returning the base64 text of the ``Encrypt`` element."""
        body = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        data = pkcs7_pad(prefix + struct.pack(">I", len(body)) + body + self.app_id.encode("utf-8"))
        encryptor = self._cipher.encryptor()
        return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """Decrypt the text of an ``Encrypt`` element, checking padding, length and app id."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError, TypeError) as err:
            raise DecryptError("Encrypt is not valid base64") from err
        if not raw or len(raw) % 16:
            raise DecryptError("ciphertext length is not a multiple of the AES block size")
        decryptor = self._cipher.decryptor()
        data = pkcs7_unpad(decryptor.update(raw) + decryptor.finalize())
        if len(data) < 20:
            raise DecryptError("plaintext too short")
        (length,) = struct.unpack(">I", data[16:20])
        if 20 + length > len(data):
            raise DecryptError("message length exceeds the plaintext")
        message = data[20 : 20 + length]
        app_id = data[20 + length :].decode("utf-8", "replace")
        if app_id != self.app_id:
            raise AppIdMismatchError(self.app_id, app_id)
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DecryptError("message is not UTF-8") from err

    # --- envelope level ----------------------------------------------------------------------
    def decrypt_message(self, encrypted: str, msg_signature: str | None, timestamp: str, nonce: str) -> str:
        """Verify ``msg_signature`` over the ``Encrypt`` text, then decrypt it.

        ``encrypted`` is the text of the ``<Encrypt>`` element (the caller has parsed the envelope
        with the safe parser; see ``messages.parse_xml``).
        """
        if not encrypted:
            raise MalformedMessageError("missing Encrypt")
        check_signature(msg_signature, self.token, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt_message(self, reply_xml: str, nonce: str, timestamp: str | int | None = None) -> str:
        """Encrypt a reply into the envelope WeChat expects, signed with ``msg_signature``."""
        timestamp = str(timestamp if timestamp is not None else int(time.time()))
        encrypted = self.encrypt(reply_xml)
        signature = make_signature(self.token, timestamp, nonce, encrypted)
        return (
            "<xml><Encrypt><![CDATA[{0}]]></Encrypt><MsgSignature><![CDATA[{1}]]></MsgSignature>"
            "<TimeStamp>{2}</TimeStamp><Nonce><![CDATA[{3}]]></Nonce></xml>"
        ).format(encrypted, signature, timestamp, _cdata_safe(nonce))


def _cdata_safe(text: str) -> str:
    return str(text).replace("]]>", "]]]]><![CDATA[>")
