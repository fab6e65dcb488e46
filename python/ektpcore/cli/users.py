"""``ektpcore users``: a ledger's first administrator, its people and stations, roles."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..clock import wib_text
from ..lifecycle import Role
from .common import (
    Exit,
    Who,
    check_output,
    echo,
    failure,
    new_password,
    on_ledger,
    open_ledger,
    signed_in,
)

__all__ = ["users"]


@click.group()
def users() -> None:
    """Users of a ledger: the first administrator, persons, stations, roles.

    A ledger without users takes any name it is given (development mode); once it has an
    administrator it takes changes only from users who signed in. Passwords come from
    EKTPCORE_PASSWORD (the acting user's) and EKTPCORE_NEW_PASSWORD (a new user's), or are
    asked for without echo."""


def _as_administrator(
    ledger: str, keys: Path | None, admin: str, change: Callable[[Any, Any], Any]
) -> Any:
    """``change(ledger, actor)`` by the administrator ``admin``, signed in with a password."""
    with open_ledger(ledger, keys) as led:
        if not led.users.exist():
            raise failure(
                "this ledger has no users yet: create its administrator first"
                " (ektpcore users create-administrator)",
                Exit.DENIED,
            )
        with signed_in(led, Who(Role.ADMINISTRATOR, admin, None, None)) as actor:
            return change(led, actor)


_ADMIN_OPTION = click.option("--admin", required=True, help="The administrator acting.")
_ROLE_CHOICE = click.Choice(["auditor", "operator", "supervisor", "administrator"])


@users.command("create-administrator")
@on_ledger
@click.option("--name", required=True, help="The administrator's user name.")
def users_create_administrator(ledger: str, keys: Path | None, name: str) -> None:
    """Creates the LEDGER's first user, an administrator (only while it has none). The
    ledger leaves development mode: from then on it takes only users it signed in."""
    with open_ledger(ledger, keys) as led:
        led.users.create_administrator(name, new_password(name))
    echo(f"{name}: administrator created; the ledger now takes only signed-in users")


@users.command("add")
@on_ledger
@_ADMIN_OPTION
@click.option("--name", required=True, help="The new user's name.")
@click.option("--role", type=_ROLE_CHOICE, required=True)
def users_add(ledger: str, keys: Path | None, admin: str, name: str, role: str) -> None:
    """Adds a person, who signs in with a password."""
    password = new_password(name)  # asked before the administrator signs in
    _as_administrator(
        ledger, keys, admin, lambda led, actor: led.users.add(actor, name, role, password=password)
    )
    echo(f"{name}: {role} added")


@users.command("add-station")
@on_ledger
@_ADMIN_OPTION
@click.option("--name", required=True, help="The station's name (e.g. P1@pc-3).")
@click.option("--role", type=_ROLE_CHOICE, default="operator", show_default=True)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the token to this new file (readable by its owner only) instead of showing it.",
)
def users_add_station(
    ledger: str, keys: Path | None, admin: str, name: str, role: str, token_file: Path | None
) -> None:
    """Adds an unattended station and makes its token: shown once (or written to a new
    file), stored in the ledger only as a hash."""
    if token_file is not None:
        check_output(token_file, "a token", new=True)
    token = _as_administrator(
        ledger, keys, admin, lambda led, actor: led.users.add_station(actor, name, role)
    )
    if token_file is None:
        echo(f"{name}: station added; its token, shown this once:")
        echo(token)
        return
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token + "\n")
    echo(f"{name}: station added; its token is in {token_file}")


@users.command("grant")
@on_ledger
@_ADMIN_OPTION
@click.option("--name", required=True, help="The user whose role changes.")
@click.option("--role", type=_ROLE_CHOICE, required=True)
def users_grant(ledger: str, keys: Path | None, admin: str, name: str, role: str) -> None:
    """Gives a user another role (the one it had is revoked; it signs in again)."""
    _as_administrator(ledger, keys, admin, lambda led, actor: led.users.grant(actor, name, role))
    echo(f"{name}: now {role}")


@users.command("set-password")
@on_ledger
@_ADMIN_OPTION
@click.option("--name", required=True, help="The person whose password is replaced.")
def users_set_password(ledger: str, keys: Path | None, admin: str, name: str) -> None:
    """Gives a person a new password (EKTPCORE_NEW_PASSWORD, or asked for twice); whoever
    signed in with the old one is refused from now on."""
    password = new_password(name)  # asked before the administrator signs in
    _as_administrator(
        ledger, keys, admin, lambda led, actor: led.users.set_password(actor, name, password)
    )
    echo(f"{name}: new password set")


@users.command("disable")
@on_ledger
@_ADMIN_OPTION
@click.option("--name", required=True, help="The user to disable.")
def users_disable(ledger: str, keys: Path | None, admin: str, name: str) -> None:
    """Disables a user: no more sign-ins, and its signed-in sessions are refused at once."""
    _as_administrator(ledger, keys, admin, lambda led, actor: led.users.disable(actor, name))
    echo(f"{name}: disabled")


@users.command("list")
@on_ledger
def users_list(ledger: str, keys: Path | None) -> None:
    """Every user: name, role, person or station, and who created or disabled it when."""
    with open_ledger(ledger, keys) as led:
        found = led.users.list()
    if not found:
        echo("no users: the ledger takes any name it is given (development mode)")
    for u in found:
        made = f"created {wib_text(u.created_at)} by {u.created_by}"
        off = f", DISABLED {wib_text(u.disabled_at)} by {u.disabled_by}" if u.disabled_at else ""
        echo(f"{u.name}: {u.role.name.lower()} {u.kind}, {made}{off}")


# The audit's rows an administrator writes when deciding who runs the office: the rows a
# bureau reviews to see that every account, and every supervisor's role above all, was made
# for a person it appointed (docs/security.md#one-administrator-two-supervisors).
_USER_EVENTS = ("user created", "role granted", "password set", "user disabled")


@users.command("audit")
@on_ledger
@click.option("--name", "only", default=None, help="Only the rows about this user.")
def users_audit(ledger: str, keys: Path | None, only: str | None) -> None:
    """Every change to the ledger's users, oldest first, from the audit: users created, roles
    granted and revoked, passwords set, users disabled, each with when and by which
    administrator. Review it against the staff the office appointed: an administrator who
    creates a second supervisor can approve a two-person change alone."""
    with open_ledger(ledger, keys) as led:
        rows = [a for a in led.audit() if a.event in _USER_EVENTS]
    if only is not None:
        wanted = only.casefold()
        rows = [a for a in rows if (a.subject or "").casefold() == wanted]
    if not rows:
        echo("no change to users in the audit")
    for a in rows:
        # The secret's mark says nothing to a reader; the rest of the detail does.
        detail = (a.detail or "").split("; secret ")[0]
        echo(f"{wib_text(a.at)} {a.actor} ({a.role.lower()}): {a.event} {a.subject}: {detail}")
