"""``wechat_gateway inbox list|claim|complete|fail``: the agent inbox from the command line (the
seed's ``inbox:list`` …); the same operations as the REST API's ``agent/inbox/``."""
import json

from django.core.management import CommandError

from ...models import Account, AgentEvent
from ...services import agent


def register(subparsers):
    parser = subparsers.add_parser("inbox", help="The agent inbox: list, claim, complete or fail events.")
    actions = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))

    listing = actions.add_parser("list", help="List events (oldest first).")
    listing.add_argument("--status", default="pending", choices=[*AgentEvent.Status.values, "all"])
    listing.add_argument("--account", help="Only this account's events (its name).")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="Print JSON.")
    listing.set_defaults(handler=handle_list)

    claim = actions.add_parser("claim", help="Claim an event (the oldest pending one without --message-id).")
    claim.add_argument("--message-id", type=int, help="The event's id.")
    claim.add_argument("--worker-id", required=True)
    claim.add_argument("--lease-seconds", type=int)
    claim.add_argument("--account", help="With no --message-id: only this account's events.")
    claim.add_argument("--json", action="store_true", help="Print JSON.")
    claim.set_defaults(handler=handle_claim)

    complete = actions.add_parser("complete", help="Mark a claimed event done.")
    complete.add_argument("--message-id", type=int, required=True)
    complete.add_argument("--completion-note", default="")
    complete.add_argument("--worker-id", help="The claim must be this worker's.")
    complete.set_defaults(handler=handle_complete)

    fail = actions.add_parser("fail", help="Mark a claimed event failed.")
    fail.add_argument("--message-id", type=int, required=True)
    fail.add_argument("--error", default="failed")
    fail.add_argument("--worker-id", help="The claim must be this worker's.")
    fail.set_defaults(handler=handle_fail)


def _row(event: AgentEvent) -> dict:
    return {"id": event.pk, "account_id": event.account.name, "event_id": event.event_id, "status": event.status,
            "delivery": event.delivery, "user_id": event.user_id, "text": event.text,
            "context_token": event.context_token, "worker_id": event.worker_id, "attempts": event.attempts,
            "error": event.error, "created_at": event.created_at.isoformat()}


def _account(name):
    account = Account.objects.filter(name=name).first()
    if account is None:
        raise CommandError(f"No account named {name!r}.")
    return account


def _event(pk) -> AgentEvent:
    event = AgentEvent.objects.select_related("account").filter(pk=pk).first()
    if event is None:
        raise CommandError(f"No agent event {pk}.")
    return event


def _print(command, event, as_json):
    if as_json:
        command.stdout.write(json.dumps(_row(event), ensure_ascii=False))
    else:
        command.stdout.write(f"{event.pk}\t{event.status}\t{event.account.name}\t{event.user_id}\t{event.text[:60]}")


def handle_list(command, options):
    if not 1 <= options["limit"] <= 1000:
        raise CommandError("--limit is from 1 to 1000.")
    agent.release_expired()
    events = AgentEvent.objects.select_related("account").order_by("created_at", "id")
    if options["status"] != "all":
        events = events.filter(status=options["status"])
    if options["account"]:
        events = events.filter(account=_account(options["account"]))
    rows = list(events[:options["limit"]])
    if options["json"]:
        command.stdout.write(json.dumps([_row(e) for e in rows], ensure_ascii=False))
        return
    for event in rows:
        _print(command, event, False)
    if not rows:
        command.stdout.write(f"No {options['status']} events.")


def handle_claim(command, options):
    try:
        if options["message_id"] is not None:
            event = agent.claim(_event(options["message_id"]), options["worker_id"], options["lease_seconds"])
        else:
            account = _account(options["account"]) if options["account"] else None
            event = agent.claim_next(Account.objects.all(), options["worker_id"], options["lease_seconds"],
                                     account=account)
            if event is None:
                command.stdout.write("No pending events.")
                return
    except agent.AgentError as err:
        raise CommandError(str(err)) from None
    _print(command, event, options["json"])


def handle_complete(command, options):
    try:
        event = agent.complete(_event(options["message_id"]), options["completion_note"], options["worker_id"])
    except agent.AgentError as err:
        raise CommandError(str(err)) from None
    command.stdout.write(f"{event.pk}\t{event.status}")


def handle_fail(command, options):
    try:
        event = agent.fail(_event(options["message_id"]), options["error"], options["worker_id"])
    except agent.AgentError as err:
        raise CommandError(str(err)) from None
    command.stdout.write(f"{event.pk}\t{event.status}")
