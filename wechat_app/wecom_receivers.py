"""WeCom contacts follow WeCom's change_contact events (``signals.wecom_contact_changed``), each
applied exactly once (services/wecom_contacts.py)."""
from .services.wecom_contacts import on_contact_changed
from .signals import wecom_contact_changed

wecom_contact_changed.connect(on_contact_changed, dispatch_uid="wechat_app.wecom_contacts")
