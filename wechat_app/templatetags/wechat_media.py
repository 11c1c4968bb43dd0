"""``{% material_preview media_id account %}``: the library's copy of a reply's media (a picture, a
voice or a video player) in the reply bubbles of the simulator, the log and the conversation.
Empty when the id is not in the account's library (a raw or temporary id): the id still shows."""
from django import template

register = template.Library()


@register.simple_tag
def material_preview(media_id, account=None):
    from ..admin.media import material_html
    from ..models import Material

    account_id = getattr(account, "pk", account)
    if not media_id or not account_id:
        return ""
    material = Material.objects.filter(account_id=account_id, media_id=str(media_id)).exclude(local_path="").first()
    if material is None:
        return ""
    return material_html(material, 200)
