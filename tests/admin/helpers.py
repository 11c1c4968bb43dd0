"""Build admin POST data for the rule form (main form, typed replies, follow-up inline)."""
import json

ADD_URL = "/admin/wechat_app/rule/add/"


def reply_fields(prefix, replies):
    data = {f"{prefix}-TOTAL_FORMS": str(len(replies)), f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "20"}
    for i, reply in enumerate(replies):
        for key, value in reply.items():
            if key == "articles":
                value = json.dumps(value)
            data[f"{prefix}-{i}-{key}"] = value
    return data


def rule_post(account, name="greet", *, match_kind="contains", match_value="hello", replies=None,
              no_reply=False, follow_ups=(), **extra):
    replies = [{"type": "text", "content": "Hi there"}] if replies is None else replies
    data = {
        "account": str(account.pk), "name": name, "description": "", "priority": "0", "enabled": "on",
        "match_kind": match_kind, "match_value": match_value, "match_key": "", "match_flags": "",
        "follow_up_timeout": "", "follow_up_retries": "0",
        "follow_ups-TOTAL_FORMS": str(len(follow_ups)), "follow_ups-INITIAL_FORMS": "0",
        "follow_ups-MIN_NUM_FORMS": "0", "follow_ups-MAX_NUM_FORMS": "1000",
    }
    if no_reply:
        data["no_reply"] = "on"
    data.update(reply_fields("replies", replies))
    for i, follow_up in enumerate(follow_ups):
        follow_up = dict(follow_up)
        fu_replies = follow_up.pop("replies", [{"type": "text", "content": "ok"}])
        base = {"name": "", "priority": "0", "enabled": "on", "match_kind": "contains", "match_value": "",
                "match_key": "", "match_flags": ""}
        base.update(follow_up)
        for key, value in base.items():
            if key == "no_reply":
                if value:
                    data[f"follow_ups-{i}-no_reply"] = "on"
                continue
            data[f"follow_ups-{i}-{key}"] = value
        data.update(reply_fields(f"follow_ups-{i}-replies", fu_replies))
    for key, value in extra.items():
        data[key] = value
    return data


def field_errors(response, field):
    """The errors the admin shows next to one field of the main form."""
    form = response.context["adminform"].form
    return [str(e) for e in form.errors.get(field, [])]


def reply_errors(response, index=0, field=None):
    form = response.context["adminform"].form.reply_formset.forms[index]
    if field is None:
        return [str(e) for e in form.non_field_errors()]
    return [str(e) for e in form.errors.get(field, [])]
