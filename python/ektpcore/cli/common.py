"""What every command shares: exit codes, errors as one line, opening a ledger (sealed or
not), who acts, reading sheets, rejects and output files.

Every :class:`~ektpcore.EktpcoreError` a command lets through becomes one line, ``Error:
...``, and the exit code of its kind (:class:`Exit`); a command that did less than it was
asked says so and exits with the code that says why.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import functools
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from .._files import EXISTS, new_private, spreadsheet_cell
from ..errors import (
    AnchorError,
    ApprovalRequiredError,
    AuthenticationError,
    BatchClaimedError,
    BlankShortageError,
    CardDataError,
    EktpcoreError,
    IllegalTransitionError,
    InvalidArgumentError,
    InvalidNikError,
    LeaseLostError,
    LedgerError,
    LedgerFileError,
    LedgerKeyError,
    ManifestMismatchError,
    PermissionDeniedError,
    RecordClaimedError,
    RibbonExhaustedError,
    SheetError,
    UnknownRecordError,
)
from ..lifecycle import Actor, Role
from ..nik import Nik, mask_nik
from ..sheets import FIELDS, Sheet, initials, read_sheet, row_label

if TYPE_CHECKING:
    from ..ledger import Ledger, Record

F = TypeVar("F", bound=Callable[..., Any])


class Exit(enum.IntEnum):
    """The exit codes of every command (docs/cli.md#exit-codes)."""

    OK = 0
    """Everything asked was done."""
    ERROR = 1
    """Any other error (a printer that cannot be reached, a file that cannot be read)."""
    USAGE = 2
    """A wrong option or argument."""
    INPUT = 3
    """An input file cannot be read as asked (the message names file, row and column)."""
    OUTPUT = 4
    """An output path cannot be written (checked before the work starts)."""
    LEDGER = 5
    """Not a ledger, none there, damaged, busy or unreachable, or one exists already."""
    KEYS = 6
    """A sealed ledger without its keys, with another ledger's, or keys or a station token file
    others can read."""
    DENIED = 7
    """Sign-in refused, or the user's role may not do this."""
    REFUSED = 8
    """The ledger refused the change: the lifecycle, a record a station holds, a two-person
    rule, a count that does not match, a range that overlaps."""
    NOTHING = 9
    """Nothing to do: nothing matched what was asked."""
    UNKNOWN = 10
    """No such record, batch, manifest, request or blank."""
    ELSEWHERE = 11
    """The batch is queued for another printer."""
    SHORT = 12
    """Not enough blanks in stock, or no ribbon (or one used up)."""
    PARTIAL = 13
    """Done in part: a run stopped before the batch's end, rows rejected at intake."""
    CHECK = 14
    """A check found a problem: the history does not verify, the blanks do not balance,
    invalid NIKs with --fail-on-invalid."""


def failure(message: str, code: Exit = Exit.ERROR) -> click.ClickException:
    """A command's failure, to raise: one line on standard error, ``Error: ...``, and its
    exit code."""
    err = click.ClickException(plain(" ".join(message.split())))
    err.exit_code = int(code)
    return err


_KINDS: tuple[tuple[type[EktpcoreError], Exit], ...] = (
    (SheetError, Exit.INPUT),
    (LedgerKeyError, Exit.KEYS),
    (AnchorError, Exit.CHECK),
    (BatchClaimedError, Exit.REFUSED),
    (LeaseLostError, Exit.REFUSED),
    (LedgerError, Exit.LEDGER),
    (ApprovalRequiredError, Exit.REFUSED),
    (AuthenticationError, Exit.DENIED),
    (PermissionDeniedError, Exit.DENIED),
    (UnknownRecordError, Exit.UNKNOWN),
    (BlankShortageError, Exit.SHORT),
    (RibbonExhaustedError, Exit.SHORT),
    (IllegalTransitionError, Exit.REFUSED),
    (RecordClaimedError, Exit.REFUSED),
    (ManifestMismatchError, Exit.REFUSED),
    (CardDataError, Exit.REFUSED),
    (InvalidNikError, Exit.USAGE),
    (InvalidArgumentError, Exit.REFUSED),
)


def failure_of(err: EktpcoreError) -> click.ClickException:
    """The failure a library error is reported as."""
    code = next((code for kind, code in _KINDS if isinstance(err, kind)), Exit.ERROR)
    return failure(str(err), code)


def one_line_usage(err: click.UsageError) -> click.ClickException:
    """A usage error as one line naming what is wrong and where the command's help is
    (click shows the usage, a hint and a blank line before it: four lines for one fault)."""
    where = ""
    if err.ctx is not None:
        where = f" (see '{err.ctx.command_path} {err.ctx.help_option_names[0]}')"
    return failure(f"{err.format_message().rstrip('.')}{where}", Exit.USAGE)


class Main(click.Group):
    """The command group: every library error a command lets through, and every usage
    error, is one line."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise  # the help asked for by giving nothing
        except click.UsageError as err:
            raise one_line_usage(err) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as err:
            raise one_line_usage(err) from None
        except EktpcoreError as err:
            raise failure_of(err) from None
        except OverflowError:
            raise failure("a number given is too large", Exit.USAGE) from None
        except MemoryError:
            raise failure("not enough memory for what was asked", Exit.ERROR) from None


# -- output ------------------------------------------------------------------------------------


# Characters a terminal acts on rather than shows: C0 and C1 controls (ESC starts a
# sequence that can rewrite the screen, BEL rings, CR overwrites the line) and the
# bidirectional overrides and isolates (they reorder the text shown after them).
_UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text: str, *, lines: bool = False) -> str:
    """``text`` as it may reach a terminal: every control character escaped (``\\x1b``,
    ``\\n``), so text kept in a ledger (a reason, a note, a name) can neither move the
    cursor, ring, recolour nor start a line of its own; ``lines`` keeps line breaks (the
    command's own)."""

    def escaped(match: re.Match[str]) -> str:
        ch = match.group()
        if lines and ch == "\n":
            return ch
        return ch.encode("unicode_escape").decode("ascii")

    return _UNSHOWN.sub(escaped, text)


def echo(text: str = "", *, lines: bool = False) -> None:
    """What the command did, on standard output, one line: control characters escaped, line
    breaks too (see :func:`plain`), so a value from a ledger or a sheet (a kecamatan, a
    name, a reason) can never start a line of its own that reads as the command's. Text the
    command composes of several lines says so (``lines``)."""
    click.echo(plain(text, lines=lines))


def note(text: str, *, lines: bool = False) -> None:
    """Progress, warnings and remarks, on standard error (escaped as :func:`echo`)."""
    click.echo(plain(text, lines=lines), err=True)


def check_output(path: Path, what: str, *, new: bool = False) -> None:
    """Refuses, before any work starts, a file that cannot be written: a folder, a missing
    folder, a place without write access (and, with ``new``, an existing file or a symbolic
    link, even one that points nowhere: citizens' data is never written through one)."""
    if new and path.is_symlink():
        raise failure(f"{path}: is a symbolic link; {what} is written to a new file", Exit.OUTPUT)
    if path.is_dir():
        raise failure(f"{path}: is a folder; {what} is written to a file", Exit.OUTPUT)
    if path.exists():
        if new:
            raise failure(f"{path}: exists; {what} is written to a new file", Exit.OUTPUT)
        try:
            os.close(os.open(path, os.O_WRONLY))
        except OSError as err:
            raise failure(f"{path}: cannot be written ({err.strerror})", Exit.OUTPUT) from None
        return
    check_folder(path.parent, f"{path}")


def check_cleaned(path: Path | None) -> None:
    """The cleaned sheet's path (``--output``), checked before the work: it holds citizens'
    data in clear, so it is a new file, never one written over."""
    if path is not None and str(path) != "-":
        check_output(path, "the cleaned sheet", new=True)


def check_folder(folder: Path, what: str) -> None:
    """Refuses a folder that is missing, not a folder, or not writable."""
    if not folder.is_dir():
        raise failure(f"{what}: the folder {folder} does not exist", Exit.OUTPUT)
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise failure(f"{what}: cannot write in {folder} ({err.strerror})", Exit.OUTPUT) from None


@contextlib.contextmanager
def output_errors(path: Path) -> Iterator[None]:
    """A write to ``path`` that fails, as one line naming it (exit 4): an existing file or a
    symbolic link where a new file is made, a full disk, a folder without write access."""
    try:
        yield
    except FileExistsError:
        raise failure(f"{path}: {EXISTS}", Exit.OUTPUT) from None
    except OSError as err:
        raise failure(f"{path}: cannot be written ({err.strerror or err})", Exit.OUTPUT) from None


@contextlib.contextmanager
def writing(path: Path | None, *, private: bool = False) -> Iterator[IO[str]]:
    """A text file to write (standard output for ``None`` or ``-``); a write that fails is
    one line naming the file. ``private`` files (personal data) are new files of mode 0600,
    never written over nor through a symbolic link (:func:`~ektpcore._files.new_private`)."""
    if path is None or str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with output_errors(path):
        if private:
            with new_private(path) as f:
                yield f
        else:
            with path.open("w", newline="", encoding="utf-8") as f:
                yield f


# -- ledgers -----------------------------------------------------------------------------------

KEYS_VARIABLE = "EKTPCORE_LEDGER_KEYS"
PASSWORD_VARIABLE = "EKTPCORE_PASSWORD"
NEW_PASSWORD_VARIABLE = "EKTPCORE_NEW_PASSWORD"
TOKEN_VARIABLE = "EKTPCORE_STATION_TOKEN"
ANCHOR_VARIABLE = "EKTPCORE_ANCHOR"


def shown(location: str) -> str:
    """A ledger's location as it may be shown (a database URL without its password)."""
    from ..ledger.postgres import mask_url
    from ..ledger.store import is_database_url

    return mask_url(location) if is_database_url(location) else location


def keys_option(f: F) -> F:
    """``--keys``: a sealed ledger's key file (or ``EKTPCORE_LEDGER_KEYS``)."""
    return click.option(
        "--keys",
        type=click.Path(path_type=Path),
        envvar=KEYS_VARIABLE,
        default=None,
        help=f"The key file of a sealed ledger (or {KEYS_VARIABLE}).",
    )(f)


_ANCHOR = "ektpcore.anchor"


def _keep_anchor(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    ctx.meta[_ANCHOR] = value if value is not None and str(value) else None


def anchor_option(f: F) -> F:
    """``--anchor``: the ledger's anchor file (or ``EKTPCORE_ANCHOR``), where the command
    appends a checkpoint of the chains' heads after its changes and ``ledger verify`` holds
    the ledger to them. Kept for :func:`open_ledger` (``ctx.meta``), not passed to the
    command: every command that opens a ledger takes it alike, set once for a bureau."""
    return click.option(
        "--anchor",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=ANCHOR_VARIABLE,
        default=None,
        expose_value=False,
        callback=_keep_anchor,
        help=f"The ledger's anchor file, kept away from the ledger (or {ANCHOR_VARIABLE}):"
        " checkpoints are appended to it, ledger verify checks them.",
    )(f)


def given_anchor() -> Path | None:
    """The anchor file the command was given (``--anchor``, ``EKTPCORE_ANCHOR``), if any."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_ANCHOR)


def on_ledger(f: F) -> F:
    """The ``LEDGER`` argument (a ledger file, or a ``postgresql://`` URL), ``--keys`` and
    ``--anchor``."""
    return click.argument("ledger", metavar="LEDGER")(keys_option(anchor_option(f)))


def check_anchor_folder(path: Path) -> None:
    """Refuses, before the ledger is opened, an anchor whose folder is not there (a mount
    that is not mounted), so no change is made that could not be anchored."""
    if not path.absolute().parent.is_dir():
        raise failure(
            f"{path}: the anchor's folder {path.absolute().parent} does not exist (is its disk"
            " mounted?)",
            Exit.OUTPUT,
        )


def key_file(path: Path | None) -> Any:
    """The keys in ``path`` (a :class:`~ektpcore.keys.KeyFile`), or ``None``."""
    from ..keys import KeyFile

    return None if path is None else KeyFile(path)


@contextlib.contextmanager
def open_ledger(location: str, keys: Path | None, *, anchored: bool = True) -> Iterator[Ledger]:
    """An existing ledger, opened with its keys when it is sealed. A file that is not a
    ledger, none at all, or a sealed ledger without its keys is refused (a new ledger is
    made only by ``ledger init``); keys given for an open ledger are refused too rather than
    sealing it on the way. Given an anchor (:func:`anchor_option`) and ``anchored``, the
    ledger writes its checkpoints there (a :class:`~ektpcore.FileAnchor`), the last one as
    it is closed, even when the command then fails (what it committed stays committed); a
    command that changed nothing adds no line (the ledger leaves out a checkpoint no newer
    than the file's last)."""
    from ..ledger import FileAnchor, Ledger

    ring = key_file(keys)
    path = given_anchor() if anchored else None
    if path is not None:
        check_anchor_folder(path)
    anchor: dict[str, Any] = {} if path is None else {"anchor": FileAnchor(path)}
    try:
        if ring is None:
            led = Ledger(location, create=False, **anchor)
        else:
            try:
                Ledger(location, create=False).close()
            except LedgerKeyError:
                led = Ledger(location, create=False, keys=ring, **anchor)
            else:
                raise failure(
                    f"{shown(location)}: the ledger is not sealed; --keys ({KEYS_VARIABLE}) is"
                    " for a sealed one (ektpcore ledger seal seals it)",
                    Exit.KEYS,
                )
    except LedgerFileError as err:
        hint = "" if "://" in location or Path(location).exists() else " (ledger init makes one)"
        raise failure(f"{err}{hint}", Exit.LEDGER) from None
    try:
        yield led
    except BaseException:
        with contextlib.suppress(EktpcoreError):  # the command's own error is the one said
            led.close()
        raise
    led.close()


# -- who acts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Who:
    """Who a command acts as, from its options: see :func:`acting`."""

    role: Role
    user: str | None
    token_file: Path | None
    declared: str | None


def _terminal_for(what: str, variable: str) -> None:
    """Refuses to ask for a password without a terminal to ask on (a script, a service, a
    pipe): the prompt would echo it, or wait on nothing; the variable gives it."""
    if not sys.stdin.isatty():
        raise failure(
            f"no {what} given and no terminal to ask for it on: set {variable}", Exit.USAGE
        )


def _password(name: str) -> str:
    given = os.environ.get(PASSWORD_VARIABLE)
    if given is not None:
        return given
    _terminal_for(f"password for {name}", PASSWORD_VARIABLE)
    return str(click.prompt(f"password of {name}", hide_input=True, err=True))


def new_password(name: str) -> str:
    """A new user's password: from ``EKTPCORE_NEW_PASSWORD``, or asked for twice on the
    terminal (refused without one)."""
    given = os.environ.get(NEW_PASSWORD_VARIABLE)
    if given is not None:
        return given
    _terminal_for(f"new password for {name}", NEW_PASSWORD_VARIABLE)
    return str(
        click.prompt(
            f"new password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    )


def acting(role: Role, *, default: str | None = None) -> Callable[[F], F]:
    """Options naming who acts, passed to the command as ``who``: ``--user`` (signed in with
    a password), ``--token-file`` (a station's token) and, on a ledger without users only,
    ``--operator`` or ``--supervisor`` (the name the change is recorded under). A
    supervisor's command also signs ``--supervisor`` in on a ledger with users."""
    declared = "--supervisor" if role is Role.SUPERVISOR else "--operator"
    signs_in = (
        " (signed in with a password on a ledger with users)"
        if declared == ("--supervisor")
        else " (only on a ledger without users: development mode)"
    )

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def run(
            *args: Any,
            user: str | None,
            token_file: Path | None,
            declared_name: str | None,
            **kwargs: Any,
        ) -> Any:
            return f(*args, who=Who(role, user, token_file, declared_name), **kwargs)

        options = [
            click.option(
                "--user",
                default=None,
                help=f"Sign in as this user (password from {PASSWORD_VARIABLE} or a prompt).",
            ),
            click.option(
                "--token-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help=f"Sign in with a station's token (or {TOKEN_VARIABLE}).",
            ),
            click.option(
                declared,
                "declared_name",
                default=default,
                show_default=default is not None,
                help=f"Who acts, as the {role.name.lower()}{signs_in}.",
            ),
        ]
        for option in reversed(options):
            run = option(run)
        return run  # type: ignore[return-value]

    return decorate


def read_token(path: Path) -> str:
    """A station's token from its file, refused like a key file when others could read it
    or replace it: open to the group or others, not a regular file, another user's."""
    try:
        info = path.stat()
    except OSError as err:
        raise failure(f"{path}: cannot read the token file ({err.strerror})", Exit.KEYS) from None
    if not stat.S_ISREG(info.st_mode):
        raise failure(f"{path}: a token file is a regular file", Exit.KEYS)
    if info.st_mode & 0o077:
        raise failure(
            f"{path}: the token file is open to others (mode {stat.S_IMODE(info.st_mode):04o});"
            f" make it private with: chmod 600 {path}",
            Exit.KEYS,
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise failure(f"{path}: the token file belongs to another user", Exit.KEYS)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not text"
        raise failure(f"{path}: cannot read the token file ({reason})", Exit.KEYS) from None


@contextlib.contextmanager
def signed_in(led: Ledger, who: Who) -> Iterator[Actor]:
    """The actor a command acts as (see :func:`acting`), signed out when it ends. A ledger
    with users takes only users it signs in; a ledger without users (development mode) the
    name given, in the role the command needs."""
    if led.users.exist():
        token = (
            read_token(who.token_file)
            if who.token_file is not None
            else os.environ.get(TOKEN_VARIABLE)
        )
        name = who.user or (who.declared if who.role is Role.SUPERVISOR else None)
        if token and who.user is None:
            actor = led.sign_in_station(token.strip())
        elif name is not None:
            actor = led.sign_in(name, _password(name))
        else:
            raise failure(
                "this ledger has users: sign in with --user NAME (password from"
                f" {PASSWORD_VARIABLE} or a prompt) or a station token (--token-file,"
                f" {TOKEN_VARIABLE}); --operator is taken only on a ledger without users",
                Exit.DENIED,
            )
        try:
            yield actor
        finally:
            with contextlib.suppress(EktpcoreError):
                led.sign_out(actor)
        return
    if who.user is not None or who.token_file is not None:
        raise failure(
            "this ledger has no users (development mode): there is no one to sign in; name"
            f" who acts with --{'supervisor' if who.role is Role.SUPERVISOR else 'operator'}"
            " NAME, or give the ledger its administrator (ektpcore users create-administrator)",
            Exit.DENIED,
        )
    if who.declared is None:
        option = "--supervisor" if who.role is Role.SUPERVISOR else "--operator"
        raise failure(f"name who acts: {option} NAME (development mode)", Exit.USAGE)
    yield Actor(who.declared, who.role)


# -- naming records ----------------------------------------------------------------------------


STDIN = "-"
"""The NIK argument that says: read the NIKs from standard input (see :func:`nik_argument`)."""


class NikType(click.ParamType):  # type: ignore[type-arg]
    """A NIK on the command line: refused (masked) unless valid; ``-`` passes as it is, for
    :func:`nik_argument` to read the NIKs from standard input."""

    name = "NIK"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Nik | str:
        if isinstance(value, Nik):
            return value
        if value == STDIN:
            return STDIN
        try:
            return Nik.parse(str(value).strip())
        except InvalidNikError as err:
            self.fail(str(err), param, ctx)


NIK = NikType()


def read_niks(stream: IO[str], *, one: bool) -> list[Nik]:
    """The NIKs of ``stream``, one a line, each checked before any is used: a line that is
    not a valid NIK is one line naming the line (the NIK masked, as every error shows it),
    exit 2, and the command does nothing. Blank lines are skipped; at a terminal an empty
    line ends the list (a scanner's Enter after each card), so the clerk need not type
    Ctrl-D. ``one``: the command names one record, and a second NIK is refused."""
    tty = stream.isatty()
    if tty:
        note(
            "NIK, typed or scanned:"
            if one
            else "NIKs, typed or scanned, one a line; an empty line ends them:"
        )
    found: list[Nik] = []
    for number, line in enumerate(stream, start=1):
        text = line.strip().lstrip("\ufeff").strip()
        if not text:
            if tty and (found or one):
                break
            continue
        try:
            nik = Nik.parse(text)
        except InvalidNikError as err:
            raise failure(f"standard input, line {number}: {err}", Exit.USAGE) from None
        if one and found:
            raise failure(
                f"standard input, line {number}: a second NIK; this command names one record",
                Exit.USAGE,
            )
        found.append(nik)
        if one and tty:
            break
    if not found:
        raise failure("standard input: no NIK given (one a line)", Exit.USAGE)
    return found


def _niks_given(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """The NIK argument with ``-`` replaced by the NIKs read from standard input (read once,
    before the command opens its ledger)."""
    many = isinstance(value, tuple)
    given = list(value) if many else [] if value is None else [value]
    if given.count(STDIN) > 1:
        raise click.UsageError("standard input is read once: give - once")
    if STDIN not in given:
        return value
    read = read_niks(click.get_text_stream("stdin"), one=not many)
    if not many:
        return read[0]
    at = given.index(STDIN)
    return (*given[:at], *read, *given[at + 1 :])


class _NikArgument(click.Argument):
    """The NIK argument: its usage says ``NIK|-``, its errors name it ``NIK`` as before."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        if self.nargs == -1:
            return "'NIK...'"
        return "'NIK'" if self.required else "'[NIK]'"


def nik_argument(*, many: bool = False, required: bool = False) -> Callable[[F], F]:
    """The ``NIK`` argument of a command that names records (``NIK...`` with ``many``). ``-``
    reads the NIKs from standard input, one a line, so that a citizen's NIK typed at a desk
    is never in the process list, which every account of the machine can read while the
    command runs, nor in the shell's history (docs/security.md)."""
    return click.argument(
        "niks" if many else "nik",
        metavar="NIK...|-" if many else "NIK|-",
        type=NIK,
        nargs=-1 if many else 1,
        required=required,
        callback=_niks_given,
        cls=_NikArgument,
    )


class SerialType(click.ParamType):  # type: ignore[type-arg]
    """A blank's serial on the command line: a whole number from 1."""

    name = "SERIAL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        if not text.isdigit() or not 0 < int(text) <= 2**62:
            self.fail(f"a blank's serial is a whole number from 1, not {text[:24]!r}", param, ctx)
        return int(text)


SERIAL = SerialType()


def label(record: Record) -> str:
    """A record as reports show it: the masked NIK, the name's initials, the kelurahan."""
    text = mask_nik(record.nik)
    letters = initials(record.name)
    if letters:
        text += f" ({letters})"
    if record.kelurahan:
        text += f", {record.kelurahan}"
    return text


def count(n: int, thing: str = "card") -> str:
    """``1 card``, ``2 cards``."""
    return f"{n:,} {thing}" + ("" if n == 1 else "es" if thing.endswith("ch") else "s")


def serial_ranges(serials: Sequence[int]) -> str:
    """Blank serials as runs: ``1-20, 25, 31-40``."""
    runs: list[list[int]] = []
    for s in sorted(serials):
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs) or "none"


# -- sheets ------------------------------------------------------------------------------------


def columns_option(fields: str) -> Callable[[F], F]:
    """``--column FIELD=HEADER`` (repeatable): where a field is when its header is not one
    of the names ektpcore knows (``SIAK``'s and the common ones)."""
    return click.option(
        "--column",
        "columns",
        multiple=True,
        metavar="FIELD=HEADER",
        help=f"Read FIELD ({fields}) from the column headed HEADER; repeatable.",
    )


def column_map(items: Sequence[str], *, bare: str | None = None) -> dict[str, str]:
    """``--column`` values as a mapping; a value without ``=`` names ``bare``'s column."""
    mapping: dict[str, str] = {}
    for item in items:
        field, sep, header = item.partition("=")
        if not sep and bare is not None:
            field, header = bare, item
        if (not sep and bare is None) or not header.strip():
            raise click.UsageError(f"--column takes FIELD=HEADER, not {item!r}")
        if field.strip() not in FIELDS:
            raise click.UsageError(
                f"--column: no field {field.strip()!r} (fields: {', '.join(FIELDS)})"
            )
        mapping[field.strip()] = header.strip()
    return mapping


def read_input(path: Path, columns: dict[str, str], fields: Sequence[str]) -> Sheet:
    """A sheet read with :func:`~ektpcore.sheets.read_sheet`; an encoding other than UTF-8
    is said on standard error. A sheet with a header and no rows is as empty as an empty
    file: every command refuses it alike."""
    sheet = read_sheet(path, columns=columns, fields=fields)
    if not len(sheet):
        raise SheetError(f"{path.name}: no rows under the header: nothing to read")
    if sheet.encoding not in ("utf-8", "utf-8 with BOM", "xlsx"):
        note(f"{path.name}: read as {sheet.encoding}")
    return sheet


@dataclass(frozen=True)
class Reject:
    """A row left out, and why: its spreadsheet row, the masked NIK and the name's initials
    (never the values themselves), the column at fault."""

    row: int
    nik: str
    name: str
    column: str
    reason: str

    def __str__(self) -> str:
        where = f" ({self.column})" if self.column else ""
        text = f"row {self.row}" + (f", {self.nik}" if self.nik else "")
        text += f" ({self.name})" if self.name else ""
        return f"{text}{where}: {self.reason}"


def reject(sheet: Sheet, i: int, field: str | None, reason: str) -> Reject:
    """The ``i``-th data row of ``sheet`` rejected for ``reason`` found in ``field``."""
    nik = sheet.rows[i][sheet.columns["nik"]].strip() if sheet.has("nik") else ""
    name = sheet.rows[i][sheet.columns["name"]].strip() if sheet.has("name") else ""
    column = sheet.header_of(field) if field is not None and sheet.has(field) else ""
    return Reject(sheet.numbers[i], mask_nik(nik) if nik else "", initials(name), column, reason)


def rejects_option(f: F) -> F:
    return click.option(
        "--rejects",
        type=click.Path(path_type=Path),
        default=None,
        help="Write the rows left out, with the reason, here (default: SHEET-rejects.csv"
        " beside the sheet, when there are any).",
    )(f)


def output_option(f: F) -> F:
    return click.option(
        "--output",
        type=click.Path(path_type=Path),
        default=None,
        help="Write the rows taken (the cleaned sheet, UTF-8, dates as YYYY-MM-DD) here.",
    )(f)


def rejects_path(sheet_path: Path, given: Path | None) -> Path:
    return given if given is not None else sheet_path.with_name(f"{sheet_path.stem}-rejects.csv")


def write_rejects(path: Path, rejects: Sequence[Reject]) -> None:
    """The rejects file: one row per row left out (masked; the sheet holds the values)."""
    with writing(path) as f:
        w = csv.writer(f)
        w.writerow(["row", "nik", "name", "column", "reason"])
        for r in rejects:
            w.writerow([spreadsheet_cell(v) for v in (r.row, r.nik, r.name, r.column, r.reason)])


def tell_rejects(
    rejects: Sequence[Reject], path: Path, shown_at_most: int = 10, *, what: str = "rows left out"
) -> None:
    """The first rejects on standard error, and where the rest are (``what`` they are)."""
    for r in rejects[:shown_at_most]:
        note(f"  {r}")
    if len(rejects) > shown_at_most:
        note(f"  ... and {len(rejects) - shown_at_most:,} more")
    note(f"{what}, with the reason: {path}")


def write_cleaned(
    path: Path, sheet: Sheet, keep: Sequence[int], dates: dict[str, list[str]] | None = None
) -> None:
    """The rows kept, all their cells, as UTF-8 CSV; ``dates`` gives the date fields'
    cells rewritten as ``YYYY-MM-DD``. Citizens' data in clear: a new file of mode 0600
    (checked with :func:`check_cleaned` before the work)."""
    rewrite = {sheet.columns[f]: cells for f, cells in (dates or {}).items() if sheet.has(f)}
    with writing(path, private=str(path) != "-") as f:
        w = csv.writer(f)
        w.writerow(sheet.headers)
        for i in keep:
            w.writerow(
                [
                    rewrite[c][i] if c in rewrite else cell.strip()
                    for c, cell in enumerate(sheet.rows[i])
                ]
            )


def row_of(sheet: Sheet, i: int) -> str:
    """The ``i``-th data row as reports name it: row, masked NIK, initials."""
    nik = sheet.rows[i][sheet.columns["nik"]].strip() if sheet.has("nik") else None
    name = sheet.rows[i][sheet.columns["name"]].strip() if sheet.has("name") else None
    return row_label(sheet.numbers[i], nik, name)
