"""Builders shared by the engine tests."""
from wechat_app.engine import MatchKind, RuleSpec
from wechat_app.protocol.messages import Message
from wechat_app.protocol.replies import reply_from_dict


def text(content, uid="user-1"):
    return Message(uid=uid, sp="gh_sp", type="text", create_time=1, id="1", text=content)


def voice(recognition=None):
    msg = Message(uid="user-1", sp="gh_sp", type="voice", create_time=1, id="2")
    if recognition is not None:
        msg.text = recognition
        msg.param["recognition"] = recognition
    return msg


def typed(msg_type, **param):
    return Message(uid="user-1", sp="gh_sp", type=msg_type, create_time=1, id="3", param=param)


def event(name, key=None, uid="user-1"):
    msg = Message(uid=uid, sp="gh_sp", type="event", create_time=1, event=name, event_key=key)
    msg.param.update(event=name, event_key=key)
    if key and key.startswith("qrscene_"):
        msg.param["scene"] = key[len("qrscene_"):]
    return msg


def spec(name, kind, value="", reply=None, **kwargs):
    replies = kwargs.pop("replies", None)
    if replies is None and reply is not None:
        replies = [reply]
    return RuleSpec(name=name, kind=MatchKind(kind), value=value,
                    replies=tuple(reply_from_dict(r) for r in (replies or ())), **kwargs)


def content(result):
    """The text of a result's reply (None when there is none)."""
    return None if result.reply is None else result.reply.content
