"""``Account.crypto``: made once per instance for its key fields (the callback asks for it twice a
message), made again after an edit, and left out when the instance is pickled or copied."""
import copy
import pickle

from wechat_app.models import Account
from wechat_app.protocol.crypto import new_aes_key


def _account(**fields):
    return Account(name="crypto", app_id="wx0123456789abcdef", token="token-1", encoding_aes_key=new_aes_key(),
                   encrypt_mode=Account.EncryptMode.SAFE, **fields)


def test_the_same_crypto_until_a_key_field_changes():
    account = _account()
    crypto = account.crypto
    assert account.crypto is crypto
    for field, value in (("token", "token-2"), ("encoding_aes_key", new_aes_key()), ("app_id", "wx99"),
                         ("channel", Account.Channel.WECOM)):
        setattr(account, field, value)
        changed = account.crypto
        assert changed is not crypto and changed.token == account.token and changed.app_id == account.app_id
        crypto = changed
    assert type(crypto).__name__ == "WeComCrypto"
    account.encoding_aes_key = ""
    assert account.crypto is None


def test_pickled_and_copied_accounts_make_their_own():
    account = _account()
    encrypted = account.crypto.encrypt("<xml>hi</xml>")
    for other in (pickle.loads(pickle.dumps(account)), copy.deepcopy(account)):
        assert "_crypto" not in other.__dict__
        assert other.crypto is not account.crypto
        assert other.crypto.decrypt(encrypted) == "<xml>hi</xml>"
