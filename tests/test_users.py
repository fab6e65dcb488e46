"""Users, sign-in, the permission table and two-person changes, on both stores.

A ledger without users takes self-declared actors (development mode, as every other test
here uses); once it has an administrator, only actors it signed in act, in any process, until
their user is disabled or given another role."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import itertools
import os
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import ektpcore
from ektpcore import (
    PERMISSIONS,
    Actor,
    ApprovalRequiredError,
    AuthenticationError,
    BlankState,
    InvalidArgumentError,
    Ledger,
    Permission,
    PermissionDeniedError,
    Role,
    State,
    _ektpcore,
    permits,
)
from ektpcore.cli import main
from ektpcore.console.security import Sessions
from ektpcore.errors import SealedDataError
from ektpcore.keys import KeyFile
from ektpcore.ledger import Session, chain
from ektpcore.ledger.users import hash_password

from .conftest import staff

PASSWORDS = {
    "root": "root's long password",
    "ani": "ani's long password",
    "budi": "budi's long password",
    "citra": "citra's long password",
    "dewi": "dewi's long password",
}
ROLES = {
    "root": Role.ADMINISTRATOR,
    "ani": Role.OPERATOR,
    "budi": Role.SUPERVISOR,
    "citra": Role.SUPERVISOR,
    "dewi": Role.AUDITOR,
}
NIKS = iter(str(v) for v in ektpcore.sample_niks(400, seed=9))


@dataclasses.dataclass
class Office:
    """A ledger with users, each signed in."""

    ledger: Ledger
    location: str
    actors: dict[str, Actor]

    def __getitem__(self, name: str) -> Actor:
        return self.actors[name]


@pytest.fixture
def office(ledger_location: str) -> Iterator[Office]:
    with Ledger(ledger_location) as ledger:
        actors = staff(ledger, ROLES, PASSWORDS)
        ledger.blanks.receive("LOT-1", 1, 200, actors["budi"])
        yield Office(ledger, ledger_location, actors)


def _snapshot(ledger: Ledger) -> tuple[Any, ...]:
    return (
        ledger.counts(),
        ledger.blanks.counts(),
        ledger._query("SELECT count(*) FROM history"),
        # Every change but the sign-ins, which the audit keeps whether they succeed or not.
        ledger._query(
            "SELECT count(*) FROM audit WHERE event NOT IN ('signed in', 'sign-in refused')"
        ),
        ledger.claims.all(),
    )


def _record(office: Office, state: State = State.PRINT_READY) -> str:
    """A new record walked to ``state`` by a supervisor."""
    led, sup = office.ledger, office["budi"]
    nik = next(NIKS)
    if state in (State.SENT_FOR_ENROLMENT, State.DUPLICATE_RECORD):
        led.add_records([nik], sup, state=State.SENT_FOR_ENROLMENT)
        if state is State.DUPLICATE_RECORD:
            led.transition([nik], state, sup)
        return nik
    led.add_records([nik], sup, state=State.PRINT_READY)
    if state is State.ON_HOLD:
        led.transition([nik], state, sup, reason="photo unclear")
    if state in (State.PRINT_READY, State.ON_HOLD):
        return nik
    batch = f"B-{nik[-6:]}"
    serials = led.blanks.allocate(batch, 1, sup)
    led.transition([nik], State.QUEUED, sup, batch=batch)
    led.transition([nik], State.PRINTED, sup, batch=batch, blanks=serials)
    path = [
        State.ENCODED,
        State.QC_PASSED,
        State.IN_TRANSIT_TO_KECAMATAN,
        State.AT_KECAMATAN,
        State.ISSUED,
    ]
    for step in path[: path.index(state) + 1] if state in path else []:
        led.transition([nik], step, sup)
    return nik


# -- signing in -------------------------------------------------------------------------------


def test_a_signed_in_user_acts_under_its_own_name_and_role(office: Office) -> None:
    led, ani = office.ledger, office["ani"]
    assert (ani.name, ani.role) == ("ani", Role.OPERATOR)
    assert ani.credential is not None
    assert ani.credential not in repr(ani)
    nik = _record(office)
    led.transition([nik], State.ON_HOLD, ani, reason="citizen asked to wait")
    last = led.history(nik)[-1]
    assert (last.actor, last.role) == ("ani", "OPERATOR")
    # The name is the user's whatever case it was typed in; the password is hashed with
    # Argon2id, its salt and parameters kept with it, a new salt for every user.
    assert led.sign_in("ANI", PASSWORDS["ani"]).name == "ani"
    stored = [row[0] for row in led._query("SELECT secret FROM users WHERE kind = 'person'")]
    assert all(s.startswith("$argon2id$v=19$m=65536,t=3,p=4$") for s in stored)
    assert not any(PASSWORDS[name] in s for s in stored for name in PASSWORDS)
    assert len({s.split("$")[4] for s in stored}) == len(stored)
    assert led.verify().ok


def test_a_wrong_password_and_an_unknown_user_are_refused_alike(office: Office) -> None:
    led = office.ledger
    with pytest.raises(AuthenticationError) as wrong:
        led.sign_in("ani", "not ani's password")
    with pytest.raises(AuthenticationError) as unknown:
        led.sign_in("nobody", PASSWORDS["ani"])
    with pytest.raises(AuthenticationError) as empty:
        led.sign_in("ani", "")
    assert str(wrong.value) == str(unknown.value) == str(empty.value)
    assert "ani" not in str(wrong.value)
    assert "nobody" not in str(unknown.value)


def test_a_disabled_user_is_refused_everywhere_at_once(office: Office) -> None:
    led, root, ani = office.ledger, office["root"], office["ani"]
    nik = _record(office)
    other = Ledger(office.location, create=False)  # another connection: a second station
    led.users.disable(root, "ani")
    before = _snapshot(led)
    for where in (led, other):
        with pytest.raises(AuthenticationError, match="ani is disabled"):
            where.transition([nik], State.ON_HOLD, ani, reason="late")
    with pytest.raises(AuthenticationError, match="ani is disabled"):
        led.sign_in("ani", PASSWORDS["ani"])
    assert _snapshot(led) == before
    assert [u.active for u in led.users.list() if u.name == "ani"] == [False]
    other.close()


def test_an_actor_the_ledger_did_not_sign_in_is_refused_before_anything_is_written(
    office: Office, tmp_path: Path
) -> None:
    led, budi = office.ledger, office["budi"]
    nik = _record(office)
    with Ledger(tmp_path / "other.db") as other:  # another ledger's users and sessions
        other.users.create_administrator("budi", PASSWORDS["budi"])
        foreign = other.sign_in("budi", PASSWORDS["budi"])
    refused = [
        Actor("budi", Role.SUPERVISOR),  # self-declared, a real user's name
        Actor("boss", Role.SUPERVISOR),  # self-declared, nobody
        Actor("budi", Role.SUPERVISOR, credential="made-up"),
        dataclasses.replace(foreign, role=Role.SUPERVISOR),
        dataclasses.replace(office["ani"], role=Role.SUPERVISOR),  # a raised role
        dataclasses.replace(budi, name="citra"),  # another user's name
    ]
    before = _snapshot(led)
    for actor in refused:
        with pytest.raises(AuthenticationError, match=r"(?i)nothing was changed"):
            led.transition([nik], State.CANCELLED, actor, reason="registered twice")
        with pytest.raises(AuthenticationError):
            led.blanks.receive("LOT-X", 500, 510, actor)
    assert _snapshot(led) == before
    # A role granted since signing in: the old credential is stale until the user signs in.
    led.users.grant(office["root"], "ani", Role.SUPERVISOR)
    with pytest.raises(AuthenticationError, match="sign in again"):
        led.transition([nik], State.ON_HOLD, office["ani"], reason="photo unclear")
    again = led.sign_in("ani", PASSWORDS["ani"])
    led.transition([nik], State.CANCELLED, again, reason="registered twice")
    # Signing out ends a credential.
    led.sign_out(again)
    with pytest.raises(AuthenticationError, match="sign in again"):
        led.blanks.allocate("B-9", 1, again)


def test_without_users_a_ledger_takes_self_declared_actors(ledger_location: str) -> None:
    """Development mode: every ledger until its first administrator, and this test suite."""
    with Ledger(ledger_location) as led:
        assert not led.users.exist()
        nik = next(NIKS)
        led.add_records([nik], Actor("ani", Role.OPERATOR), state=State.PRINT_READY)
        with pytest.raises(AuthenticationError, match="create_administrator"):
            led.users.add(Actor("root", Role.ADMINISTRATOR), "x", "operator", password="p" * 12)
        led.users.create_administrator("root", PASSWORDS["root"])
        with pytest.raises(PermissionDeniedError, match="has users already"):
            led.users.create_administrator("eve", "eve's long password")
        with pytest.raises(AuthenticationError, match="not signed in"):
            led.transition([nik], State.ON_HOLD, Actor("ani", Role.OPERATOR), reason="x")
        assert [(e.event, e.subject) for e in led.audit()] == [
            ("users introduced", None),
            ("ledger identified", None),
            ("user created", "root"),
        ]


def test_a_signed_in_actor_keeps_its_credential_like_a_key(office: Office) -> None:
    led, root = office.ledger, office["root"]
    token = led.users.add_station(root, "P2@pc-4")
    for actor in (office["ani"], led.sign_in_station(token)):
        secret = actor.credential
        assert secret
        assert secret not in repr(actor)
        assert secret not in str(actor)
        with pytest.raises(TypeError):
            vars(actor)  # no __dict__ to show it in
        assert not hasattr(actor, "__dict__")
        for attempt in (
            lambda a: pickle.dumps(a),
            lambda a: pickle.dumps(a, protocol=0),
            copy.copy,
            copy.deepcopy,
            lambda a: copy.deepcopy({"who": a}),
        ):
            with pytest.raises(TypeError, match="credential") as refused:
                attempt(actor)
            assert secret not in str(refused.value)
        # Whatever holds a signed-in actor (a print station, a queue's item) refuses too.
        with pytest.raises(TypeError, match="credential"):
            pickle.dumps([actor])
        # Handed on purpose, it acts.
        again = Actor(actor.name, actor.role, actor.credential)
        assert again == actor
    # A console's session holds the actor and the browser's key: shown and copied as little.
    session = Sessions().start(office["ani"])
    for secret in (session.key, session.csrf, office["ani"].credential):
        assert secret is not None
        assert secret not in repr(session)
    for attempt in (vars, pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            attempt(session)
    # A declared actor holds nothing secret: it travels as before.
    declared = Actor("ani", Role.OPERATOR)
    assert pickle.loads(pickle.dumps(declared)) == declared
    assert copy.deepcopy(declared) == declared


# -- another process --------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys
    from ektpcore import Actor, AuthenticationError, Ledger, State

    location, nik = sys.argv[1], sys.argv[2]
    with Ledger(location, create=False) as led:
        if "EKTPCORE_STATION_TOKEN" in os.environ:
            actor = led.sign_in_station(os.environ["EKTPCORE_STATION_TOKEN"])
        else:
            name, role, credential = os.environ["ACTOR"].split(":", 2)
            actor = Actor(name, role, credential)
        try:
            if "EKTPCORE_STATION_TOKEN" in os.environ:  # a station writes under its claim
                claim = led.claims.claim(os.environ["BATCH"], actor.name, actor)
                with led.claims.under(claim, actor) as tx:
                    tx.transition([nik], State(sys.argv[3]), reason="from another process")
            else:
                led.transition([nik], State(sys.argv[3]), actor, reason="from another process")
        except AuthenticationError as err:
            print("refused:", err)
            sys.exit(3)
        print("done by", actor.name, actor.role.name)
    """
)


def _child(location: str, nik: str, target: State, **env: str) -> subprocess.CompletedProcess[str]:
    python = str(Path(ektpcore.__file__).parent.parent)
    environ = {k: v for k, v in os.environ.items() if k not in ("EKTPCORE_STATION_TOKEN",)}
    environ |= {"PYTHONPATH": python, **env}
    return subprocess.run(
        [sys.executable, "-c", CHILD, location, nik, target.value],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_station_token_and_a_signed_in_actor_work_in_another_process(office: Office) -> None:
    led, root = office.ledger, office["root"]
    token = led.users.add_station(root, "P1@pc-3")
    assert token not in str(led._query("SELECT * FROM users"))  # stored only as a hash
    first, second = _record(office), _record(office)
    led.queue([first], "B-child", "P1", office["ani"])
    # A station takes a card out of its batch (as after a spoiled attempt).
    done = _child(
        office.location, first, State.PRINT_READY, EKTPCORE_STATION_TOKEN=token, BATCH="B-child"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "by", "P1@pc-3", "OPERATOR"]
    last = led.history(first)[-1]
    assert (last.actor, last.role, last.target) == ("P1@pc-3", "OPERATOR", State.PRINT_READY)
    # The actor a person signed in to here, handed to a worker process on purpose (an actor
    # holding a credential is not pickled).
    ani = office["ani"]
    assert ani.credential is not None
    handed = f"{ani.name}:{ani.role.name}:{ani.credential}"
    done = _child(office.location, second, State.ON_HOLD, ACTOR=handed)
    assert done.returncode == 0, done.stderr
    assert led.history(second)[-1].actor == "ani"
    # Disabled here: refused there at once, and the token no longer signs in.
    led.users.disable(root, "ani")
    led.users.disable(root, "P1@pc-3")
    refused = _child(office.location, second, State.PRINT_READY, ACTOR=handed)
    assert (refused.returncode, refused.stdout.strip()) == (
        3,
        "refused: user ani is disabled; nothing was changed",
    )
    with pytest.raises(AuthenticationError, match="is disabled"):
        led.sign_in_station(token)
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        led.sign_in_station(token[:-2] + "xx")
    assert led.state_of(second) is State.ON_HOLD


def test_a_print_station_runs_signed_in_and_its_heartbeat_too(office: Office) -> None:
    """A station signed in with its token prints; its heartbeat renews the claim from a
    connection of its own, in another thread, with the same actor. A self-declared operator
    is refused before any card is sent."""
    import threading

    import numpy as np

    from ektpcore.printing import CardFaces, PrintStation, TcpTransport, VirtualPrinter

    led = office.ledger
    token = led.users.add_station(office["root"], "P1@pc-3")
    niks = [_record(office) for _ in range(3)]
    led.ribbons.install("P1", "YMCKOK", 100, office["ani"])
    led.queue(niks, "B-7", "P1", office["ani"])
    rgb = np.full((648, 1016, 3), 220, dtype=np.uint8)
    black = np.full((648, 1016), 255, dtype=np.uint8)

    def station(actor: Actor, printer: VirtualPrinter) -> PrintStation:
        return PrintStation(
            led,
            printer="P1",
            connect=lambda: TcpTransport(*printer.address, timeout=10),
            faces=lambda _: CardFaces(front=rgb, front_black=black, back_black=black),
            actor=actor,
            reply_timeout=10,
        )

    signed_in = led.sign_in_station(token)
    with VirtualPrinter() as printer:
        with pytest.raises(AuthenticationError):
            station(Actor("P1@pc-3", Role.OPERATOR), printer).run("B-7")
        assert printer.cards == []
        report = station(signed_in, printer).run("B-7")
    assert sorted(report.printed) == sorted(int(n) for n in niks)
    assert {led.history(n)[-1].actor for n in niks} == {"P1@pc-3"}
    # The heartbeat's own connection, in its own thread, takes the same actor.
    led.queue([_record(office)], "B-8", "P1", office["ani"])
    claim = led.claims.claim("B-8", "P1@pc-3", signed_in)
    renewed: list[ektpcore.Claim] = []

    def beat() -> None:
        own = led.reopen()
        assert own is not None
        with own:
            renewed.append(own.claims.renew(claim, signed_in))

    thread = threading.Thread(target=beat)
    thread.start()
    thread.join()
    assert [c.generation for c in renewed] == [claim.generation]
    assert led.verify().ok


# -- the permission table ---------------------------------------------------------------------

_ids = itertools.count(1)


def _actions() -> dict[Permission, Callable[[Office, Actor], object]]:
    """One change per permission: prepared by a supervisor, made by the actor tested."""

    def receive(o: Office, a: Actor) -> object:
        first = 1000 + 100 * next(_ids)
        return o.ledger.blanks.receive(f"LOT-{first}", first, first + 9, a)

    def void(o: Office, a: Actor) -> object:
        serial = 50_000 + next(_ids)
        o.ledger.blanks.receive(f"V-{serial}", serial, serial, o["budi"])
        o.ledger.blanks.move([serial], BlankState.VOIDED, a, reason="test card")
        return serial

    def settle(o: Office, a: Actor) -> object:
        batch = f"B-S{next(_ids)}"
        o.ledger.claims.claim(batch, "P1@pc-1", o["ani"])
        return o.ledger.claims.release(batch, a, reason="pc-1 died")

    def claim(o: Office, a: Actor) -> object:
        batch = f"B-P{next(_ids)}"
        o.ledger.queue([_record(o)], batch, "P1", o["ani"])  # a station claims what it prints
        return o.ledger.claims.claim(batch, "P1@pc-1", a)

    def approve(o: Office, a: Actor) -> object:
        nik = _record(o, State.ISSUED)
        request = o.ledger.approvals.request(nik, State.PRINT_READY, o["citra"], reason="lost")
        return o.ledger.approvals.approve(request.id, a)

    def move(source: State, target: State) -> Callable[[Office, Actor], object]:
        def change(o: Office, a: Actor) -> object:
            return o.ledger.transition([_record(o, source)], target, a, reason="asked")

        return change

    return {
        Permission.ENROL: lambda o, a: o.ledger.add_records([next(NIKS)], a),
        Permission.RECEIVE_BLANKS: receive,
        Permission.INSTALL_RIBBON: lambda o, a: o.ledger.ribbons.install("P1", "YMCKO", 500, a),
        Permission.QUEUE: lambda o, a: o.ledger.blanks.allocate(f"B-{next(_ids)}", 1, a),
        Permission.PRINT: claim,
        Permission.HOLD: move(State.PRINT_READY, State.ON_HOLD),
        Permission.RELEASE_HOLD: move(State.ON_HOLD, State.PRINT_READY),
        Permission.CANCEL: move(State.PRINT_READY, State.CANCELLED),
        Permission.CLEAR_DUPLICATE: move(State.DUPLICATE_RECORD, State.BIO_CAPTURED),
        Permission.REQUEST_REPRINT: lambda o, a: o.ledger.approvals.request(
            _record(o, State.ISSUED), State.PRINT_READY, a, reason="lost"
        ),
        Permission.APPROVE_REPRINT: approve,
        Permission.VOID: void,
        Permission.SETTLE: settle,
        Permission.HAND_OVER: lambda o, a: o.ledger.distribution.hand_over(
            _record(o, State.AT_KECAMATAN), a, identity_check="KK + photo"
        ),
        Permission.DISTRIBUTE: lambda o, a: o.ledger.distribution.build(a),
        Permission.MANAGE_USERS: lambda o, a: o.ledger.users.add(
            a, f"user {next(_ids)}", Role.AUDITOR, password="a long password"
        ),
    }


_BY_ROLE = {
    Role.ADMINISTRATOR: "root",
    Role.OPERATOR: "ani",
    Role.SUPERVISOR: "budi",
    Role.AUDITOR: "dewi",
}


def test_the_permission_table_is_what_the_ledger_enforces(office: Office) -> None:
    actions = _actions()
    # Every permission that changes something is tried (reads take no actor).
    assert set(actions) == set(Permission) - {Permission.READ}
    led = office.ledger
    # Each role as a person, and an unattended station's token (an operator, and an auditor).
    tried = [(role, office[name], False) for role, name in _BY_ROLE.items()]
    for role in (Role.OPERATOR, Role.AUDITOR):
        token = led.users.add_station(office["root"], f"P-{role.name}@pc-1", role)
        tried.append((role, led.sign_in_station(token), True))
    wrong = []
    for permission, action in actions.items():
        for role, actor, station in tried:
            allowed = permits(role, permission, station=station)
            try:
                action(office, actor)
                outcome = True
            except PermissionDeniedError:
                outcome = False
            if outcome != allowed:
                done = "done" if outcome else "refused"
                wrong.append((permission.name, role.name, station, done))
    assert wrong == []
    assert office.ledger.verify().ok
    # Least privilege, as documented.
    assert PERMISSIONS[Permission.MANAGE_USERS] == {Role.ADMINISTRATOR}
    assert PERMISSIONS[Permission.RECEIVE_BLANKS] == {Role.SUPERVISOR}
    assert {p for p in Permission if permits(Role.ADMINISTRATOR, p)} == {
        Permission.READ,
        Permission.MANAGE_USERS,
    }
    assert {p for p in Permission if permits(Role.AUDITOR, p)} == {Permission.READ}
    # An unattended station prints the batches people queue, and does nothing else.
    assert {p for p in Permission if permits(Role.OPERATOR, p, station=True)} == {
        Permission.READ,
        Permission.PRINT,
    }
    # Every rule of the lifecycle names a permission of the table.
    assert {t.permission for t in ektpcore.TRANSITIONS.values()} <= set(PERMISSIONS)


# -- two-person changes -----------------------------------------------------------------------


def test_stations_are_not_people_for_two_person_rules(office: Office) -> None:
    led = office.ledger
    nik = _record(office, State.ISSUED)
    token = led.users.add_station(office["root"], "S5@pc-9")
    station = led.sign_in_station(token)
    with pytest.raises(PermissionDeniedError, match="is an unattended station"):
        led.approvals.request(nik, State.PRINT_READY, station, reason="lost on the way")
    request = led.approvals.request(nik, State.PRINT_READY, office["budi"], reason="lost")
    with pytest.raises(PermissionDeniedError, match="approve a reprint"):
        led.approvals.approve(request.id, station)
    assert led.state_of(nik) is State.ISSUED


def test_a_reprint_takes_a_request_and_another_supervisors_approval(office: Office) -> None:
    led, ani, budi, citra = office.ledger, office["ani"], office["budi"], office["citra"]
    nik = _record(office, State.ISSUED)
    serial = led.where_is(nik).card_serial
    assert serial is not None
    with pytest.raises(ApprovalRequiredError, match="two people"):
        led.transition([nik], State.PRINT_READY, budi, reason="lost, police letter 12/XI")
    with pytest.raises(PermissionDeniedError, match="request a reprint"):
        led.approvals.request(nik, State.PRINT_READY, office["dewi"], reason="lost")
    with pytest.raises(ektpcore.IllegalTransitionError, match="needs a reason"):
        led.approvals.request(nik, State.PRINT_READY, budi, reason=" \u200b ")
    request = led.approvals.request(nik, State.PRINT_READY, budi, reason="lost, police letter")
    assert led.approvals.waiting() == [request]
    with pytest.raises(InvalidArgumentError, match="waiting already"):
        led.approvals.request(nik, State.PRINT_READY, ani, reason="lost")
    before = _snapshot(led)
    with pytest.raises(ApprovalRequiredError, match="another person"):
        led.approvals.approve(request.id, budi)  # the requester
    with pytest.raises(PermissionDeniedError, match="approve a reprint"):
        led.approvals.approve(request.id, ani)  # not a supervisor
    assert _snapshot(led) == before
    approved = led.approvals.approve(request.id, citra, note="letter seen")
    assert (approved.outcome, approved.decided_by) == ("approved", "citra")
    assert led.state_of(nik) is State.PRINT_READY
    last = led.history(nik)[-1]
    assert (last.actor, last.role) == ("citra", "SUPERVISOR")
    assert last.reason == "lost, police letter (requested by budi, approved by citra)"
    assert led.where_is(nik).card_serial is None  # the lost card is no longer valid
    assert led.blanks.state_of(serial) is BlankState.USED
    with pytest.raises(InvalidArgumentError, match="approved already"):
        led.approvals.approve(request.id, office["citra"])
    events = [(e.event, e.actor) for e in led.audit()][-2:]
    assert events == [("approval requested", "budi"), ("approval granted", "citra")]
    assert led.verify().ok


def test_cancelling_a_printed_card_takes_two_people_and_voids_it(office: Office) -> None:
    led, budi, citra = office.ledger, office["budi"], office["citra"]
    nik = _record(office, State.QC_PASSED)
    serial = led.where_is(nik).card_serial
    assert serial is not None
    with pytest.raises(ApprovalRequiredError):
        led.transition([nik], State.CANCELLED, budi, reason="died before hand-over")
    request = led.approvals.request(nik, State.CANCELLED, budi, reason="died before hand-over")
    refused = led.approvals.refuse(request.id, citra, note="death certificate missing")
    assert refused.outcome == "refused"
    assert led.state_of(nik) is State.QC_PASSED
    request = led.approvals.request(nik, State.CANCELLED, budi, reason="died, certificate 4/XI")
    led.approvals.approve(request.id, citra)
    assert led.state_of(nik) is State.CANCELLED
    assert led.blanks.state_of(serial) is BlankState.VOIDED
    # A record without a printed card is cancelled by one supervisor, as before.
    plain = _record(office)
    led.transition([plain], State.CANCELLED, budi, reason="registered twice")
    assert led.verify().ok


# The approvals table edited behind the ledger's back to get round the two-person rule, as
# someone with write access to the database could: ``(SQL, who then tries to approve)``. Each
# statement takes the request's id, another ISSUED record's id and another request's id.
_FORGED_REQUESTS = {
    # The requester renamed, so that the requester approves the request himself.
    "requester renamed": (
        "UPDATE approvals SET requested_by = 'citra' WHERE id = ? AND ? > 0 AND ? > 0",
        "budi",
    ),
    # A request nobody asked for, its reason copied from a real one, for another record.
    "request written in": (
        "INSERT INTO approvals (record_id, from_state, to_state, reason, requested_at,"
        " requested_by, requested_role) SELECT ?, from_state, to_state, reason,"
        " requested_at, 'citra', 'SUPERVISOR' FROM approvals WHERE id = ? AND ? > 0",
        "budi",
    ),
    # The request moved to another citizen's record: that one would be reprinted.
    "record changed": ("UPDATE approvals SET record_id = ? WHERE id = ? AND ? > 0", "citra"),
    # Another request's reason (a police letter) put on this one.
    "reason moved": (
        "UPDATE approvals SET reason = (SELECT reason FROM approvals WHERE id = ?)"
        " WHERE id = ? AND ? > 0",
        "citra",
    ),
}


def _forge(edit: str, request: int, other_record: int, other_request: int) -> tuple[Any, ...]:
    """The parameters of ``edit``'s statement, in the order it names them."""
    if edit == "request written in":
        return (other_record, request, 1)
    if edit == "record changed":
        return (other_record, request, 1)
    if edit == "reason moved":
        return (other_request, request, 1)
    return (request, 1, 1)


@pytest.mark.parametrize("edit", list(_FORGED_REQUESTS))
def test_an_approvals_table_edited_behind_the_ledgers_back_approves_nothing(
    office: Office, tamper: Any, edit: str
) -> None:
    """Who asked for a two-person change is what the audit says, not the approvals table:
    an approval of a request the audit does not explain is refused, and verify() names it."""
    led, budi = office.ledger, office["budi"]
    nik, other = _record(office, State.ISSUED), _record(office, State.ISSUED)
    elsewhere = _record(office, State.QC_PASSED)
    request = led.approvals.request(nik, State.PRINT_READY, budi, reason="lost")
    letter = led.approvals.request(elsewhere, State.CANCELLED, budi, reason="police letter 7")
    assert led.verify().ok
    (other_id,) = led._query("SELECT id FROM records WHERE nik = ?", (int(other),))[0]
    sql, approver = _FORGED_REQUESTS[edit]
    tamper(sql, _forge(edit, request.id, int(other_id), letter.id))
    forged = request.id
    if edit == "request written in":
        forged = max(a.id for a in led.approvals.waiting())
    before = _snapshot(led)
    with pytest.raises(ApprovalRequiredError, match=f"request {forged}.*not decided"):
        led.approvals.approve(forged, office[approver])
    assert _snapshot(led) == before
    assert (led.state_of(nik), led.state_of(other)) == (State.ISSUED, State.ISSUED)
    report = led.verify()
    assert not report.ok
    named = [f for f in report.findings if f.table == "approvals"]
    expected = {
        "requester renamed": f"request {forged} names citra (supervisor) as its requester but"
        " the audit says budi (supervisor)",
        "request written in": f"request {forged} is not in the audit: it was written outside"
        " the ledger",
        "record changed": f"request {forged} concerns record {other_id} but the audit says record",
        "reason moved": f"request {forged}'s reason is not the one the audit recorded",
    }[edit]
    assert len(named) == 1
    assert (named[0].row, named[0].problem.startswith(expected)) == (f"request {forged}", True)
    if edit != "request written in":  # the audit's row of the request
        assert named[0].seq is not None
        assert led.audit()[-1].event == "approval requested"


def test_a_decision_undone_or_a_request_deleted_behind_the_ledgers_back_is_named(
    office: Office, tamper: Any
) -> None:
    led, budi, citra = office.ledger, office["budi"], office["citra"]
    nik, gone = _record(office, State.ISSUED), _record(office, State.ISSUED)
    refused = led.approvals.request(nik, State.PRINT_READY, budi, reason="lost")
    led.approvals.refuse(refused.id, citra, note="no police letter")
    deleted = led.approvals.request(gone, State.PRINT_READY, budi, reason="lost too")
    tamper(
        "UPDATE approvals SET decided_at = NULL, decided_by = NULL, decided_role = NULL,"
        " outcome = NULL, note = NULL WHERE id = ?",
        (refused.id,),
    )
    tamper("DELETE FROM approvals WHERE id = ?", (deleted.id,))
    # The refused request, waiting again, is not approved by the one who refused it either.
    with pytest.raises(ApprovalRequiredError, match="the audit says refused by citra"):
        led.approvals.approve(refused.id, citra)
    assert led.state_of(nik) is State.ISSUED
    problems = [f.problem for f in led.verify().findings if f.table == "approvals"]
    assert problems == [
        f"request {refused.id} is waiting but the audit says refused by citra",
        f"request {deleted.id} is in the audit but not in the approvals table",
    ]


def test_a_sealed_ledgers_requests_are_held_to_the_audit_too(
    ledger_location: str, tmp_path: Path, tamper: Any
) -> None:
    """The reason of a sealed request is bound to its request: moved to another one it does
    not open, so the request cannot be decided, and verify() names it."""
    keys = KeyFile.create(tmp_path / "ledger.keys")
    with Ledger(ledger_location, keys=keys) as led:
        led.users.create_administrator("root", PASSWORDS["root"])
        root = led.sign_in("root", PASSWORDS["root"])
        for name in ("budi", "citra"):
            led.users.add(root, name, Role.SUPERVISOR, password=PASSWORDS[name])
        budi = led.sign_in("budi", PASSWORDS["budi"])
        niks = [next(NIKS), next(NIKS)]
        led.add_records(niks, budi, state=State.PRINT_READY)
        led.blanks.receive("LOT-1", 1, 10, budi)
        serials = led.blanks.allocate("B-1", 2, budi)
        led.transition(niks, State.QUEUED, budi, batch="B-1")
        led.transition(niks, State.PRINTED, budi, batch="B-1", blanks=serials)
        asked = [
            led.approvals.request(nik, State.CANCELLED, budi, reason=reason)
            for nik, reason in zip(niks, ["died, certificate 4/XI", "moved abroad"], strict=True)
        ]
        assert led.verify().ok
        tamper(
            "UPDATE approvals SET reason = (SELECT reason FROM approvals WHERE id = ?)"
            " WHERE id = ?",
            (asked[0].id, asked[1].id),
        )
        with pytest.raises(SealedDataError, match=r"approvals\.reason does not open"):
            led.approvals.get(asked[1].id)
        assert led.approvals.get(asked[0].id).reason == "died, certificate 4/XI"
        citra = led.sign_in("citra", PASSWORDS["citra"])
        with pytest.raises(SealedDataError):
            led.approvals.approve(asked[1].id, citra)
        assert led.state_of(niks[1]) is State.PRINTED
        (finding,) = [f for f in led.verify().findings if f.table == "approvals"]
        assert finding.problem == (
            f"approvals id {asked[1].id}: its sealed reason does not open with the ledger's"
            " keys (altered, or moved from another row)"
        )
        # The audit keeps a keyed mark of the reason, never the reason.
        details = " ".join(str(e.detail) for e in led.audit())
        assert "died" not in details
        assert "abroad" not in details


# -- names, roles and passwords ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "   ", "\u200b", "ani\u200b", "a\u200dni", "ani\n", " ani", "an  i", "a\tni"]
)
def test_invisible_or_blank_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        Actor(name, Role.OPERATOR)


@pytest.mark.parametrize("name", ["\u0430ni", "bud\u0456", "\u03bfperator 2", "P1@p\u0441-4"])
def test_names_mixing_look_alike_scripts_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="scripts"):
        Actor(name, Role.OPERATOR)


@pytest.mark.parametrize(
    "name", ["Ani Suryani", "P1@pc-4", "\u0421\u0435\u0440\u0433\u0435\u0439", "Ny. Siti 2"]
)
def test_names_in_one_script_are_taken(name: str) -> None:
    assert Actor(name, Role.OPERATOR).name == name


@pytest.mark.parametrize("role", [True, 1.0, "boss", 7, None, "super visor"])
def test_a_role_is_a_role(role: object) -> None:
    with pytest.raises(InvalidArgumentError, match="a role is one of"):
        Actor("ani", role)  # type: ignore[arg-type]


def test_users_names_and_passwords_are_checked(office: Office) -> None:
    led, root = office.ledger, office["root"]
    with pytest.raises(InvalidArgumentError, match="at least 12"):
        led.users.add(root, "eko", Role.OPERATOR, password="short")
    with pytest.raises(InvalidArgumentError, match="not only blanks"):
        led.users.add(root, "eko", Role.OPERATOR, password="\u200b" * 20)
    with pytest.raises(InvalidArgumentError, match="invisible"):
        led.users.add(root, "an\u200bi", Role.SUPERVISOR, password="a long password")
    with pytest.raises(InvalidArgumentError, match="names its batch and its station"):
        led.claims.claim("B-1", "\u200b", office["ani"])
    with pytest.raises(InvalidArgumentError, match="is taken"):
        led.users.add(root, "ANI", Role.SUPERVISOR, password="a long password")
    # The name the audit gives the ledger's own rows is nobody's.
    for system in ("ektpcore", "EKTPCORE"):
        with pytest.raises(InvalidArgumentError, match="the ledger's own rows"):
            led.users.add(root, system, Role.SUPERVISOR, password="a long password")
        with pytest.raises(InvalidArgumentError, match="the ledger's own rows"):
            led.users.add_station(root, system)
    # "ani" whose "a" is Cyrillic (U+0430) reads as "ani" in every history listing.
    with pytest.raises(InvalidArgumentError, match="mixes the letters of 2 scripts"):
        led.users.add(root, "\u0430ni", Role.SUPERVISOR, password="a long password")
    for above in (Role.ADMINISTRATOR, Role.SUPERVISOR):
        with pytest.raises(InvalidArgumentError, match=f"never {above.name.lower()}"):
            led.users.add_station(root, "P2@pc-4", above)
    led.users.add_station(root, "P2@pc-4")
    with pytest.raises(InvalidArgumentError, match="never supervisor"):
        led.users.grant(root, "P2@pc-4", Role.SUPERVISOR)
    with pytest.raises(PermissionDeniedError, match="last active administrator"):
        led.users.disable(root, "root")
    with pytest.raises(PermissionDeniedError, match="last active administrator"):
        led.users.grant(root, "root", Role.SUPERVISOR)
    with pytest.raises(PermissionDeniedError, match="manage users"):
        led.users.disable(office["budi"], "ani")
    # A new password: the old one no longer signs in, nor does what was signed in with it.
    led.users.set_password(root, "ani", "ani's new long password")
    with pytest.raises(AuthenticationError, match="unknown user or wrong password"):
        led.sign_in("ani", PASSWORDS["ani"])
    with pytest.raises(AuthenticationError, match="sign in again"):
        led.ribbons.install("P1", "YMCKO", 500, office["ani"])
    led.ribbons.install("P1", "YMCKO", 500, led.sign_in("ani", "ani's new long password"))
    assert {u.name for u in led.users.list()} == set(ROLES) | {"P2@pc-4"}


def test_emptying_the_users_table_does_not_bring_development_mode_back(
    office: Office, tamper: Any
) -> None:
    """Once a ledger has created an administrator it takes only actors it signed in, for
    good: users deleted behind its back make nobody anyone, and verify() names them."""
    led = office.ledger
    nik = _record(office)
    tamper("DELETE FROM sessions")
    tamper("DELETE FROM users")
    assert led.users.exist()
    before = _snapshot(led)
    with pytest.raises(AuthenticationError, match="removed outside the ledger"):
        led.transition([nik], State.CANCELLED, Actor("budi", Role.SUPERVISOR), reason="gone")
    with pytest.raises(PermissionDeniedError, match="removed outside the ledger"):
        led.users.create_administrator("eve", "eve's long password")
    with pytest.raises(AuthenticationError, match="unknown user or wrong password"):
        led.sign_in("budi", PASSWORDS["budi"])
    assert _snapshot(led) == before
    assert led.state_of(nik) is State.PRINT_READY
    report = led.verify()
    gone = sorted(f.row for f in report.findings if f.table == "users")
    assert gone == sorted(ROLES)
    assert report.problem == "user root is in the audit but not in the users table"


# -- the journal, claims and a station's reach ------------------------------------------------


def _printing(office: Office, batch: str, count: int) -> tuple[list[str], list[int], Actor]:
    """``count`` records queued in ``batch`` for P1, and a station (P2's token) that claimed
    it and journalled them all as sent: cards in flight."""
    led, ani = office.ledger, office["ani"]
    niks = [_record(office) for _ in range(count)]
    serials = led.queue(niks, batch, "P1", ani)
    station = led.sign_in_station(led.users.add_station(office["root"], f"P2-{batch}@pc-2"))
    claim = led.claims.claim(batch, "P2@pc-2", station)
    with led.claims.under(claim, station) as tx:
        tx.journal.sent_all(list(zip(map(int, niks), serials, strict=True)), batch, "P1")
    return niks, serials, station


def test_journal_writes_need_the_right_and_the_claim(office: Office) -> None:
    led, ani, budi, dewi = office.ledger, office["ani"], office["budi"], office["dewi"]
    niks, serials, _ = _printing(office, "B-J", 2)
    other = led.sign_in_station(led.users.add_station(office["root"], "P1@pc-1"))
    first, waiting = int(niks[0]), int(_record(office))
    writes: dict[str, Callable[[Any], object]] = {
        "forget": lambda tx: tx.journal.forget([first]),
        "in doubt": lambda tx: tx.journal.mark_in_doubt([first]),
        "recover": lambda tx: tx.journal.recover(batch="B-J", reason="looks stuck"),
        "chip": lambda tx: tx.journal.log_chip(
            first, serials[0], "P1", "04AABBCC", written=False, reason="no answer"
        ),
        "sent": lambda tx: tx.journal.sent(waiting, "B-J", "P1", 1),
    }
    before = _snapshot(office.ledger), led.journal.sent("P1")
    for what, write in writes.items():
        # An auditor changes nothing; another station's token holds no claim here.
        for actor in (dewi, other):
            with pytest.raises(PermissionDeniedError), led.transaction(actor) as tx:
                write(tx)
        # A person at the desk may print, but not in a batch a station holds.
        with (
            pytest.raises(ektpcore.RecordClaimedError, match="P2@pc-2"),
            led.transaction(ani) as tx,
        ):
            write(tx)
        assert (_snapshot(office.ledger), led.journal.sent("P1")) == before, what
    # Nor under the station's claim read from claims.held(): it is not theirs.
    seen = led.claims.get("B-J")
    assert seen is not None
    for actor in (ani, other, dewi):
        with (
            pytest.raises(PermissionDeniedError, match="does not hold"),
            led.claims.under(seen, actor) as tx,
        ):
            tx.journal.forget([first])
    # The station dies; a supervisor releases its batch: both cards are in doubt, never
    # queued again, and leave the journal only when settled.
    led.claims.release("B-J", budi, reason="pc-2 died")
    assert {led.state_of(n) for n in niks} == {State.IN_DOUBT}
    assert led.queued("B-J", "P1") == []
    with pytest.raises(ektpcore.RecordClaimedError, match="settles"), led.transaction(ani) as tx:
        tx.journal.forget([first])
    led.settle(first, budi, printed=False, note="not in the tray")
    assert [n for n, _, _ in led.journal.in_doubt("P1")] == [int(niks[1])]
    # A card that is not waiting in the batch is never journalled (it would be pinned there).
    issued = int(_record(office, State.ISSUED))
    with (
        pytest.raises(InvalidArgumentError, match="not queued in batch"),
        led.transaction(ani) as tx,
    ):
        tx.journal.sent(issued, "B-NOWHERE", "P1", 150)
    assert led.verify().ok


def test_an_issued_cards_chip_serial_is_never_rewritten(office: Office) -> None:
    led, ani, dewi = office.ledger, office["ani"], office["dewi"]
    nik = _record(office, State.ISSUED)
    card = led.where_is(nik).card_serial
    assert card is not None

    def chip() -> list[Any]:
        return led._query("SELECT chip_serial FROM cards WHERE serial = ?", (card,))

    before = chip(), led.chip_log(nik)
    with pytest.raises(PermissionDeniedError), led.transaction(dewi) as tx:
        tx.journal.log_chip(int(nik), card, "P1", "04DEADBEEF", written=True, reason="re-read")
    with pytest.raises(InvalidArgumentError, match="just printed"), led.transaction(ani) as tx:
        tx.journal.log_chip(int(nik), card, "P1", "04DEADBEEF", written=True, reason="re-read")
    assert (chip(), led.chip_log(nik)) == before


def test_a_station_token_writes_only_under_its_claim_in_its_batch(office: Office) -> None:
    led, ani = office.ledger, office["ani"]
    station = led.sign_in_station(led.users.add_station(office["root"], "P1@pc-1"))
    encoded = _record(office, State.ENCODED)  # a desk batch, waiting for quality control
    queued = _record(office)
    blank = led.queue([queued], "B-P2", "P2", ani)[0]  # another printer's batch, unclaimed
    refused: dict[str, Callable[[], object]] = {
        "spoil a good card": lambda: led.transition(
            [encoded], State.PRINT_READY, station, reason="chip failed"
        ),
        "put it in doubt": lambda: led.transition(
            [encoded], State.IN_DOUBT, station, reason="not sure"
        ),
        "pass its quality check": lambda: led.transition([encoded], State.QC_PASSED, station),
        "take a record off a batch": lambda: led.transition(
            [queued], State.PRINT_READY, station, reason="reshuffle"
        ),
        "print another's card": lambda: led.transition(
            [queued], State.PRINTED, station, batch="B-P2", printer="P1"
        ),
        "spoil a blank of that batch": lambda: _spoil(led, station, blank),
        "spoil a stock blank": lambda: _spoil(led, station, 199),
        "journal a card": lambda: _write(led, station, queued),
    }
    before = _snapshot(led), led.journal.sent("P1")
    for what, attempt in refused.items():
        with pytest.raises(PermissionDeniedError, match="only under the claim"):
            attempt()
        assert (_snapshot(led), led.journal.sent("P1")) == before, what
    # A station takes a batch by claiming it, and only one with cards queued to print.
    with pytest.raises(InvalidArgumentError, match="no card queued"):
        led.claims.claim("B-NOWHERE", "P1@pc-1", station)
    mine = _record(office)
    led.queue([mine], "B-MINE", "P1", ani)
    claim = led.claims.claim("B-MINE", "P1@pc-1", station)
    with (
        pytest.raises(PermissionDeniedError, match="holds batch B-MINE, not B-P2"),
        led.claims.under(claim, station) as tx,
    ):
        tx.transition([queued], State.PRINT_READY, reason="reshuffle")
    with led.claims.under(claim, station) as tx:  # its own batch's card: its to settle
        tx.transition([mine], State.PRINT_READY, reason="jammed")
    assert led.state_of(mine) is State.PRINT_READY
    assert led.verify().ok


def _spoil(led: Ledger, actor: Actor, serial: int) -> None:
    with led.transaction(actor) as tx:
        tx.blanks.spoil([serial], reason="dirty")


def _write(led: Ledger, actor: Actor, nik: str) -> None:
    with led.transaction(actor) as tx:
        tx.journal.sent(int(nik), "B-P2", "P1", 1)


def test_only_a_claims_holder_renews_it_or_gives_it_back(office: Office) -> None:
    led, ani, budi, dewi = office.ledger, office["ani"], office["budi"], office["dewi"]
    _printing(office, "B-G", 1)
    seen = led.claims.get("B-G")
    assert seen is not None
    holder = led.sign_in_station(led.users.add_station(office["root"], "P9@pc-9"))
    for actor in (dewi, ani, budi, holder):
        with pytest.raises(PermissionDeniedError):
            led.claims.give_back(seen, actor)
        with pytest.raises(PermissionDeniedError):
            led.claims.renew(seen, actor, dt.timedelta(minutes=5))
    assert led.claims.get("B-G") == seen
    # The holder's own lease is bounded, like the command line's.
    niks, _, station = _printing(office, "B-H", 1)
    mine = led.claims.get("B-H")
    assert mine is not None
    with pytest.raises(InvalidArgumentError, match="at most a day"):
        led.claims.renew(mine, station, dt.timedelta(days=365))
    with pytest.raises(InvalidArgumentError, match="at most a day"):
        led.claims.claim("B-X", "P2@pc-2", ani, lease=dt.timedelta(days=2))
    renewed = led.claims.renew(mine, station, dt.timedelta(hours=1))
    # Giving back with a card left sent puts it in doubt; another's claim is a supervisor's.
    led.claims.give_back(renewed, station)
    assert led.state_of(niks[0]) is State.IN_DOUBT
    with pytest.raises(PermissionDeniedError):
        led.claims.release("B-G", ani, reason="pc-2 died")
    assert led.claims.release("B-G", budi, reason="pc-2 died").released
    assert led.verify().ok


def test_names_kept_in_clear_hold_no_nik(office: Office) -> None:
    led, ani = office.ledger, office["ani"]
    niks = [_record(office) for _ in range(2)]
    serials = led.queue(niks, "B-7", "P1", ani)
    nik = _record(office)
    with pytest.raises(InvalidArgumentError, match="printer's name"), led.transaction(ani) as tx:
        tx.journal.sent(int(niks[0]), "B-7", f"P{nik}", serials[0])
    with pytest.raises(InvalidArgumentError, match="chip's serial"), led.transaction(ani) as tx:
        tx.journal.log_chip(int(niks[1]), serials[1], "P1", nik, written=False, reason="x")
    with pytest.raises(InvalidArgumentError, match="printer's name"), led.transaction(ani) as tx:
        tx.journal.log_chip(int(niks[1]), serials[1], f"P {nik}", None, written=False, reason="x")
    assert led.journal.sent(f"P{nik}") == []
    assert led.chip_log(niks[1]) == []


# -- an existing ledger -----------------------------------------------------------------------


def test_a_schema_8_ledger_migrates_and_its_history_still_verifies(ledger_location: str) -> None:
    store = ektpcore.ledger.open_store(ledger_location)
    nik = int(next(NIKS))
    at = "2017-11-13T01:00:00.000000+00:00"
    with store.transaction() as conn:
        for number, script in enumerate(ektpcore.ledger._MIGRATIONS[:8], start=1):
            for statement in store.migration(script):
                conn.execute(statement)
            store.set_schema_version(conn, number)
        db = Session(store, conn)
        db.execute(
            "INSERT INTO records (nik, state, updated_at) VALUES (?,?,?)", (nik, "PRINT_READY", at)
        )
        row = db.one("SELECT id FROM records WHERE nik = ?", (nik,))
        assert row is not None
        # The row as ektpcore wrote it at schema 8: fields joined with 0x1f, SHA-256 links.
        intake = (1, row[0], at, "ani", "OPERATOR", None, "PRINT_READY", "intake", None, None, None)
        (link,) = _ektpcore.history_chain(bytes(32), [chain.payload(intake)])
        db.execute(
            "INSERT INTO history (seq, record_id, at, actor, role, from_state, to_state, reason,"
            " batch, printer, blank, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (*intake, link),
        )
        db.execute("UPDATE chain_head SET seq = 1, hash = ? WHERE id = 1", (link,))
    assert store.current_version() == 8
    store.close()
    with Ledger(ledger_location) as led:
        assert led.schema_version == ektpcore.ledger.SCHEMA_VERSION
        assert led.verify().ok
        assert [(h.actor, h.target) for h in led.history(nik)] == [("ani", State.PRINT_READY)]
        introduced, identified = led.audit()
        assert (introduced.event, introduced.actor) == ("users introduced", "ektpcore")
        assert introduced.detail is not None
        assert "schema 8 migrated to 9" in introduced.detail
        # The ledger's identity, which its anchor's checkpoints carry, made by the migration.
        assert (identified.event, identified.actor) == ("ledger identified", "ektpcore")
        assert identified.detail == f"ledger {led.identity}; schema 8 migrated to 16"
        # Development mode goes on until an administrator is created.
        led.transition([nik], State.ON_HOLD, Actor("ani", Role.OPERATOR), reason="wait")
        led.users.create_administrator("root", PASSWORDS["root"])
        assert led.verify().ok
        assert led.verify().rows == 2 + 3  # two history rows, three audit rows


def test_an_edited_audit_row_is_named_by_verify(office: Office, tamper: Any) -> None:
    tamper(
        "UPDATE audit SET detail = 'supervisor' WHERE event = 'user created' AND subject = ?",
        ("ani",),
    )
    report = office.ledger.verify()
    assert not report.ok
    assert report.problem == f"audit row {report.first_bad_seq} was altered"


# Edits of the users table behind the ledger's back, as someone with write access to the
# database could make them to give themselves more: each is named by verify().
_BEHIND = {
    "a role raised": (
        "UPDATE users SET role = 'ADMINISTRATOR' WHERE name = 'ani'",
        "user ani is person administrator but the audit makes it person operator",
    ),
    "a disabled user enabled again": (
        "UPDATE users SET disabled_at = NULL, disabled_by = NULL WHERE name = 'dewi'",
        "user dewi should be disabled by the audit",
    ),
    "a password replaced by one the editor knows": (
        "UPDATE users SET secret = ? WHERE name = 'root'",
        "user root's secret is not the one the audit recorded: its password or token was"
        " replaced outside the ledger",
    ),
    "a user's look-up name changed": (
        "UPDATE users SET name_key = 'ani2' WHERE name = 'ani'",
        "user ani's row is found under the name 'ani2', not its own: it was changed outside"
        " the ledger",
    ),
    "a user written in": (
        "INSERT INTO users (name, name_key, role, kind, secret, created_at, created_by)"
        " SELECT 'eko', 'eko', 'ADMINISTRATOR', 'person', ?, created_at, 'root'"
        " FROM users WHERE name = 'ani'",
        "user eko is not in the audit: it was written outside the ledger",
    ),
}


@pytest.mark.parametrize("edit", list(_BEHIND))
def test_users_changed_behind_the_ledgers_back_are_named_by_verify(
    office: Office, tamper: Any, edit: str
) -> None:
    led = office.ledger
    led.users.disable(office["root"], "dewi")
    assert led.verify().ok
    sql, problem = _BEHIND[edit]
    # The editor's own password, hashed as the ledger hashes them.
    tamper(sql, (hash_password("the editor's own password"),) if "?" in sql else ())
    report = led.verify()
    assert not report.ok
    assert [f.problem for f in report.findings if f.table == "users"] == [problem]


def test_a_user_found_under_another_users_name_signs_nobody_in(office: Office, tamper: Any) -> None:
    # A user is looked up by a key derived from the name, which the row's tag does not cover:
    # two keys swapped would let budi's password sign in whoever types "ani", and a new
    # password set for ani land on budi's row.
    led = office.ledger
    tamper("UPDATE users SET name_key = 'swapping' WHERE name = 'ani'")
    tamper("UPDATE users SET name_key = 'ani' WHERE name = 'budi'")
    tamper("UPDATE users SET name_key = 'budi' WHERE name = 'ani'")
    for typed, password in (("ani", "budi"), ("budi", "ani"), ("ani", "ani")):
        with pytest.raises(ektpcore.AuthenticationError, match="unknown user or wrong password"):
            led.sign_in(typed, PASSWORDS[password])
    with pytest.raises(ektpcore.LedgerError, match="finds user budi under the name 'ani'"):
        led.users.set_password(office["root"], "ani", "a password for someone else")
    problems = sorted(f.problem for f in led.verify().findings if f.table == "users")
    assert [p.split(" not its own")[0] for p in problems] == [
        "user ani's row is found under the name 'budi',",
        "user budi's row is found under the name 'ani',",
    ]


def test_a_password_set_by_the_administrator_still_verifies(office: Office) -> None:
    led = office.ledger
    led.users.set_password(office["root"], "ani", "ani's new long password")
    led.users.grant(office["root"], "ani", Role.SUPERVISOR)
    led.users.add_station(office["root"], "P1@bogor")
    assert led.verify().ok


def test_in_a_sealed_ledger_a_session_written_or_moved_behind_its_back_signs_nobody_in(
    ledger_location: str, tamper: Any, tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    keys = KeyFile.create(tmp_path / "keys" / "ledger.keys")
    with Ledger(ledger_location, keys=keys) as led:
        led.users.create_administrator("root", PASSWORDS["root"])
        root = led.sign_in("root", PASSWORDS["root"])
        led.users.add(root, "ani", Role.OPERATOR, password=PASSWORDS["ani"])
        ani = led.sign_in("ani", PASSWORDS["ani"])
        led.add_records([next(NIKS)], ani, state=State.PRINT_READY)  # her session works
        # A session row written with a credential of the editor's own choosing (as an open
        # ledger keeps them: its SHA-256) for the administrator.
        credential = "chosen by whoever edits the database"
        tamper(
            "INSERT INTO sessions (token_hash, user_id, role, signed_in_at)"
            " SELECT ?, id, role, created_at FROM users WHERE name = 'root'",
            (hashlib.sha256(credential.encode()).hexdigest(),),
        )
        forged = Actor("root", Role.ADMINISTRATOR, credential)
        with pytest.raises(ektpcore.AuthenticationError, match="did not sign this actor in"):
            led.users.add(forged, "eko", Role.ADMINISTRATOR, password=PASSWORDS["dewi"])
        # Ani's own session moved to the administrator: her credential names her, not root.
        tamper(
            "UPDATE sessions SET user_id = (SELECT id FROM users WHERE name = 'root'),"
            " role = 'ADMINISTRATOR' WHERE user_id = (SELECT id FROM users WHERE name = 'ani')"
        )
        moved = Actor("root", Role.ADMINISTRATOR, ani.credential)
        with pytest.raises(ektpcore.AuthenticationError, match="did not sign this actor in"):
            led.users.add(moved, "eko", Role.ADMINISTRATOR, password=PASSWORDS["dewi"])
        assert [u.name for u in led.users.list()] == ["ani", "root"]
        assert led.verify().ok  # sessions are not history: nothing to report, nothing gained


# -- the command line -------------------------------------------------------------------------


def test_users_from_the_command_line(ledger_location: str, tmp_path: Path) -> None:
    runner = CliRunner()
    token_file = tmp_path / "station.token"

    def run(command: str, **env: str) -> Any:
        words = command.replace("LEDGER", ledger_location).replace("TOKEN", str(token_file))
        return runner.invoke(main, words.split(), env=env, catch_exceptions=False)

    as_root = {"EKTPCORE_PASSWORD": PASSWORDS["root"]}
    assert run("ledger init LEDGER").exit_code == 0  # a new ledger is made only by init
    made = run(
        "users create-administrator LEDGER --name root",
        EKTPCORE_NEW_PASSWORD=as_root["EKTPCORE_PASSWORD"],
    )
    assert made.exit_code == 0, made.output
    new_budi = {"EKTPCORE_NEW_PASSWORD": PASSWORDS["budi"]}
    added = run(
        "users add LEDGER --admin root --name budi --role supervisor", **new_budi, **as_root
    )
    assert added.exit_code == 0, added.output
    station = run(
        "users add-station LEDGER --admin root --name P1@pc-3 --token-file TOKEN", **as_root
    )
    assert station.exit_code == 0, station.output
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    token = token_file.read_text().strip()
    assert token not in station.output
    wrong = run(
        "users grant LEDGER --admin root --name budi --role operator", EKTPCORE_PASSWORD="not it"
    )
    assert wrong.exit_code == 7
    assert wrong.output.strip() == "Error: sign-in refused: unknown user or wrong password"
    listed = run("users list LEDGER")
    assert [line.split(":")[0] for line in listed.output.splitlines()] == [
        "budi",
        "P1@pc-3",
        "root",
    ]
    # The station command signs in rather than trusting --operator.
    station_run = "station run LEDGER --printer P1 --address 127.0.0.1:9 --batch B-404"
    trusted = run(f"{station_run} --operator budi")
    assert trusted.exit_code == 7
    assert "this ledger has users" in trusted.output
    signed = run(f"{station_run} --token-file TOKEN")
    assert signed.exit_code == 10
    assert "no batch B-404" in signed.output  # signed in, then the batch checked
    forged = run(station_run, EKTPCORE_STATION_TOKEN=token[:-3] + "abc")
    assert forged.output.strip().endswith(
        "Error: sign-in refused: unknown or revoked station token"
    )
    released = run(
        "station release LEDGER --batch B-404 --supervisor budi --reason died",
        EKTPCORE_PASSWORD=PASSWORDS["budi"],
    )
    assert released.output.strip() == "Error: batch B-404 has no claim to release"
    assert "Traceback" not in "".join(r.output for r in (wrong, trusted, forged, released))
    disabled = run("users disable LEDGER --admin root --name P1@pc-3", **as_root)
    assert disabled.exit_code == 0
    again = run(f"{station_run} --token-file TOKEN")
    assert again.output.strip().endswith("Error: user P1@pc-3 is disabled")
