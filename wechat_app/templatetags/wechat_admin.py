"""Template filters of the admin console (``{% load wechat_admin %}``)."""
from __future__ import annotations

from django import template

from ..admin.rules import describe_reply

register = template.Library()


@register.filter
def reply_summary(reply) -> str:
    """One line for a stored reply (a typed dict or a bare string), whatever fields it has.

    Templates must not reach into a reply's optional fields themselves: a filter argument that
    does not resolve (``default:r.media_id`` on a music reply) raises instead of rendering empty.
    """
    return describe_reply(reply)
