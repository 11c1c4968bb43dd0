"""Helpers shared by the iLink groups (accounts, login, poll)."""
import json

from django.core.management.base import CommandError

from ...models import Account, ILinkLogin


def accounts_named(names):
    """The accounts called ``names`` (None: no filter); an unknown name is an error."""
    if not names:
        return None
    found = list(Account.objects.filter(name__in=names))
    missing = sorted(set(names) - {a.name for a in found})
    if missing:
        raise CommandError(f"No account called {', '.join(missing)}.")
    return found


def login_by_session(session_id: str) -> ILinkLogin:
    import uuid

    try:
        return ILinkLogin.objects.get(session_id=uuid.UUID(str(session_id)))
    except (ValueError, ILinkLogin.DoesNotExist):
        raise CommandError(f"No login session {session_id}.") from None


def write_json(command, data) -> None:
    command.stdout.write(json.dumps(data, default=str, ensure_ascii=False))


def login_dict(login: ILinkLogin) -> dict:
    return {"session_id": str(login.session_id), "account": login.account_name, "status": login.status,
            "qrcode_content": login.qrcode_content if login.status in ILinkLogin.OPEN else "",
            "expires_at": login.expires_at.isoformat(), "error": login.error}
