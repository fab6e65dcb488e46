"""Transports and the virtual printer: bytes out, replies back, faults staged."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from ektpcore.printing import (
    CaptureTransport,
    CardFaces,
    EvolisDialect,
    Faults,
    FileTransport,
    PrinterConnectionError,
    TcpTransport,
    VirtualPrinter,
    rasterize,
)


def card(seed: int) -> CardFaces:
    rng = np.random.default_rng(seed)
    rgb = np.full((648, 1016, 3), 230, dtype=np.uint8)
    rgb[100:300, 700:900] = rng.integers(0, 256, (200, 200, 3), dtype=np.uint8)
    black = np.full((648, 1016), 255, dtype=np.uint8)
    black[50 + seed : 70 + seed, 40:500] = 0
    return CardFaces(front=rgb, front_black=black, back_black=black)


def test_capture_writes_in_chunks_and_answers_queued_replies() -> None:
    with CaptureTransport(chunk_size=65_536) as t:
        assert t.write(b"x" * 200_000) == 200_000
        assert [len(w) for w in t.writes] == [65_536, 65_536, 65_536, 3_392]
        t.reply("OK", "CARD")
        assert t.command("Rst") == "OK"
        assert t.command("Rlr;p") == "CARD"
        assert t.output.endswith(b"\x1bRlr;p\r")
        with pytest.raises(PrinterConnectionError, match="no reply queued"):
            t.read_reply()
    assert t.closed
    with pytest.raises(PrinterConnectionError, match="closed"):
        t.write(b"late")


def test_file_transport_writes_the_stream(tmp_path: Path) -> None:
    d = EvolisDialect()
    with FileTransport(tmp_path / "job.prn", chunk_size=10_000) as t:
        t.write(d.stream([card(1), card(2)]))
    job = d.decode((tmp_path / "job.prn").read_bytes())
    assert len(job.cards) == 2


def test_a_batch_goes_to_the_virtual_printer_and_comes_back_decoded() -> None:
    d = EvolisDialect()
    cards = [card(i) for i in range(5)]
    with VirtualPrinter() as printer, TcpTransport(*printer.address, chunk_size=32_768) as t:
        t.write(d.stream(cards, chunk=2))
        assert t.command("Rco;p") == "5"  # replies follow the printed cards
        assert t.command("Rsn") == "VIRTUAL0001"
    assert len(printer.cards) == 5
    for faces, printed in zip(cards, printer.cards, strict=True):
        assert printed.front == rasterize(faces.front, faces.front_black, d.front)
        assert printed.back == rasterize(None, faces.back_black, d.back)


def ack_all(t: TcpTransport, stream: bytes) -> list[str]:
    """Sends one card and reads one reply per command (ACK/NACK mode)."""
    n = len(EvolisDialect().decode(stream).commands)
    t.write(stream)
    return [t.read_reply(timeout=10) for _ in range(n)]


def test_faults_answer_with_nack_codes_and_status() -> None:
    d = EvolisDialect()
    one = d.encode_faces([card(0)])
    faults = Faults(jam_at={2}, ribbon_cards=3, chip_fail_at={4})
    with VirtualPrinter(faults=faults) as printer, TcpTransport(*printer.address) as t:
        assert t.command("Pem;4") == "ACK"
        assert ack_all(t, one)[-1] == "ACK"  # card 1 prints
        assert ack_all(t, one)[-1] == "NACK T"  # card 2 jams
        assert t.command("Rst") == "ERR MECHANICAL"
        assert ack_all(t, one)[0] == "NACK T"  # refused until reset
        assert t.command("Srs") == "ACK"
        assert t.command("Rst") == "OK"
        assert ack_all(t, one)[-1] == "ACK"  # card 3
        assert ack_all(t, d.chip_phase("contactless")) == ["ACK", "ACK"]
        assert t.command("Rlr;p") == "ERR CARD"  # card 4's chip station failed
        assert ack_all(t, d.reject()) == ["ACK"]
        assert ack_all(t, one)[-1] == "NACK R"  # card 5: the ribbon ended after 3
        assert t.command("Rst") == "ERR RIBBON ENDED"
        printer.clear_fault()
        assert t.command("Srs") == "ACK"
        assert ack_all(t, one)[-1] == "ACK"
    assert len(printer.cards) == 3
    assert printer.spoiled == [2]
    assert printer.rejected == 1


def test_cover_open_and_commands_refused_by_code() -> None:
    faults = Faults(cover_open=True, nack_commands={"Pr": "2"})
    with VirtualPrinter(faults=faults) as printer, TcpTransport(*printer.address) as t:
        t.command("Pem;4")
        assert t.command("Pr;ymckok") == "NACK 2"
        assert ack_all(t, EvolisDialect().encode_faces([card(0)]))[0] == "NACK C"
        assert t.command("Rst") == "ERR COVER OPEN"


def test_a_dropped_connection_is_a_connection_error() -> None:
    with VirtualPrinter(faults=Faults(drop_after_cards=1)) as printer:
        t = TcpTransport(*printer.address, timeout=5)
        t.command("Pem;4")
        with pytest.raises(PrinterConnectionError):
            ack_all(t, EvolisDialect().encode_faces([card(0)]))
        t.close()
        assert len(printer.cards) == 1


def test_an_unreachable_printer_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PrinterConnectionError, match="cannot reach the printer"):
        TcpTransport("127.0.0.1", port, timeout=2)
