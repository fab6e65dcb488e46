"""Users' rows written behind the ledger's back, by someone who can write its database but
holds none of its keys, on both stores, open and sealed: a password hash swapped for one the
writer made (and put back), a user written in, a role raised (and set back). Nobody signs in
or acts through such a row, the sign-in that tried is in the audit, and verify() names what
the writer did; a ledger of an earlier schema gets its users tagged and still verifies."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ektpcore
from ektpcore import AuthenticationError, LedgerError, Role, State
from ektpcore.clock import utc_stamp
from ektpcore.keys import KeyFile
from ektpcore.ledger import Session, chain, users
from ektpcore.ledger.users import hash_password

from .conftest import staff

PASSWORDS = {
    "root": "root's long password",
    "ani": "ani's long password",
    "budi": "budi's long password",
}
ROLES = {"root": Role.ADMINISTRATOR, "ani": Role.OPERATOR, "budi": Role.SUPERVISOR}
MINE = "ani knows this one"  # the writer's own password
NIKS = iter(str(v) for v in ektpcore.sample_niks(60, seed=31))
_ROW = "id, name, role, kind, secret, created_at, created_by, disabled_at, disabled_by"


@dataclasses.dataclass
class Office:
    ledger: ektpcore.Ledger
    location: str
    keys: KeyFile | None
    actors: dict[str, ektpcore.Actor]

    def __getitem__(self, name: str) -> ektpcore.Actor:
        return self.actors[name]

    def reopen(self) -> ektpcore.Ledger:
        return ektpcore.Ledger(self.location, create=False, keys=self.keys)


@pytest.fixture(params=["open", "sealed"])
def office(
    request: pytest.FixtureRequest, ledger_location: str, tmp_path: Path
) -> Iterator[Office]:
    keys = None
    if request.param == "sealed":
        (tmp_path / "keys").mkdir()
        keys = KeyFile.create(tmp_path / "keys" / "ledger.keys")
    with ektpcore.Ledger(ledger_location, keys=keys) as led:
        actors = staff(led, ROLES, PASSWORDS)
        led.blanks.receive("LOT-1", 1, 50, actors["budi"])
        yield Office(led, ledger_location, keys, actors)


def _issued(office: Office) -> str:
    """A record walked to ISSUED by the supervisor."""
    led, sup = office.ledger, office["budi"]
    nik = next(NIKS)
    led.add_records([nik], sup, state=State.PRINT_READY)
    serials = led.blanks.allocate(f"B-{nik[-6:]}", 1, sup)
    led.transition([nik], State.QUEUED, sup, batch=f"B-{nik[-6:]}")
    led.transition([nik], State.PRINTED, sup, batch=f"B-{nik[-6:]}", blanks=serials)
    for step in (
        State.ENCODED,
        State.QC_PASSED,
        State.IN_TRANSIT_TO_KECAMATAN,
        State.AT_KECAMATAN,
        State.ISSUED,
    ):
        led.transition([nik], step, sup)
    return nik


def _row(office: Office, name: str) -> tuple[Any, ...]:
    (row,) = office.ledger._query(f"SELECT {_ROW} FROM users WHERE name = ?", (name,))
    return tuple(row)


def _open_tag(office: Office, name: str) -> str:
    """What a writer of an open ledger's database computes for a row it edited: the tag is
    a SHA-256 there, which needs no key."""
    return users.row_tag(None, _row(office, name))


def _changes(led: ektpcore.Ledger) -> tuple[Any, ...]:
    return (
        led._query("SELECT count(*) FROM history"),
        led._query("SELECT count(*) FROM blank_history"),
        led._query("SELECT count(*) FROM audit WHERE event NOT IN ('sign-in refused')"),
        led._query("SELECT count(*) FROM sessions"),
        led.approvals.waiting(),
    )


def _refused_sign_ins(led: ektpcore.Ledger) -> list[tuple[str | None, str | None]]:
    return [(e.subject, e.detail) for e in led.audit() if e.event == "sign-in refused"]


# -- the review's three attacks ---------------------------------------------------------------


def test_a_password_hash_swapped_and_put_back_signs_nobody_in(office: Office, tamper: Any) -> None:
    """Operator ani requests a reprint, swaps supervisor budi's password hash for one she
    made, signs in as budi to approve her own request, and puts budi's hash back."""
    led = office.ledger
    nik = _issued(office)
    request = led.approvals.request(nik, State.PRINT_READY, office["ani"], reason="lost, letter")
    (saved,) = led._query("SELECT secret FROM users WHERE name = 'budi'")[0]
    tamper("UPDATE users SET secret = ? WHERE name = 'budi'", (hash_password(MINE),))
    before = _changes(led)
    with pytest.raises(AuthenticationError, match="budi's row in the users table does not match"):
        led.sign_in("budi", MINE)
    if office.keys is None:
        # In an open ledger the writer can recompute the tag (a SHA-256): the audit's mark of
        # budi's secret is what the row is held to then.
        tamper("UPDATE users SET tag = ? WHERE name = 'budi'", (_open_tag(office, "budi"),))
        with pytest.raises(AuthenticationError, match="budi's secret is not the one the audit"):
            led.sign_in("budi", MINE)
    # Budi's own session stops too while his row is not his: nothing is done in his name.
    with pytest.raises(AuthenticationError, match=r"(?i)nothing was changed"):
        led.approvals.approve(request.id, office["budi"], note="ok")
    assert _changes(led) == before
    tamper("UPDATE users SET secret = ? WHERE name = 'budi'", (saved,))
    if office.keys is None:
        tamper("UPDATE users SET tag = ? WHERE name = 'budi'", (_open_tag(office, "budi"),))
    assert led.state_of(nik) is State.ISSUED
    assert [w.id for w in led.approvals.waiting()] == [request.id]
    assert _refused_sign_ins(led)[-1] == ("budi", "its row does not match its tag or the audit")
    # The row is back as the ledger wrote it, but the attempt stays named.
    report = led.verify()
    assert not report.ok
    attempts = [e.seq for e in led.audit() if e.event == "sign-in refused"]
    assert len(attempts) == (1 if office.keys else 2)
    assert [(f.table, f.problem) for f in report.findings] == [
        (
            "audit",
            f"audit row {seq}: a sign-in as budi was refused, its row in the users table not"
            " matching its tag or the audit: the row was written or changed outside the ledger",
        )
        for seq in attempts
    ]
    # Budi himself signs in and decides as before.
    led.approvals.refuse(request.id, led.sign_in("budi", PASSWORDS["budi"]), note="not her")


def test_a_user_written_into_the_table_signs_nobody_in(office: Office, tamper: Any) -> None:
    """A supervisor 'pak_ghost' written straight into the users table, with a hash its
    writer made (and, in an open ledger, the SHA-256 tag recomputed)."""
    led = office.ledger
    tamper(
        "INSERT INTO users (name, name_key, role, kind, secret, created_at, created_by)"
        " VALUES ('pak_ghost', 'pak_ghost', 'SUPERVISOR', 'person', ?, ?, 'root')",
        (hash_password("ghost-password-1"), utc_stamp()),
    )
    if office.keys is None:
        tamper(
            "UPDATE users SET tag = ? WHERE name = 'pak_ghost'", (_open_tag(office, "pak_ghost"),)
        )
    before = _changes(led)
    problem = "does not match its tag" if office.keys else "pak_ghost is not in the audit"
    with pytest.raises(AuthenticationError, match=problem):
        led.sign_in("pak_ghost", "ghost-password-1")
    assert _changes(led) == before
    report = led.verify()
    named = {(f.table, f.row) for f in report.findings}
    assert ("users", "pak_ghost") in named
    # Deleted again, the user's attempt is still named.
    tamper("DELETE FROM users WHERE name = 'pak_ghost'")
    report = led.verify()
    assert not report.ok
    assert {f.table for f in report.findings} == {"audit"}
    assert "a sign-in as pak_ghost was refused" in str(report.problem)


def test_a_role_raised_and_set_back_acts_as_nothing(office: Office, tamper: Any) -> None:
    """Operator ani sets her own role to supervisor in the users table, signs in, tries a
    supervisor's change, and sets her role back."""
    led = office.ledger
    nik = next(NIKS)
    led.add_records([nik], office["budi"], state=State.PRINT_READY)
    led.transition([nik], State.ON_HOLD, office["budi"], reason="photo unclear")
    tamper("UPDATE users SET role = 'SUPERVISOR' WHERE name = 'ani'")
    if office.keys is None:
        tamper("UPDATE users SET tag = ? WHERE name = 'ani'", (_open_tag(office, "ani"),))
    before = _changes(led)
    problem = "does not match its tag" if office.keys else "ani is person supervisor but the audit"
    with pytest.raises(AuthenticationError, match=problem):
        led.sign_in("ani", PASSWORDS["ani"])
    # Her session as an operator does not act either while the row is not hers.
    with pytest.raises(AuthenticationError, match=r"(?i)nothing was changed"):
        led.transition([nik], State.PRINT_READY, office["ani"], reason="address checked")
    raised = dataclasses.replace(office["ani"], role=Role.SUPERVISOR)
    with pytest.raises(AuthenticationError, match=r"(?i)nothing was changed"):
        led.transition([nik], State.PRINT_READY, raised, reason="address checked")
    assert _changes(led) == before
    assert led.state_of(nik) is State.ON_HOLD
    report = led.verify()
    assert ("users", "ani") in {(f.table, f.row) for f in report.findings}
    tamper("UPDATE users SET role = 'OPERATOR' WHERE name = 'ani'")
    if office.keys is None:
        tamper("UPDATE users SET tag = ? WHERE name = 'ani'", (_open_tag(office, "ani"),))
    # Set back exactly as it was, her session is hers again; the attempt stays named.
    led.add_records([next(NIKS)], office["ani"], state=State.PRINT_READY)
    report = led.verify()
    assert [f.table for f in report.findings] == ["audit"]
    assert "a sign-in as ani was refused" in str(report.problem)


def test_any_column_of_a_users_row_changed_stops_its_sessions(office: Office, tamper: Any) -> None:
    """A session is bound to the row as it was when it signed in: a column changed behind the
    ledger's back (one verify() compares with nothing else: who created the user) stops it,
    and the row put back makes it work again."""
    led = office.ledger
    tamper("UPDATE users SET created_by = 'budi' WHERE name = 'ani'")
    nik = next(NIKS)
    with pytest.raises(AuthenticationError, match="ani's row in the users table does not match"):
        led.add_records([nik], office["ani"], state=State.PRINT_READY)
    report = led.verify()
    assert [(f.table, f.row, f.problem) for f in report.findings] == [
        (
            "users",
            "ani",
            "user ani's row does not match its tag: it was written or changed outside the ledger",
        )
    ]
    if office.keys is None:
        # An open ledger's writer who recomputes the tag: the session still names the row
        # it signed in with.
        tamper("UPDATE users SET tag = ? WHERE name = 'ani'", (_open_tag(office, "ani"),))
        with pytest.raises(AuthenticationError, match="ani's user row changed since signing in"):
            led.add_records([nik], office["ani"], state=State.PRINT_READY)
    tamper("UPDATE users SET created_by = 'root' WHERE name = 'ani'")
    if office.keys is None:
        tamper("UPDATE users SET tag = ? WHERE name = 'ani'", (_open_tag(office, "ani"),))
    led.add_records([nik], office["ani"], state=State.PRINT_READY)
    assert led.verify().ok


def test_an_older_tagged_row_put_back_signs_nobody_in(office: Office, tamper: Any) -> None:
    """A row set back to an earlier version the ledger wrote itself (its tag then valid):
    budi, demoted to operator, puts his supervisor's row back; ani's old password, replaced
    by the administrator, is put back by someone who knew it."""
    led, root = office.ledger, office["root"]
    supervisor_row = led._query("SELECT role, tag FROM users WHERE name = 'budi'")[0]
    old_secret = led._query("SELECT secret, tag FROM users WHERE name = 'ani'")[0]
    led.users.grant(root, "budi", Role.OPERATOR)
    led.users.set_password(root, "ani", "ani's new long password")
    tamper("UPDATE users SET role = ?, tag = ? WHERE name = 'budi'", supervisor_row)
    tamper("UPDATE users SET secret = ?, tag = ? WHERE name = 'ani'", old_secret)
    with pytest.raises(AuthenticationError, match="budi is person supervisor but the audit"):
        led.sign_in("budi", PASSWORDS["budi"])
    with pytest.raises(AuthenticationError, match="ani's secret is not the one the audit"):
        led.sign_in("ani", PASSWORDS["ani"])
    named = {(f.table, f.row) for f in led.verify().findings}
    assert {("users", "budi"), ("users", "ani")} <= named


def test_an_administrator_writes_a_forged_row_anew_from_the_audit(
    office: Office, tamper: Any
) -> None:
    led, root = office.ledger, office["root"]
    tamper(
        "UPDATE users SET role = 'ADMINISTRATOR', secret = ? WHERE name = 'budi'",
        (hash_password(MINE),),
    )
    with pytest.raises(LedgerError, match="does not match its tag"):
        led.users.grant(root, "budi", Role.AUDITOR)
    led.users.set_password(root, "budi", "budi's new long password")
    budi = led.sign_in("budi", "budi's new long password")
    assert budi.role is Role.SUPERVISOR
    assert [u.role for u in led.users.list() if u.name == "budi"] == [Role.SUPERVISOR]
    assert led.verify().ok


# -- sign-in in the audit -----------------------------------------------------------------------


def test_every_sign_in_and_every_refusal_is_in_the_audit(office: Office) -> None:
    led, root = office.ledger, office["root"]
    token = led.users.add_station(root, "P1@pc-3")
    start = len(led.audit())
    led.sign_in("budi", PASSWORDS["budi"])
    led.sign_in_station(token)
    for name, password in (("budi", "not budi's password"), ("nobody", PASSWORDS["ani"])):
        with pytest.raises(AuthenticationError):
            led.sign_in(name, password)
    with pytest.raises(AuthenticationError):
        led.sign_in_station("ektpcore-station-made-up")
    led.users.disable(root, "ani")
    with pytest.raises(AuthenticationError, match="ani is disabled"):
        led.sign_in("ani", PASSWORDS["ani"])
    rows = [(e.actor, e.role, e.event, e.subject, e.detail) for e in led.audit()[start:]]
    assert rows == [
        ("budi", "SUPERVISOR", "signed in", "budi", "password"),
        ("P1@pc-3", "OPERATOR", "signed in", "P1@pc-3", "station token"),
        ("ektpcore", "SYSTEM", "sign-in refused", "budi", "wrong password"),
        # The name typed is not kept when it is nobody's (it may be a password).
        ("ektpcore", "SYSTEM", "sign-in refused", None, "unknown name"),
        ("ektpcore", "SYSTEM", "sign-in refused", None, "unknown station token"),
        ("root", "ADMINISTRATOR", "user disabled", "ani", "operator"),
        ("ektpcore", "SYSTEM", "sign-in refused", "ani", "disabled"),
    ]
    assert led.verify().ok


# -- verify: who acted, as the audit says -------------------------------------------------------


def _append_as(office: Office, nik: str, actor: str, role: str, at: str) -> int:
    """A history row putting ``nik`` on hold by ``actor`` as ``role`` at ``at``, written with
    the ledger's own keys as an ektpcore that took the users table's word for who signs in
    would have written it (the record's state moved with it); returns its sequence number."""
    led = office.ledger
    (rid,) = led._query("SELECT id FROM records WHERE nik = ?", (_nik_key(led, nik),))[0]
    with led._write() as conn:
        db = Session(led._store, conn, led._vault)
        row = (rid, at, actor, role, "PRINT_READY", "ON_HOLD", None, None, None, None)
        chain.append(db, [row], chain.RECORD_CHAIN)
        db.execute("UPDATE records SET state = 'ON_HOLD' WHERE id = ?", (rid,))
        (seq,) = db.one("SELECT seq FROM chain_head WHERE id = 1") or (0,)
    return int(seq)


def _nik_key(led: ektpcore.Ledger, nik: str) -> int:
    if led._vault is None:
        return int(nik)
    return led._vault.blind([int(nik)])[0]


def test_verify_names_history_rows_by_users_the_audit_never_made_so(office: Office) -> None:
    led, root = office.ledger, office["root"]
    niks = [next(NIKS) for _ in range(4)]
    led.add_records(niks, office["budi"], state=State.PRINT_READY)
    led.users.grant(root, "ani", Role.SUPERVISOR)
    led.users.grant(root, "ani", Role.OPERATOR)
    granted, demoted = [e for e in led.audit() if e.event == "role granted"]
    at = dt.datetime.fromisoformat(demoted.at)
    late = utc_stamp(at + dt.timedelta(hours=1))
    # A row by a user the audit never created, one by ani as a supervisor an hour after the
    # audit made her an operator again, one a minute after (within the clocks' slack: fine),
    # and one as an operator.
    ghost = _append_as(office, niks[0], "pak_ghost", "SUPERVISOR", utc_stamp())
    after = _append_as(office, niks[1], "ani", "SUPERVISOR", late)
    _append_as(office, niks[2], "ani", "SUPERVISOR", utc_stamp(at + dt.timedelta(minutes=1)))
    _append_as(office, niks[3], "ani", "OPERATOR", late)
    report = led.verify()
    assert [(f.table, f.row, f.problem) for f in report.findings] == [
        (
            "history",
            str(ghost),
            f"history row {ghost} names pak_ghost (supervisor), a user the audit never"
            " created: the user was written into the database outside the ledger",
        ),
        (
            "history",
            str(after),
            f"history row {after} names ani as supervisor at {late}, which the audit did not"
            f" make ani then (the audit gives: operator from audit row {_created(led, 'ani')},"
            f" supervisor from audit row {granted.seq}, operator from audit row"
            f" {demoted.seq})",
        ),
    ]
    assert report.first_bad_seq == ghost


def _created(led: ektpcore.Ledger, name: str) -> int:
    return next(e.seq for e in led.audit() if e.event == "user created" and e.subject == name)


# -- existing ledgers ---------------------------------------------------------------------------


def _as_schema_16(location: str) -> None:
    """The ledger as ektpcore kept it at schema 16: users and sessions without tags."""
    store = ektpcore.ledger.open_store(location)
    with store.transaction() as conn:
        conn.execute("ALTER TABLE users DROP COLUMN tag")
        conn.execute("ALTER TABLE sessions DROP COLUMN user_tag")
        store.set_schema_version(conn, 16)
    store.close()


def test_a_schema_16_ledger_tags_its_users_and_still_verifies(office: Office, tamper: Any) -> None:
    """Users the audit explains are tagged (an audit row each), a row written or changed
    outside the ledger before the migration is not, and signs nobody in."""
    nik = next(NIKS)
    office.ledger.add_records([nik], office["ani"], state=State.PRINT_READY)
    office.ledger.close()
    _as_schema_16(office.location)
    tamper(
        "INSERT INTO users (name, name_key, role, kind, secret, created_at, created_by)"
        " VALUES ('pak_ghost', 'pak_ghost', 'SUPERVISOR', 'person', ?, ?, 'root')",
        (hash_password("ghost-password-1"), utc_stamp()),
    )
    with office.reopen() as led:
        assert led.schema_version == ektpcore.ledger.SCHEMA_VERSION
        tagged = [e for e in led.audit() if e.event == "user tagged"]
        assert sorted(str(e.subject) for e in tagged) == sorted(ROLES)
        assert all(e.detail and "; secret " in e.detail for e in tagged)
        budi = led.sign_in("budi", PASSWORDS["budi"])
        led.transition([nik], State.ON_HOLD, budi, reason="photo unclear")
        with pytest.raises(AuthenticationError, match="pak_ghost"):
            led.sign_in("pak_ghost", "ghost-password-1")
        problems = [f.problem for f in led.verify().findings if f.table == "users"]
        assert problems == ["user pak_ghost is not in the audit: it was written outside the ledger"]
        tamper("DELETE FROM users WHERE name = 'pak_ghost'")
        assert [f.table for f in led.verify().findings] == ["audit"]  # the refused sign-in
    # Opening again tags nothing more.
    with office.reopen() as led:
        assert len([e for e in led.audit() if e.event == "user tagged"]) == len(ROLES)


def test_sealing_a_ledger_with_users_tags_them_under_its_keys(
    ledger_location: str, tmp_path: Path
) -> None:
    with ektpcore.Ledger(ledger_location) as led:
        led.users.create_administrator("root", PASSWORDS["root"])
        root = led.sign_in("root", PASSWORDS["root"])
        led.users.add(root, "budi", Role.SUPERVISOR, password=PASSWORDS["budi"])
        open_tags = dict(led._query("SELECT name, tag FROM users"))
        (tmp_path / "keys").mkdir()
        led.seal(KeyFile.create(tmp_path / "keys" / "ledger.keys"), root)
        sealed_tags = dict(led._query("SELECT name, tag FROM users"))
        assert set(sealed_tags) == set(open_tags)
        assert all(sealed_tags[n] != open_tags[n] for n in open_tags)
        # The open ledger's sessions end with it; its users sign in again.
        with pytest.raises(AuthenticationError, match="sign in again"):
            led.blanks.receive("LOT-1", 1, 10, root)
        budi = led.sign_in("budi", PASSWORDS["budi"])
        led.blanks.receive("LOT-1", 1, 10, budi)
        assert led.verify().ok
