"""Tags, remarks and the blacklist of an account's followers, kept in step with WeChat.

Every change goes to WeChat first and is then mirrored (``Tag`` rows, ``Follower.tags`` as tag
ids like WeChat's ``tagid_list``, ``Follower.remark``, ``Follower.blacklisted``), so the database
never claims what WeChat refused. Batches follow WeChat's limits: 50 openids a tagging call, 20 a
blacklist call; a batch WeChat refuses is reported and the others still go.
https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from ..client import WeChatAPIError
from ..models import Follower, Tag
from ..models.audience import MAX_TAGS, SYSTEM_TAG_IDS, TAG_NAME_MAX
from .tokens import get_client

logger = logging.getLogger("wechat_app.audience")

TAG_BATCH = 50
BLACKLIST_BATCH = 20
REMARK_MAX = 30
# What WeChat's refusals mean, for people.
EXPLAINED = {
    45056: "the account has 100 tags already",
    45057: "the tag has more than 100,000 followers",
    45058: "WeChat's own tags (0, 1, 2) cannot be changed",
    45059: "a follower already has 20 tags",
    45157: "another tag has this name",
    45158: "a tag name is at most 30 characters",
    45159: "WeChat has no such tag (sync the tags)",
    40032: "too many openids in one call",
    40003: "an openid is not a follower of this account",
}


def explain(err: WeChatAPIError) -> str:
    reason = EXPLAINED.get(err.errcode or 0)
    return f"WeChat refused: {reason} ({err.errcode})" if reason else f"WeChat refused: {err}"


def chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def clean_tag_name(account, name, exclude_pk=None) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise ValidationError({"name": "A tag needs a name."})
    if len(name) > TAG_NAME_MAX:
        raise ValidationError({"name": f"A tag name is at most {TAG_NAME_MAX} characters ({len(name)} given)."})
    if "\x00" in name:
        raise ValidationError({"name": "A tag name cannot contain NUL characters."})
    taken = Tag.objects.filter(account=account, name=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise ValidationError({"name": f"The account has a tag named {name!r} already."})
    return name


# --- tags ---------------------------------------------------------------------------------------------
def sync_tags(account) -> dict[str, int]:
    """Mirror /cgi-bin/tags/get: create, rename and recount tags; drop those WeChat no longer has."""
    remote = get_client(account).tag.get()
    now = timezone.now()
    seen = set()
    with transaction.atomic():
        for item in remote:
            tag_id = int(item["id"])
            seen.add(tag_id)
            Tag.objects.update_or_create(account=account, tag_id=tag_id, defaults={
                "name": str(item.get("name", ""))[:TAG_NAME_MAX], "count": int(item.get("count") or 0),
                "synced_at": now})
        removed, _ = Tag.objects.filter(account=account).exclude(tag_id__in=seen).delete()
    return {"synced": len(seen), "removed": removed}


def create_tag(account, name: str) -> Tag:
    name = clean_tag_name(account, name)
    if Tag.objects.filter(account=account).exclude(tag_id__in=SYSTEM_TAG_IDS).count() >= MAX_TAGS:
        raise ValidationError({"name": f"An account has at most {MAX_TAGS} tags; delete one first."})
    try:
        remote = get_client(account).tag.create(name)
    except WeChatAPIError as err:
        raise ValidationError({"name": explain(err)}) from err
    tag, _ = Tag.objects.update_or_create(account=account, tag_id=int(remote["id"]), defaults={
        "name": name, "count": 0, "synced_at": timezone.now()})
    return tag


def rename_tag(tag: Tag, name: str) -> Tag:
    if tag.is_system:
        raise ValidationError({"name": "WeChat's own tags (ids 0, 1, 2) cannot be renamed."})
    name = clean_tag_name(tag.account, name, exclude_pk=tag.pk)
    try:
        get_client(tag.account).tag.update(tag.tag_id, name)
    except WeChatAPIError as err:
        raise ValidationError({"name": explain(err)}) from err
    tag.name = name
    tag.save(update_fields=["name"])
    return tag


def delete_tag(tag: Tag) -> int:
    """Delete a tag on WeChat, then here; return how many followers were untagged first.

    WeChat refuses to delete a tag of more than 100,000 followers (45057): they are untagged in
    batches of 50 first, then the tag is deleted."""
    if tag.is_system:
        raise ValidationError("WeChat's own tags (ids 0, 1, 2) cannot be deleted.")
    client = get_client(tag.account)
    untagged = 0
    try:
        client.tag.delete(tag.tag_id)
    except WeChatAPIError as err:
        if err.errcode != 45057:
            raise ValidationError(explain(err)) from err
        openids = list(client.tag.iter_tag_users(tag.tag_id))
        for batch in chunks(openids, TAG_BATCH):
            client.tag.untag_users(tag.tag_id, batch)
            untagged += len(batch)
        try:
            client.tag.delete(tag.tag_id)
        except WeChatAPIError as err2:
            raise ValidationError(explain(err2)) from err2
    _remove_tag_everywhere(tag)
    tag.delete()
    return untagged


def _remove_tag_everywhere(tag: Tag) -> None:
    groups: dict[tuple, list[int]] = {}
    rows = followers_with_tag(Follower.objects.filter(account_id=tag.account_id), tag.tag_id)
    for pk, tags in rows.values_list("pk", "tags"):
        groups.setdefault(tuple(t for t in tags if t != tag.tag_id), []).append(pk)
    for tags, pks in groups.items():
        for start in range(0, len(pks), 500):
            Follower.objects.filter(pk__in=pks[start:start + 500]).update(tags=list(tags))


def followers_with_tag(queryset, tag_id: int):
    """Followers whose ``tags`` hold ``tag_id`` (JSON containment on PostgreSQL; on other
    databases a match on the JSON text, which Django's ``contains`` does not support there)."""
    tag_id = int(tag_id)
    if connection.vendor == "postgresql":
        return queryset.filter(tags__contains=[tag_id])
    return queryset.annotate(_tags_text=Cast("tags", TextField())).filter(
        _tags_text__regex=rf"[\[,\s]{tag_id}[\],]")


@dataclass
class BatchResult:
    """What a batched operation did: openids changed, and each refused batch with the reason."""

    done: int = 0
    batches: int = 0
    failed: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.done} follower(s) in {self.batches} call(s)"
        if self.failed:
            text += "; refused: " + "; ".join(f"{len(f['openids'])} ({f['error']})" for f in self.failed)
        return text

    def as_dict(self) -> dict:
        return {"done": self.done, "batches": self.batches, "failed": self.failed}


def _batched(openids, size, call, mirror) -> BatchResult:
    result = BatchResult()
    for batch in chunks(list(dict.fromkeys(openids)), size):
        result.batches += 1
        try:
            call(batch)
        except WeChatAPIError as err:
            result.failed.append({"openids": batch, "errcode": err.errcode, "error": explain(err)})
            continue
        mirror(batch)
        result.done += len(batch)
    return result


def _mirror_tags(account, tag_id: int, openids: list[str], add: bool) -> None:
    """``Follower.tags`` after a batch: one UPDATE per resulting list (followers usually share
    theirs, so a batch costs one or two UPDATEs rather than a 50-way CASE of bulk_update)."""
    groups: dict[tuple, list[int]] = {}
    for pk, tags in Follower.objects.filter(account=account, openid__in=openids).values_list("pk", "tags"):
        kept = [t for t in (tags or []) if t != tag_id]
        groups.setdefault(tuple(kept + [tag_id] if add else kept), []).append(pk)
    for tags, pks in groups.items():
        Follower.objects.filter(pk__in=pks).update(tags=list(tags))


def tag_followers(tag: Tag, openids: list[str]) -> BatchResult:
    """Tag followers, 50 per call to WeChat."""
    client = get_client(tag.account)
    result = _batched(openids, TAG_BATCH, lambda b: client.tag.tag_users(tag.tag_id, b),
                      lambda b: _mirror_tags(tag.account, tag.tag_id, b, True))
    _recount(tag)
    return result


def untag_followers(tag: Tag, openids: list[str]) -> BatchResult:
    client = get_client(tag.account)
    result = _batched(openids, TAG_BATCH, lambda b: client.tag.untag_users(tag.tag_id, b),
                      lambda b: _mirror_tags(tag.account, tag.tag_id, b, False))
    _recount(tag)
    return result


def _recount(tag: Tag) -> None:
    tag.count = followers_with_tag(Follower.objects.filter(account_id=tag.account_id, subscribed=True),
                                   tag.tag_id).count()
    tag.save(update_fields=["count"])


# --- remarks and the blacklist -------------------------------------------------------------------------
def clean_remark(remark) -> str:
    remark = (remark or "").strip() if isinstance(remark, str) else None
    if remark is None:
        raise ValidationError({"remark": "A remark is text."})
    if len(remark) > REMARK_MAX:
        raise ValidationError({"remark": f"A remark is at most {REMARK_MAX} characters ({len(remark)} given)."})
    if "\x00" in remark:
        raise ValidationError({"remark": "A remark cannot contain NUL characters."})
    return remark


def set_remark(follower: Follower, remark: str) -> Follower:
    """/cgi-bin/user/info/updateremark, then the row."""
    remark = clean_remark(remark)
    try:
        get_client(follower.account).user.update_remark(follower.openid, remark)
    except WeChatAPIError as err:
        raise ValidationError({"remark": explain(err)}) from err
    Follower.objects.filter(pk=follower.pk).update(remark=remark, updated_at=timezone.now())
    follower.remark = remark
    return follower


def set_blacklisted(account, openids: list[str], blacklisted: bool = True) -> BatchResult:
    """Blacklist (or take off the blacklist) followers, 20 per call to WeChat."""
    client = get_client(account)
    call = client.tag.blacklist if blacklisted else client.tag.unblacklist
    return _batched(openids, BLACKLIST_BATCH, call,
                    lambda b: Follower.objects.filter(account=account, openid__in=b).update(blacklisted=blacklisted))


def sync_blacklist(account) -> int:
    """Mirror /cgi-bin/tags/members/getblacklist; return how many are blacklisted."""
    openids = set(get_client(account).tag.iter_blacklist())
    with transaction.atomic():
        Follower.objects.filter(account=account, blacklisted=True).exclude(openid__in=openids).update(
            blacklisted=False)
        for batch in chunks(sorted(openids), 500):
            Follower.objects.filter(account=account, openid__in=batch).update(blacklisted=True)
    return len(openids)
