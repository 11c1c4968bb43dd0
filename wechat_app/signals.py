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

rules_changed
    Sent when a change to an account's rules was committed and its compiled index invalidated
    (never for a change that was rolled back, such as an import preview).
    Arguments: ``sender``, ``account_id``.
"""
from django.dispatch import Signal

message_received = Signal()
reply_sent = Signal()
rules_changed = Signal()
