"""Customer-service (kf) accounts, mirrored from WeChat and changed through it.
https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Management.html
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..client import WeChatAPIError, WeChatPayloadError
from ..client.mass import check_kf_account
from ..models import KfAccount
from .tokens import get_client

EXPLAINED = {
    65400: "the account has not enabled the new customer service",
    65401: "WeChat has no such kf account",
    65403: "the nickname is not accepted (1 to 16 characters)",
    65404: "the kf account is not accepted (prefix@WeChat id)",
    65405: "the account has 100 kf accounts already",
    65406: "this kf account exists already",
}


def _refused(err: WeChatAPIError, field="kf_account") -> ValidationError:
    reason = EXPLAINED.get(err.errcode or 0)
    return ValidationError({field: f"WeChat refused: {reason} ({err.errcode})" if reason else f"WeChat refused: {err}"})


def _check(kf_account, nickname=None):
    try:
        check_kf_account(kf_account, nickname)
    except WeChatPayloadError as err:
        raise ValidationError({"nickname" if "nickname" in str(err) else "kf_account": str(err)}) from err


def sync_kf_accounts(account) -> dict[str, int]:
    remote = get_client(account).kf.list()
    now = timezone.now()
    seen = set()
    with transaction.atomic():
        for item in remote:
            name = str(item.get("kf_account", ""))[:64]
            seen.add(name)
            KfAccount.objects.update_or_create(account=account, kf_account=name, defaults={
                "nickname": str(item.get("kf_nick", ""))[:16], "kf_id": str(item.get("kf_id", ""))[:32],
                "headimgurl": str(item.get("kf_headimgurl", ""))[:500], "raw": item, "active": True,
                "synced_at": now})
        gone = KfAccount.objects.filter(account=account, active=True).exclude(kf_account__in=seen).update(active=False)
    return {"synced": len(seen), "deactivated": gone}


def add_kf_account(account, kf_account: str, nickname: str) -> KfAccount:
    _check(kf_account, nickname)
    try:
        get_client(account).kf.add(kf_account, nickname)
    except WeChatAPIError as err:
        raise _refused(err) from err
    kf, _ = KfAccount.objects.update_or_create(account=account, kf_account=kf_account, defaults={
        "nickname": nickname, "active": True, "synced_at": timezone.now()})
    return kf


def update_kf_account(kf: KfAccount, nickname: str) -> KfAccount:
    _check(kf.kf_account, nickname)
    try:
        get_client(kf.account).kf.update(kf.kf_account, nickname)
    except WeChatAPIError as err:
        raise _refused(err, "nickname") from err
    kf.nickname = nickname
    kf.save(update_fields=["nickname"])
    return kf


def delete_kf_account(kf: KfAccount) -> None:
    try:
        get_client(kf.account).kf.delete(kf.kf_account)
    except WeChatAPIError as err:
        if err.errcode != 65401:  # gone from WeChat already: drop the mirror
            raise _refused(err) from err
    kf.delete()
