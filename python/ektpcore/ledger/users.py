"""Who may act on a ledger: its users, how they sign in, and the audit of who changed them.

A ledger **without users** (every ledger until its first administrator is created, and the
test suite's) is in *development mode*: it takes any :class:`~ektpcore.Actor` as it declares
itself. Once it has users (or its audit has created one: emptying the users table does not
bring development mode back) it takes changes only from actors it signed in itself:

- **persons** sign in with a name and a password (:meth:`~ektpcore.Ledger.sign_in`). The
  password is stored as an Argon2id hash (pyca ``cryptography``; a random salt and the
  parameters kept with it in the PHC string format) and compared in constant time; it has at
  least :data:`MIN_PASSWORD` characters. An unknown name and a wrong password are refused with
  the same words, after the same work.
- **stations** (unattended print stations, workers) sign in with a token an administrator
  made (:meth:`Users.add_station`), shown once and stored only as its SHA-256: a token is 256
  random bits, so a fast hash is as safe as a slow one, and a hash can be revoked by disabling
  its user, which a signed token could not without the same row. A station's token prints and
  does nothing else (:data:`~ektpcore.STATION_PERMISSIONS`).

A sign-in writes a **session** (the SHA-256 of a random credential, the user, the role, and
the tag of the user's row as it signed in) and returns an :class:`~ektpcore.Actor` carrying
the credential. Every write transaction checks its actor against the sessions before anything
is written (:func:`authenticate`), on any connection to the ledger and in any process, so a
credential stops working the moment its user is disabled or given another role, or its row
changes in any way. Every change to users and roles, every sign-in (and every refused one),
every two-person approval and the migration that introduced users are rows of the **audit**,
hash-chained like the histories.

Each user's row carries a **tag** over all its columns (:func:`row_tag`): an HMAC under a
sealed ledger's key, which the database does not hold, so a row written into the table, or
one whose secret, role or state was changed there, signs nobody in and no session of it acts.
A sign-in also holds the row to what the audit last made of the user (role, kind, state and
the mark of its secret), so a row set back to an older tagged version is refused too. In an
open ledger the tag is a SHA-256, which anyone who can write the database can recompute:
there the audit is what a row is held to, and what a writer adds to the audit to match stays
in it (``docs/security.md``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from .. import _ektpcore
from ..clock import utc_stamp
from ..errors import AuthenticationError, InvalidArgumentError, LedgerError, PermissionDeniedError
from ..lifecycle import Actor, Permission, Role, as_role, meaningful, plain_name
from . import chain, sealing
from .store import LedgerStore, Session

if TYPE_CHECKING:
    from .core import Ledger
    from .sealing import Vault
    from .transaction import Transaction

__all__ = [
    "CLOCK_SLACK",
    "MIN_PASSWORD",
    "AuditEntry",
    "User",
    "Users",
    "audit",
    "authenticate",
    "hash_password",
    "password_matches",
    "row_tag",
]

MIN_PASSWORD = 12
"""The fewest characters a password may have."""
_MAX_PASSWORD = 1024

# Argon2id as RFC 9106 recommends where memory is scarce: 64 MiB, 3 passes, 4 lanes.
_MEMORY, _PASSES, _LANES = 65536, 3, 4
_PHC = re.compile(
    r"\$argon2id\$v=19\$m=(?P<m>\d{1,7}),t=(?P<t>\d{1,2}),p=(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]{11,64})\$(?P<hash>[A-Za-z0-9+/]{22,128})"
)
_STATION_PREFIX = "ektpcore-station-"
SYSTEM = ("ektpcore", "SYSTEM")  # who the audit names for the ledger's own rows


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _password_bytes(password: object) -> bytes:
    """The password as hashed: NFKC-normalised (the same password typed on another keyboard
    or system gives the same bytes), UTF-8."""
    if not isinstance(password, str):
        raise InvalidArgumentError("a password is text")
    return unicodedata.normalize("NFKC", password).encode()


def hash_password(password: str) -> str:
    """The Argon2id hash of a new password, as a PHC string (``$argon2id$v=19$m=..,t=..,
    p=..$salt$hash``); a password shorter than :data:`MIN_PASSWORD` characters, or of only
    blanks, is refused."""
    if not isinstance(password, str) or not meaningful(password):
        raise InvalidArgumentError("a password is some text, not only blanks")
    if not MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
        raise InvalidArgumentError(
            f"a password has at least {MIN_PASSWORD} characters (at most {_MAX_PASSWORD})"
        )
    salt = secrets.token_bytes(16)
    digest = Argon2id(
        salt=salt, length=32, iterations=_PASSES, lanes=_LANES, memory_cost=_MEMORY
    ).derive(_password_bytes(password))
    return _phc(salt, digest)


def _phc(salt: bytes, digest: bytes) -> str:
    """Salt, digest and parameters in the PHC string format."""
    params = f"m={_MEMORY},t={_PASSES},p={_LANES}"
    return f"$argon2id$v=19${params}${_b64(salt)}${_b64(digest)}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (a PHC string of :func:`hash_password`)
    was made from: derived again with the stored salt and parameters, compared in constant
    time. A stored value that is not such a string matches nothing."""
    found = _PHC.fullmatch(stored)
    if found is None or len(password) > _MAX_PASSWORD:
        return False
    m, t, p = int(found["m"]), int(found["t"]), int(found["p"])
    if not (8 * p <= m <= 4 * 1024 * 1024 and 1 <= t <= 16 and 1 <= p <= 16):
        return False
    expected = _unb64(found["hash"])
    derived = Argon2id(
        salt=_unb64(found["salt"]), length=len(expected), iterations=t, lanes=p, memory_cost=m
    ).derive(_password_bytes(password))
    return hmac.compare_digest(derived, expected)


@functools.cache
def _decoy() -> str:
    """A stored hash no password matches (random salt, random digest), checked when the name
    is unknown so that an unknown name costs the same work as a wrong password."""
    return _phc(secrets.token_bytes(16), secrets.token_bytes(32))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# The keyed tags of a sealed ledger's sessions and users' secrets: links of the key ring's
# chain MAC from a start no chain has (its heads are links or zeros), so a tag is never a
# history link, and a provider that keeps its keys elsewhere (an HSM) tags as it chains.
_TAG_START = hashlib.sha256(b"ektpcore sessions and users v1").digest()


def _tag(db: Session | chain.ChainMac | None, message: str) -> str | None:
    """``message`` tagged under a sealed ledger's key ring (given, or the session's);
    ``None`` in an open ledger."""
    mac = chain.session_mac(db) if isinstance(db, Session) else db
    if mac is None or isinstance(mac, chain.OpenChain):
        return None
    return bytes(mac.chain(_TAG_START, [message.encode()])[0]).hex()


def session_key(db: Session, credential: str, name: str, role: str) -> str:
    """What a session row is found by: the SHA-256 of its credential in an open ledger; in a
    sealed one a tag under its key over the credential, the user's name and the role, so a
    session written into the database by anyone without the key (or one moved to another
    user or role) signs nobody in."""
    tagged = _tag(db, f"session\x00{credential}\x00{name_key(name)}\x00{role}")
    return _digest(credential) if tagged is None else tagged


def _actor_key(db: Session, actor: Actor) -> str:
    assert actor.credential is not None
    return session_key(db, actor.credential, actor.name, actor.role.name)


def secret_mark(db: Session | chain.ChainMac | None, name: str, secret: str) -> str:
    """What the audit keeps of a user's stored secret (a password's Argon2 hash, a station
    token's SHA-256), so that verify() catches a secret replaced in the users table: 16 hex
    digits of its tag under a sealed ledger's key, or of its SHA-256 in an open ledger."""
    tagged = _tag(db, f"secret\x00{name_key(name)}\x00{secret}")
    return (tagged or _digest(f"{name_key(name)}\x00{secret}"))[:16]


def text_marks(db: Session | chain.ChainMac | None, text: str) -> tuple[str, str]:
    """What the audit keeps of a text it must not show (a two-person request's reason): 16
    hex digits of its tag under a sealed ledger's key (first; ``None`` keys give its
    SHA-256 twice), and of its SHA-256, which rows written before the ledger was sealed
    carry."""
    digest = _digest(text)[:16]
    tagged = _tag(db, f"text\x00{text}")
    return (digest if tagged is None else tagged[:16]), digest


def _secret_marks(mac: chain.ChainMac | None, name: str, secret: str) -> tuple[str, str]:
    """The marks a user's secret may have in the audit: under ``mac`` (a sealed ledger's
    keys), and its SHA-256 one, which rows written before the ledger was sealed carry."""
    return secret_mark(mac, name, secret), secret_mark(None, name, secret)


# A user's row as it is tagged, its columns in this order (``users.tag`` holds the tag).
_ROW = "id, name, role, kind, secret, created_at, created_by, disabled_at, disabled_by"
_ROW_U = ", ".join(f"u.{column}" for column in _ROW.split(", "))
# Users' tags are links of the key ring's chain MAC from a start no chain (nor a session's
# or secret's tag) has: a tag is never a history link, and an HSM-held ring tags as it chains.
_ROW_START = hashlib.sha256(b"ektpcore users' rows v1").digest()


def row_tag(mac: chain.ChainMac | None, row: Sequence[object]) -> str:
    """The tag of a user's row (its columns in ``_ROW`` order, as stored): over its canonical
    payload (every column, length-prefixed: no text moves from one column to the next), an
    HMAC-SHA-256 under a sealed ledger's chain key (``mac``, its key ring), so that nobody
    without the key makes a row that passes; SHA-256 in an open ledger (``None``), which only
    catches a hand edit that did not recompute it."""
    fields = tuple(v if v is None or isinstance(v, int) else str(v) for v in row)
    payload = _ektpcore.history_payloads(b"users", [fields])[0]
    return bytes((mac or chain.OPEN).chain(_ROW_START, [payload])[0]).hex()


def _tag_matches(mac: chain.ChainMac | None, row: Sequence[object], tag: object) -> bool:
    return tag is not None and hmac.compare_digest(row_tag(mac, row), str(tag))


def _retag(db: Session, uid: int) -> None:
    """Tags user ``uid``'s row as it now stands, inside the caller's transaction: every
    change the ledger makes to a user's row ends here."""
    row = db.one(f"SELECT {_ROW} FROM users WHERE id = ?", (uid,))
    assert row is not None  # written by the caller's transaction
    db.execute("UPDATE users SET tag = ? WHERE id = ?", (row_tag(chain.session_mac(db), row), uid))


_MARK = re.compile(r"(?:^|; )secret ([0-9a-f]{16})$")


def marked_secret(detail: str | None) -> str | None:
    """The secret mark an audit row's detail ends with, if any (rows before marks were kept
    have none)."""
    found = _MARK.search(detail or "")
    return None if found is None else found[1]


def _station_secret(token: str) -> str:
    return "sha256$" + _digest(token)


def name_key(name: str) -> str:
    """What makes two names the same user: compared after NFKC normalisation and case
    folding, so "Ani" and "ANI" (or the same letters in full width) cannot be two users."""
    return unicodedata.normalize("NFKC", name).casefold()


@dataclass(frozen=True)
class User:
    """A user of the ledger as :meth:`Users.list` shows it (never its secret)."""

    name: str
    role: Role
    kind: str  # "person" or "station"
    created_at: str
    created_by: str
    disabled_at: str | None = None
    disabled_by: str | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit: when, who (name and role), what happened, to whom or what, and
    the details."""

    seq: int
    at: str
    actor: str
    role: str
    event: str
    subject: str | None
    detail: str | None


# -- the checks every write goes through ----------------------------------------------------


# A ledger leaves development mode when its first user is created, for good: the audit's row
# of that creation says so even if the users table is emptied behind the ledger's back (which
# would otherwise make anyone anyone again). One statement, run only for an actor that carries
# no credential; a signed-in actor's check below does not need it.
_LEFT_DEVELOPMENT = (
    "SELECT EXISTS (SELECT 1 FROM users)"
    " OR EXISTS (SELECT 1 FROM audit WHERE event = 'user created')"
)


def has_users(db: Session) -> bool:
    """Whether the ledger has left development mode: it has users, or its audit created one
    (then it takes only actors it signed in, even with its users table emptied)."""
    row = db.one(_LEFT_DEVELOPMENT)
    return row is not None and bool(row[0])


def _users_gone(db: Session) -> str:
    """What to add to a refusal when the users table is empty but the audit created users."""
    if db.one("SELECT 1 FROM users LIMIT 1") is not None:
        return ""
    return (
        "; its users table is empty although its audit created users: they were removed"
        " outside the ledger (restore the ledger from a backup, and see verify())"
    )


def authenticate(db: Session, actor: Actor) -> bool:
    """Refuses (:class:`~ektpcore.AuthenticationError`) an actor this ledger did not sign in,
    once it has users; called at the start of every write transaction, before anything is
    written. Without users (development mode) a self-declared actor passes. Returns whether
    the actor is an unattended station (signed in with a token), which may do less than a
    person of the same role (:data:`~ektpcore.STATION_PERMISSIONS`)."""
    if actor.credential is None:
        if has_users(db):
            raise AuthenticationError(
                f"{actor.name} ({actor.role.name.lower()}) is not signed in: this ledger has"
                " users and takes changes only from actors it signed in (sign_in,"
                f" sign_in_station){_users_gone(db)}; nothing was changed"
            )
        return False
    row = db.one(
        f"SELECT {_ROW_U}, u.tag, s.role, s.user_tag FROM sessions s JOIN users u"
        " ON u.id = s.user_id WHERE s.token_hash = ?",
        (_actor_key(db, actor),),
    )
    if row is None:
        raise AuthenticationError(
            f"{actor.name}: this ledger did not sign this actor in (the credential is forged,"
            " of another ledger, or signed out); sign in again. Nothing was changed"
        )
    *fields, tag, session_role, user_tag = row
    _, name, role, kind, _, _, _, disabled_at, _ = fields
    if name != actor.name or session_role != actor.role.name:
        raise AuthenticationError(
            f"{actor.name} ({actor.role.name.lower()}): the credential was issued to another"
            " user or role; nothing was changed"
        )
    if disabled_at is not None:
        raise AuthenticationError(f"user {name} is disabled; nothing was changed")
    if role != session_role:
        raise AuthenticationError(
            f"{name}'s role changed since signing in (now {str(role).lower()}); sign in again."
            " Nothing was changed"
        )
    # The row as the ledger last wrote it (its tag), and as it was when this actor signed in.
    if not _tag_matches(chain.session_mac(db), fields, tag):
        raise AuthenticationError(
            f"user {name}'s row in the users table does not match its tag: it was written or"
            " changed outside the ledger (verify() names it). Nothing was changed"
        )
    if user_tag is None or not hmac.compare_digest(str(user_tag), str(tag)):
        raise AuthenticationError(
            f"{name}'s user row changed since signing in; sign in again. Nothing was changed"
        )
    return bool(kind == "station")


def key_keeper(db: Session, actor: Actor | None, doing: str, now: str) -> tuple[str, str]:
    """Who may seal the ledger or change its keys (``doing`` says which), as the audit names
    them: on a ledger with users an administrator it signed in (the permission to manage
    users: sealing decides who can open the ledger at all, as managing users decides who may
    change it), refused before anything is written; in development mode the actor given, or
    the ledger itself when none is."""
    if actor is None:
        if has_users(db):
            raise AuthenticationError(
                f"this ledger has users: only an administrator it signed in may {doing}"
                f" (sign in and pass the actor){_users_gone(db)}; nothing was changed"
            )
        return SYSTEM
    from .transaction import Transaction, check_actor

    station = authenticate(db, check_actor(actor))
    Transaction(db, actor, now, station=station).require(Permission.MANAGE_USERS, what=doing)
    return actor.name, actor.role.name


def audit(
    db: Session,
    at: str,
    who: tuple[str, str],
    event: str,
    subject: str | None = None,
    detail: str | None = None,
) -> None:
    """Appends one row to the audit chain, inside the caller's transaction; ``who`` is the
    actor's name and role."""
    chain.append(db, [(at, who[0], who[1], event, subject, detail)], chain.AUDIT_CHAIN)


def introduced(db: Session, from_version: int) -> None:
    """The audit's first row: the migration that introduced users (schema 9)."""
    since = "a new ledger" if from_version == 0 else f"schema {from_version} migrated to 9"
    audit(
        db,
        utc_stamp(),
        SYSTEM,
        "users introduced",
        None,
        f"{since}; self-declared actors are taken until the first administrator is created",
    )


def entries(db: Session) -> list[AuditEntry]:
    rows = db.all("SELECT seq, at, actor, role, event, subject, detail FROM audit ORDER BY seq")
    return [AuditEntry(*row) for row in rows]


# -- users ------------------------------------------------------------------------------------


def _user(row: tuple[object, ...]) -> User:
    name, role, kind, created_at, created_by, disabled_at, disabled_by = row
    return User(
        str(name),
        Role[str(role)],
        str(kind),
        str(created_at),
        str(created_by),
        None if disabled_at is None else str(disabled_at),
        None if disabled_by is None else str(disabled_by),
    )


_USER_COLUMNS = "name, role, kind, created_at, created_by, disabled_at, disabled_by"


def _find(db: Session, name: str, *, restore: bool = False) -> tuple[int, User]:
    """User ``name``'s row, as its tag vouches for it. A row that does not match its tag was
    written or changed outside the ledger: refused (:class:`~ektpcore.LedgerError`), or, with
    ``restore`` (a new password, disabling), first written anew as the audit has the user,
    once the audit itself checks out."""
    row = db.one(f"SELECT {_ROW}, tag FROM users WHERE name_key = ?", (name_key(name),))
    if row is None:
        raise InvalidArgumentError(f"no user {name!r} in this ledger")
    *fields, tag = row
    uid, stored = int(fields[0]), str(fields[1])
    if name_key(stored) != name_key(name):
        # The look-up key is not the tag's to vouch for: a row found under another user's
        # name is never changed in that user's name (a password set for the wrong person).
        raise LedgerError(
            f"the users table finds user {stored} under the name {name!r}: its row was changed"
            " outside the ledger; restore the ledger from a backup. Nothing was changed"
        )
    if not _tag_matches(chain.session_mac(db), fields, tag):
        if not restore:
            raise LedgerError(
                f"user {stored}'s row in the users table does not match its tag: it was written"
                " or changed outside the ledger. Set the user a new password"
                " (users.set_password), which writes the row anew as the audit has it, or"
                " disable it; nothing was changed"
            )
        _restore(db, uid, stored)
    found = db.one(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (uid,))
    assert found is not None
    return uid, _user(found)


def _restore(db: Session, uid: int, name: str) -> None:
    """Writes user ``uid``'s role, kind, creation and state as the audit has them (its secret
    is the caller's to replace or keep), after checking the audit's own chain: a row is never
    restored from audit rows written outside the ledger."""
    from .verify import verify_chain  # verify reads users: imported when needed

    audited = verify_chain(db, chain.AUDIT_CHAIN, mac=chain.session_mac(db))
    want = _audited(db, name)
    if not audited.ok or want is None:
        why = (
            f"the audit was changed outside the ledger too ({audited.problem})"
            if not audited.ok
            else "the audit never created it: it was written outside the ledger"
        )
        raise LedgerError(
            f"user {name}'s row in the users table does not match its tag, and {why}; restore"
            " the ledger from a backup. Nothing was changed"
        )
    disabled_at, disabled_by = want.disabled_by or (None, None)
    db.execute(
        "UPDATE users SET role = ?, kind = ?, created_at = ?, created_by = ?, disabled_at = ?,"
        " disabled_by = ? WHERE id = ?",
        (want.role, want.kind, *want.created, disabled_at, disabled_by, uid),
    )


def _insert(db: Session, name: str, role: Role, kind: str, secret: str, now: str, by: str) -> None:
    if name_key(name) == name_key(SYSTEM[0]):
        # The audit and the histories name the ledger's own rows so: a user of that name
        # would read, in every list of who did what, as the ledger itself.
        raise InvalidArgumentError(
            f"{SYSTEM[0]!r} is the name the audit gives the ledger's own rows; choose another"
        )
    taken = db.one("SELECT name FROM users WHERE name_key = ?", (name_key(name),))
    if taken is not None:
        raise InvalidArgumentError(f"the name {name!r} is taken (by {taken[0]!r})")
    db.execute(
        "INSERT INTO users (name, name_key, role, kind, secret, created_at, created_by)"
        " VALUES (?,?,?,?,?,?,?)",
        (name, name_key(name), role.name, kind, secret, now, by),
    )
    row = db.one("SELECT id FROM users WHERE name_key = ?", (name_key(name),))
    assert row is not None
    _retag(db, int(row[0]))


def _manager(tx: Transaction) -> tuple[str, str]:
    """The administrator acting in ``tx``: signed in (a ledger without users has none), with
    the permission to manage users."""
    if not has_users(tx.db):
        raise AuthenticationError(
            "this ledger has no users yet: its first administrator is created with"
            " users.create_administrator (ektpcore users create-administrator)"
        )
    tx.require(Permission.MANAGE_USERS)
    return tx.actor.name, tx.actor.role.name


def _active_administrators(db: Session) -> int:
    row = db.one(
        "SELECT count(*) FROM users WHERE role = ? AND disabled_at IS NULL",
        (Role.ADMINISTRATOR.name,),
    )
    return int(row[0]) if row else 0


# The roles an unattended station may have: an operator's (it prints), or an auditor's. A
# station's token may only print whatever its role (STATION_PERMISSIONS), so a higher role
# would give it nothing but a name that reads as more than it may do.
_STATION_ROLES = frozenset({Role.OPERATOR, Role.AUDITOR})


def _station_role(role: Role | str | int) -> Role:
    given = as_role(role)
    if given not in _STATION_ROLES:
        raise InvalidArgumentError(
            f"an unattended station is an operator (it prints) or an auditor, never"
            f" {given.name.lower()}: supervisors and administrators are people, who sign in"
            " with a password"
        )
    return given


class Users:
    """The users of a :class:`~ektpcore.Ledger`: ``ledger.users``. Only a signed-in
    administrator changes them, each change one transaction and one audit row."""

    def __init__(self, ledger: Ledger, reads: Session) -> None:
        self._ledger = ledger
        self._db = reads

    def exist(self) -> bool:
        """Whether the ledger has users (and so takes only actors it signed in)."""
        return has_users(self._db)

    def list(self) -> list[User]:
        """Every user, disabled ones included, by name."""
        rows = self._db.all(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name_key")
        return [_user(r) for r in rows]

    def create_administrator(self, name: str, password: str) -> None:
        """The ledger's first user, an administrator: allowed only while the ledger has no
        users (it then leaves development mode: from now on only signed-in actors act)."""
        plain_name(name, "a user's name")
        secret = hash_password(password)
        with self._ledger._session() as db:
            if has_users(db):
                raise PermissionDeniedError(
                    "this ledger has users already; a signed-in administrator adds more"
                    + _users_gone(db)
                )
            now = utc_stamp()
            _insert(db, name, Role.ADMINISTRATOR, "person", secret, now, name)
            audit(
                db,
                now,
                (name, Role.ADMINISTRATOR.name),
                "user created",
                name,
                "administrator, the ledger's first user; secret " + secret_mark(db, name, secret),
            )

    def add(self, admin: Actor, name: str, role: Role | str | int, *, password: str) -> None:
        """A new person with ``role``, who signs in with ``password``."""
        plain_name(name, "a user's name")
        given = as_role(role)
        secret = hash_password(password)
        with self._ledger.transaction(admin) as tx:
            by = _manager(tx)
            _insert(tx.db, name, given, "person", secret, tx.now, by[0])
            mark = secret_mark(tx.db, name, secret)
            detail = f"person, {given.name.lower()}; secret {mark}"
            audit(tx.db, tx.now, by, "user created", name, detail)

    def add_station(self, admin: Actor, name: str, role: Role | str | int = Role.OPERATOR) -> str:
        """A new unattended station (a print station, a worker) and its token: returned
        once, stored only as a hash. Keep it in a file only the station's account can read;
        a lost token is replaced by disabling the station and adding another. A station is
        an operator or an auditor, and its token only prints
        (:data:`~ektpcore.STATION_PERMISSIONS`): every other change is a person's."""
        plain_name(name, "a station's name")
        given = _station_role(role)
        token = _STATION_PREFIX + secrets.token_urlsafe(32)
        with self._ledger.transaction(admin) as tx:
            by = _manager(tx)
            secret = _station_secret(token)
            _insert(tx.db, name, given, "station", secret, tx.now, by[0])
            mark = secret_mark(tx.db, name, secret)
            detail = f"station, {given.name.lower()}; secret {mark}"
            audit(tx.db, tx.now, by, "user created", name, detail)
        return token

    def grant(self, admin: Actor, name: str, role: Role | str | int) -> None:
        """Gives ``name`` another role (the one it had is revoked). Its sessions stop working:
        the user signs in again. The last active administrator keeps its role."""
        given = as_role(role)
        with self._ledger.transaction(admin) as tx:
            by = _manager(tx)
            uid, user = _find(tx.db, name)
            if user.kind == "station":
                _station_role(given)
            if user.role is given:
                raise InvalidArgumentError(f"{user.name} is already {given.name.lower()}")
            self._keep_an_administrator(tx, user)
            tx.db.execute("UPDATE users SET role = ? WHERE id = ?", (given.name, uid))
            _retag(tx.db, uid)
            audit(
                tx.db,
                tx.now,
                by,
                "role granted",
                user.name,
                f"{given.name.lower()} granted, {user.role.name.lower()} revoked",
            )

    def set_password(self, admin: Actor, name: str, password: str) -> None:
        """Gives a person a new password (a forgotten or exposed one): the old one no longer
        signs in, and every actor signed in with it is refused from now on."""
        secret = hash_password(password)
        with self._ledger.transaction(admin) as tx:
            by = _manager(tx)
            uid, user = _find(tx.db, name, restore=True)
            if user.kind != "person":
                raise InvalidArgumentError(
                    f"{user.name} is a station: disable it and add another for a new token"
                )
            tx.db.execute("UPDATE users SET secret = ? WHERE id = ?", (secret, uid))
            tx.db.execute("DELETE FROM sessions WHERE user_id = ?", (uid,))
            _retag(tx.db, uid)
            mark = secret_mark(tx.db, user.name, secret)
            audit(tx.db, tx.now, by, "password set", user.name, f"secret {mark}")

    def disable(self, admin: Actor, name: str) -> None:
        """Disables ``name``: it can no longer sign in, and every actor it signed in to is
        refused from now on, in every process. The last active administrator stays."""
        with self._ledger.transaction(admin) as tx:
            by = _manager(tx)
            uid, user = _find(tx.db, name, restore=True)
            if not user.active:
                raise InvalidArgumentError(f"{user.name} is disabled already")
            self._keep_an_administrator(tx, user)
            tx.db.execute(
                "UPDATE users SET disabled_at = ?, disabled_by = ? WHERE id = ?",
                (tx.now, by[0], uid),
            )
            _retag(tx.db, uid)
            audit(tx.db, tx.now, by, "user disabled", user.name, user.role.name.lower())

    @staticmethod
    def _keep_an_administrator(tx: Transaction, user: User) -> None:
        if user.role is Role.ADMINISTRATOR and user.active and _active_administrators(tx.db) < 2:
            raise PermissionDeniedError(
                f"{user.name} is the last active administrator; add another one first"
            )


# -- signing in -------------------------------------------------------------------------------

_REFUSED = "sign-in refused: unknown user or wrong password"
# What the audit says of a sign-in refused because the user's row was changed outside the
# ledger: verify() names every such row, the trace of an attempt that failed.
_FORGED_ROW = "its row does not match its tag or the audit"


def _refused(ledger: Ledger, subject: str | None, detail: str) -> None:
    """Writes a refused sign-in to the audit, in a transaction of its own (the refusal itself
    changes nothing else). ``subject`` is a user's name as the ledger holds it, never the
    text typed (a password typed into the name field would otherwise be kept)."""
    with ledger._session() as db:
        audit(db, utc_stamp(), SYSTEM, "sign-in refused", subject, detail)


def _row_problem(db: Session, fields: Sequence[object], tag: object) -> str | None:
    """Why user row ``fields`` (tagged ``tag``) signs nobody in, if it does not: it does not
    match its tag, or it is not what the audit last made of the user (a row set back to an
    older tagged version: an old role, an old password, enabled again)."""
    name = str(fields[1])
    mac = chain.session_mac(db)
    if not _tag_matches(mac, fields, tag):
        return (
            f"user {name}'s row in the users table does not match its tag: it was written or"
            " changed outside the ledger"
        )
    problems = _audit_problems(mac, fields, _audited(db, name), secrets=True)
    return None if not problems else problems[0][0]


def _session_for(ledger: Ledger, uid: int, secret: str, how: str) -> Actor:
    """Writes a session for user ``uid`` if its row is still as it was read (same secret, not
    disabled), matches its tag and the audit, and returns the actor carrying its
    credential; the sign-in, or its refusal, is an audit row either way."""
    credential = secrets.token_urlsafe(32)
    refusal: tuple[str | None, str, str] | None = None
    with ledger._session() as db:
        now = utc_stamp()
        row = db.one(f"SELECT {_ROW}, tag FROM users WHERE id = ?", (uid,))
        if row is None or not hmac.compare_digest(str(row[4]), secret):
            refusal = (None, "the user's row changed while signing in", _REFUSED)
        else:
            *fields, tag = row
            name, role = str(fields[1]), str(fields[2])
            problem = _row_problem(db, fields, tag)
            if fields[7] is not None:
                refusal = (name, "disabled", f"user {name} is disabled")
            elif problem is not None:
                refusal = (
                    name,
                    _FORGED_ROW,
                    f"sign-in refused: {problem}. Nobody signs in as {name} until an"
                    " administrator sets a new password or disables it, or the ledger is"
                    " restored from a backup (verify() names the row)",
                )
            else:
                db.execute(
                    "INSERT INTO sessions (token_hash, user_id, role, signed_in_at, user_tag)"
                    " VALUES (?,?,?,?,?)",
                    (session_key(db, credential, name, role), uid, role, now, tag),
                )
                audit(db, now, (name, role), "signed in", name, how)
        if refusal is not None:
            audit(db, now, SYSTEM, "sign-in refused", refusal[0], refusal[1])
    if refusal is not None:
        raise AuthenticationError(refusal[2])
    return Actor(name, Role[role], credential)


def sign_in(ledger: Ledger, reads: Session, name: str, password: str) -> Actor:
    """See :meth:`~ektpcore.Ledger.sign_in`."""
    if not isinstance(name, str) or not isinstance(password, str):
        _refused(ledger, None, "a name or password that is not text")
        raise AuthenticationError(_REFUSED)
    sealing.check_text(name, "a user's name")
    sealing.check_text(password, "a password")
    # A name with a NUL is no user's (names hold no control character), and a database
    # server would refuse to compare it.
    row = None
    if "\x00" not in name:
        row = reads.one(
            "SELECT id, secret, name FROM users WHERE name_key = ? AND kind = 'person'",
            (name_key(name),),
        )
    if row is not None and name_key(str(row[2])) != name_key(name):
        # The row's look-up key was changed outside the ledger (the tag covers the name, not
        # the key derived from it): a row found under another user's name is not theirs.
        row = None
    stored = str(row[1]) if row is not None else _decoy()
    # The same work whether or not the name is known: no answer tells names apart.
    matches = password_matches(password, stored)
    if row is None or not matches:
        if row is None:
            _refused(ledger, None, "unknown name")
        else:
            _refused(ledger, str(row[2]), "wrong password")
        raise AuthenticationError(_REFUSED)
    return _session_for(ledger, int(row[0]), stored, "password")


def sign_in_station(ledger: Ledger, reads: Session, token: str) -> Actor:
    """See :meth:`~ektpcore.Ledger.sign_in_station`."""
    refused = "sign-in refused: unknown or revoked station token"
    if not isinstance(token, str) or not token.strip().startswith(_STATION_PREFIX):
        _refused(ledger, None, "not a station token")
        raise AuthenticationError(refused)
    sealing.check_text(token, "a station's token")
    secret = _station_secret(token.strip())
    row = reads.one("SELECT id FROM users WHERE secret = ? AND kind = 'station'", (secret,))
    if row is None:
        _refused(ledger, None, "unknown station token")
        raise AuthenticationError(refused)
    return _session_for(ledger, int(row[0]), secret, "station token")


def sign_out(ledger: Ledger, actor: Actor) -> None:
    """See :meth:`~ektpcore.Ledger.sign_out`."""
    if actor.credential is None:
        return
    with ledger._session() as db:
        db.execute("DELETE FROM sessions WHERE token_hash = ?", (_actor_key(db, actor),))


# -- what verify() checks of the users ----------------------------------------------------------

_CREATED = re.compile(r"^(?P<kind>person|station|administrator), (?P<role>[a-z]+)")
_GRANTED = re.compile(r"^(?P<role>[a-z]+) granted")
# The audit's events that change a user's row, in the order the ledger writes them.
_USER_EVENTS = ("user created", "role granted", "user disabled", "password set", "user tagged")

CLOCK_SLACK = _dt.timedelta(minutes=5)
"""How far apart the clocks of the machines writing one ledger may be: a change stamped this
close to a role's start or end is taken as made with that role (``verify()`` compares each
history row's actor and role with the audit by their timestamps, which each writer's clock
gives)."""


@dataclass
class _Replayed:
    name: str
    kind: str
    role: str
    disabled: bool = False
    mark: str | None = None
    seq: int = 0
    created: tuple[str, str] = ("", "")  # when and by whom, as the audit has it
    disabled_by: tuple[str, str] | None = None
    roles: list[tuple[str, str, int]] = field(default_factory=list)  # role, from when, row

    def spans(self, role: str) -> list[tuple[str, str | None]]:
        """When the audit gave the user ``role`` (from, until; ``None``: still), each
        widened by :data:`CLOCK_SLACK`."""
        ends: list[str | None] = [at for _, at, _ in self.roles[1:]]
        ends.append(self.disabled_by[0] if self.disabled_by else None)
        return [
            (_shifted(start, -CLOCK_SLACK), None if end is None else _shifted(end, CLOCK_SLACK))
            for (given, start, _), end in zip(self.roles, ends, strict=True)
            if given == role
        ]

    def story(self) -> str:
        """The roles the audit gave the user, by audit row."""
        parts = [f"{r.lower()} from audit row {seq}" for r, _, seq in self.roles]
        if self.disabled:
            parts.append(f"disabled at audit row {self.seq}")
        return ", ".join(parts)


def _shifted(stamp: str, by: _dt.timedelta) -> str:
    try:
        return utc_stamp(_dt.datetime.fromisoformat(stamp) + by)
    except (ValueError, OverflowError):
        return stamp


def _replay_entries(
    rows: Sequence[AuditEntry],
) -> tuple[dict[str, _Replayed], list[tuple[str, str, int]]]:
    """The users as the audit rows ``rows`` made them (by name key), and rows that cannot be
    read."""
    users: dict[str, _Replayed] = {}
    unreadable: list[tuple[str, str, int]] = []
    for entry in rows:
        key = name_key(entry.subject or "")
        event, detail, seq = entry.event, entry.detail or "", entry.seq
        if event == "user created":
            created = _CREATED.match(detail)
            if created is None:
                unreadable.append((entry.subject or "-", f"audit row {seq} is unreadable", seq))
                continue
            kind, role = created["kind"], created["role"]
            if kind == "administrator":  # the ledger's first user
                kind, role = "person", "administrator"
            users[key] = _Replayed(
                str(entry.subject),
                kind,
                role.upper(),
                seq=seq,
                created=(entry.at, entry.actor),
                roles=[(role.upper(), entry.at, seq)],
            )
        elif key not in users:
            continue  # approvals, reveals: not about users
        elif event == "role granted":
            granted = _GRANTED.match(detail)
            if granted is None:
                unreadable.append((entry.subject or "-", f"audit row {seq} is unreadable", seq))
                continue
            users[key].role, users[key].seq = granted["role"].upper(), seq
            users[key].roles.append((granted["role"].upper(), entry.at, seq))
        elif event == "user disabled":
            users[key].disabled, users[key].seq = True, seq
            users[key].disabled_by = (entry.at, entry.actor)
        elif event in ("password set", "user tagged"):
            users[key].seq = seq
        else:
            continue
        if event in ("user created", "password set", "user tagged"):
            users[key].mark = marked_secret(detail)
    return users, unreadable


def _replay(db: Session) -> tuple[dict[str, _Replayed], list[tuple[str, str, int]]]:
    """The users as the audit made them (by name key), and audit rows that cannot be read."""
    return _replay_entries(entries(db))


def _audited(db: Session, name: str) -> _Replayed | None:
    """User ``name`` as the audit made it (its rows found through the audit's subject
    index), ``None`` when the audit never created it."""
    marks = ",".join("?" * len(_USER_EVENTS))
    rows = db.all(
        "SELECT seq, at, actor, role, event, subject, detail FROM audit"
        f" WHERE subject = ? AND event IN ({marks}) ORDER BY seq",
        (name, *_USER_EVENTS),
    )
    return _replay_entries([AuditEntry(*row) for row in rows])[0].get(name_key(name))


def _audit_problems(
    mac: chain.ChainMac | None,
    fields: Sequence[object],
    want: _Replayed | None,
    *,
    secrets: bool,
) -> list[tuple[str, int | None]]:
    """How user row ``fields`` differs from what the audit made of the user (``want``):
    ``(problem, audit row)``. With ``secrets``, its secret is compared with the audit's last
    mark of it, where the audit has one."""
    _, name, role, kind, secret, _, _, disabled_at, _ = fields
    if want is None:
        return [(f"user {name} is not in the audit: it was written outside the ledger", None)]
    problems: list[tuple[str, int | None]] = []
    if (kind, role) != (want.kind, want.role):
        problems.append(
            (
                f"user {name} is {kind} {str(role).lower()} but the audit makes it"
                f" {want.kind} {want.role.lower()}",
                want.seq,
            )
        )
    if (disabled_at is not None) != want.disabled:
        state = "disabled" if want.disabled else "active"
        problems.append((f"user {name} should be {state} by the audit", want.seq))
    if (
        secrets
        and want.mark is not None
        and want.mark not in _secret_marks(mac, str(name), str(secret))
    ):
        problems.append(
            (
                f"user {name}'s secret is not the one the audit recorded: its password"
                " or token was replaced outside the ledger",
                want.seq,
            )
        )
    return problems


def check(db: Session, mac: chain.ChainMac | None) -> list[tuple[str, str, int | None]]:
    """Every user row against the audit (``(user, problem, audit row)``): a user the audit
    never created, one it created that is gone, a kind, role or disabled state the audit
    does not give, a secret other than the one the audit last recorded (where it recorded
    one), and otherwise a row that does not match its tag (a column changed that the audit
    does not describe). In a sealed ledger checked without its keys neither the secrets nor
    the tags are compared."""
    expected, found = _replay(db)
    problems: list[tuple[str, str, int | None]] = list(found)
    keyed = not (mac is None and sealing.fingerprint(db) is not None)
    rows = db.all(f"SELECT {_ROW}, tag, name_key FROM users ORDER BY name_key")
    seen = set()
    for row in rows:
        *fields, tag, stored_key = row
        name = str(fields[1])
        key = name_key(name)
        seen.add(key)
        want = expected.get(key)
        differ = _audit_problems(mac, fields, want, secrets=keyed)
        if stored_key != key:
            # Sign-in finds a user by this key: changed, the user is found under another name.
            differ.append(
                (
                    f"user {name}'s row is found under the name {stored_key!r}, not its own: it"
                    " was changed outside the ledger",
                    None if want is None else want.seq,
                )
            )
        if not differ and keyed and not _tag_matches(mac, fields, tag):
            differ = [
                (
                    f"user {name}'s row does not match its tag: it was written or changed"
                    " outside the ledger",
                    None if want is None else want.seq,
                )
            ]
        problems += [(name, problem, seq) for problem, seq in differ]
    for key, want in expected.items():
        if key not in seen:
            problems.append(
                (
                    want.name,
                    f"user {want.name} is in the audit but not in the users table",
                    want.seq,
                )
            )
    return problems


# The chains whose rows name who acted (name and role), and how a finding names their rows.
_ACTING = (
    ("history", "history row"),
    ("blank_history", "blank history row"),
    ("audit", "audit row"),
)


class Acting:
    """Every chained row written since the ledger's first user was created, held to what the
    audit gave its actor at the row's time (within :data:`CLOCK_SLACK`). Rows before the first
    user are development mode's, whose actors declared themselves. ``verify()`` feeds it each
    chunk of rows its chain check reads (:meth:`feed`), so no row is read twice; the rows are
    checked in the core (``rust/ledger/acting.rs``), and only each distinct actor and role
    comes back here, once, where the core first meets it, to be given the spans the audit
    allowed it."""

    def __init__(self, db: Session) -> None:
        self._expected, _ = _replay(db)
        self._checks: dict[str, Any] = {}
        if not self._expected:
            return
        since = min(want.created[0] for want in self._expected.values())
        for each in chain.CHAINS:
            at = each.columns.index
            columns = (0, at("at") + 1, at("actor") + 1, at("role") + 1)
            skip = SYSTEM if each.table == "audit" else None
            self._checks[each.table] = _ektpcore.ActingCheck(columns, since, skip)

    def feed(self, table: str, rows: Any) -> None:
        """Checks the next rows of ``table`` (a :class:`~ektpcore._ektpcore.LedgerRows` of
        sequence number and the chain's columns), in order."""
        check = self._checks.get(table)
        if check is None:
            return
        start = 0
        while (new := check.feed(rows, start)) is not None:
            start, pair, actor, role = new
            want = self._expected.get(name_key(actor))
            check.learn(pair, [] if want is None else want.spans(role))

    def findings(self, db: Session) -> list[tuple[str, str, str, int]]:
        """``(table, sequence number, problem, sequence number)``: of each table, the first
        row of each actor and role the audit did not make so at the row's time, in the order
        of their first rows; then every sign-in refused for a users row forged."""
        if not self._expected:
            return []
        found: list[tuple[str, str, str, int]] = []
        for table, label in _ACTING:
            check = self._checks.get(table)
            for actor, role, seq, at in [] if check is None else check.outside():
                want = self._expected.get(name_key(actor))
                if want is None:
                    problem = (
                        f"{label} {seq} names {actor} ({role.lower()}), a user the audit never"
                        " created: the user was written into the database outside the ledger"
                    )
                else:
                    problem = (
                        f"{label} {seq} names {actor} as {role.lower()} at {at}, which the"
                        f" audit did not make {actor} then (the audit gives: {want.story()})"
                    )
                found.append((table, str(seq), problem, seq))
        for seq, subject in db.all(
            "SELECT seq, subject FROM audit WHERE event = 'sign-in refused' AND detail = ?"
            " ORDER BY seq",
            (_FORGED_ROW,),
        ):
            problem = (
                f"audit row {seq}: a sign-in as {subject} was refused, its row in the users"
                " table not matching its tag or the audit: the row was written or changed"
                " outside the ledger"
            )
            found.append(("audit", str(seq), problem, int(seq)))
        return found


# -- tagging the users of a ledger migrated or sealed ---------------------------------------------


def tag_untagged(store: LedgerStore, vault: Vault | None) -> int:
    """Tags the users whose rows have no tag (a ledger migrated to schema 16, opened here
    with its keys when sealed), each with an audit row ``user tagged`` that also records the
    mark of its secret; returns how many. Only rows the audit explains are tagged (kind, role,
    state, and the secret where the audit marked one), and in a sealed ledger only after the
    audit's own chain checks out: a row written or changed outside the ledger stays untagged,
    signs nobody in, and verify() names it."""
    if Session(store, vault=vault).one("SELECT 1 FROM users WHERE tag IS NULL LIMIT 1") is None:
        return 0
    from .verify import verify_chain  # verify reads users: imported when needed

    with store.transaction() as conn:
        db = Session(store, conn, vault)
        rows = db.all(f"SELECT {_ROW} FROM users WHERE tag IS NULL ORDER BY id")
        mac = chain.session_mac(db)
        if not rows or (mac is not None and not verify_chain(db, chain.AUDIT_CHAIN, mac=mac).ok):
            return 0
        return _tag_rows(db, rows, mac, _replay(db)[0])


def _tag_rows(
    db: Session,
    rows: Sequence[Sequence[object]],
    mac: chain.ChainMac | None,
    expected: dict[str, _Replayed],
) -> int:
    now = utc_stamp()
    tagged = 0
    for fields in rows:
        name, role, kind, secret = (str(v) for v in fields[1:5])
        if _audit_problems(mac, fields, expected.get(name_key(name)), secrets=True):
            continue
        db.execute("UPDATE users SET tag = ? WHERE id = ?", (row_tag(mac, fields), fields[0]))
        mark = secret_mark(mac, name, secret)
        audit(db, now, SYSTEM, "user tagged", name, f"{kind}, {role.lower()}; secret {mark}")
        tagged += 1
    return tagged


def retag_sealed(db: Session) -> int:
    """A ledger being sealed (``db`` writes with its new keys): every user whose row matches
    its open (SHA-256) tag gets a tag under the keys, with an audit row ``user tagged``
    recording its secret's keyed mark; a row that did not match stays as it is, and signs
    nobody in. Sessions of the open ledger end (their keys were SHA-256). Returns the users
    tagged."""
    rows = [
        fields
        for *fields, tag in db.all(f"SELECT {_ROW}, tag FROM users ORDER BY id")
        if _tag_matches(None, fields, tag)
    ]
    db.execute("DELETE FROM sessions")
    return _tag_rows(db, rows, chain.session_mac(db), _replay(db)[0])
