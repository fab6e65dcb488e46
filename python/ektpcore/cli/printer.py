"""``ektpcore printer``: a virtual printer for trying stations and drivers."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click

from .common import Exit, echo, failure

__all__ = ["master_key", "printer"]

_PORT = click.IntRange(0, 65535)


@click.group()
def printer() -> None:
    """Printers: a virtual one for trying stations and drivers."""


def master_key(path: Path) -> bytes:
    """A development master key: hex digits in a file (whitespace ignored)."""
    try:
        key = bytes.fromhex("".join(path.read_text().split()))
    except OSError as err:
        raise failure(f"{path}: cannot read the key ({err.strerror})", Exit.INPUT) from None
    except ValueError:
        raise click.UsageError(f"{path}: a key file holds hex digits") from None
    if len(key) < 16:
        raise click.UsageError(f"{path}: a master key is at least 16 bytes")
    return key


@printer.command("virtual")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=_PORT, default=9100, show_default=True)
@click.option(
    "--seconds-per-card", type=click.FloatRange(0, 3600), default=0.0, help="Print time per card."
)
@click.option(
    "--jam-at", type=click.IntRange(min=1), multiple=True, help="Jam at this card (repeatable)."
)
@click.option(
    "--ribbon-cards",
    type=click.IntRange(min=0),
    default=None,
    help="The ribbon ends after N cards.",
)
@click.option(
    "--chip-fail-at",
    type=click.IntRange(min=1),
    multiple=True,
    help="Chip station fails at card N.",
)
@click.option(
    "--drop-after",
    type=click.IntRange(min=0),
    default=None,
    help="Drop the connection after N cards.",
)
@click.option("--cover-open", is_flag=True, help="Start with the cover open.")
@click.option(
    "--for-seconds", type=click.FloatRange(min=0), default=None, help="Stop after this long."
)
@click.option(
    "--chips",
    "chip_keys",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Blanks carry virtual chips whose keys derive from this master-key file (hex).",
)
@click.option(
    "--algorithm",
    type=click.Choice(["3des", "aes128", "aes192", "aes256"]),
    default="3des",
    show_default=True,
    help="The chips' secure messaging.",
)
@click.option(
    "--encoder-port",
    type=_PORT,
    default=9101,
    show_default=True,
    help="TCP port of the chip encoder's reader (with --chips).",
)
def printer_virtual(
    host: str,
    port: int,
    seconds_per_card: float,
    jam_at: tuple[int, ...],
    ribbon_cards: int | None,
    chip_fail_at: tuple[int, ...],
    drop_after: int | None,
    cover_open: bool,
    for_seconds: float | None,
    chip_keys: Path | None,
    algorithm: str,
    encoder_port: int,
) -> None:
    """Run a virtual Evolis printer on a TCP port until Ctrl-C: it decodes what it gets,
    answers status commands and fails on request. With --chips every blank carries a
    virtual chip and the chip station's reader listens on --encoder-port."""
    from ..chip import ChipServer, SoftwareKeyProvider, VirtualChip
    from ..printing import Faults, VirtualPrinter

    faults = Faults(
        ribbon_cards=ribbon_cards,
        jam_at=set(jam_at),
        chip_fail_at=set(chip_fail_at),
        cover_open=cover_open,
        drop_after_cards=drop_after,
    )
    chips = None
    if chip_keys is not None:
        keys = SoftwareKeyProvider(master_key(chip_keys), algorithm=algorithm)

        def chips(k: int) -> VirtualChip:
            uid = bytes.fromhex("04E0") + k.to_bytes(5, "big")
            return VirtualChip(uid, keys.chip_keys(uid))

    with contextlib.ExitStack() as stack:
        try:
            vp = stack.enter_context(
                VirtualPrinter(
                    host=host,
                    port=port,
                    seconds_per_card=seconds_per_card,
                    faults=faults,
                    chips=chips,
                )
            )
        except OSError as err:
            raise failure(f"{host}:{port}: cannot listen ({err.strerror})", Exit.ERROR) from None
        h, p = vp.address
        echo(f"virtual Evolis printer listening on {h}:{p} (Ctrl-C stops it)")
        if chips is not None:
            server = stack.enter_context(ChipServer(vp.encoder(), host=host, port=encoder_port))
            eh, ep = server.address
            echo(f"its chip encoder's reader listens on {eh}:{ep} ({algorithm})")
        started = time.monotonic()
        try:
            while for_seconds is None or time.monotonic() - started < for_seconds:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        echo(f"printed {len(vp.cards)} cards, jammed {len(vp.spoiled)}, rejected {vp.rejected}")
