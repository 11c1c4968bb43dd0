"""Signals a project can connect to, to extend the app without subclassing it.

message_received
    Sent after an inbound message was verified and parsed, before the rules run.
    Arguments: ``sender`` (the Account class), ``account``, ``message`` (protocol.Message).

reply_sent
    Sent after the callback produced its answer (also when it is "no reply").
    Arguments: ``sender``, ``account``, ``message``, ``reply`` (protocol.Reply or None),
    ``rule_name`` (str or None), ``log`` (the MessageLog row; with LOG_BUFFER on, or when the
    database was down and the row was spooled, it is not saved yet and has no primary key: it
    reaches the database with the next drain).

wecom_contact_changed
    Sent once per change_contact event a WeCom app receives (after retries were deduplicated,
    before its rules' reply is sent): a member, department or tag was created, changed or
    deleted in the corp's directory. Arguments: ``sender`` (the Account class), ``account``,
    ``message`` (protocol.Message: ``param['change_type']`` is create_user, update_user,
    delete_user, create_party, update_party, delete_party or update_tag; ``param`` has the
    change's fields, ``raw`` all of them). Receivers run inside the callback, which WeCom
    gives 5 seconds: queue slow work (a Celery task) rather than doing it there.

rules_changed
    Sent when a change to an account's rules was committed and its compiled index invalidated
    (never for a change that was rolled back, such as an import preview).
    Arguments: ``sender``, ``account_id``.
"""
from django.dispatch import Signal

message_received = Signal()
reply_sent = Signal()
rules_changed = Signal()
wecom_contact_changed = Signal()
