"""Servers that survive their clients: the virtual printer (both dialects) and the chip
server each take a thousand-odd loopback connections of garbage, mutated streams, half
frames, oversized frames and idle or half-open sockets, then still print (or answer)
correctly, and ``stop()`` leaves no thread behind. Idle timeouts are set low; every client
socket has a timeout, so the test ends by itself."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ektpcore.chip import ChipServer, SmKeys, TcpChipTransport, VirtualChip
from ektpcore.printing import (
    EvolisDialect,
    MagicardDialect,
    Panels,
    TcpTransport,
    VirtualPrinter,
)

IDLE = 0.4  # the servers' idle timeout in these tests, seconds
CLIENT = 5.0  # no client socket waits longer than this for anything


def k_panels(lines: int, dots: int, seed: int) -> Panels:
    rng = np.random.default_rng(seed)
    stride = -(-dots // 8)
    k = rng.integers(0, 256, (lines, stride), dtype=np.uint8)
    k[::3] = 0
    if dots % 8:
        k[:, -1] &= (0xFF << (8 - dots % 8)) & 0xFF
    return Panels(lines, dots, k=k.reshape(-1).copy())


def read_until_closed(sock: socket.socket) -> bytes:
    """What the server says before it closes the connection (or CLIENT seconds pass)."""
    got = b""
    deadline = time.monotonic() + CLIENT
    while time.monotonic() < deadline:
        try:
            part = sock.recv(1 << 16)
        except TimeoutError:
            break
        except ConnectionResetError:
            return got
        if not part:
            return got
        got += part
    raise AssertionError(f"the server kept the connection open ({got[:40]!r})")


def reply(sock: socket.socket) -> bytes:
    """A Magicard reply: up to its closing 03."""
    got = b""
    while not got.endswith(b"\x03"):
        part = sock.recv(256)
        assert part, "the printer closed the connection"
        got += part
    return got


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=CLIENT)
    sock.settimeout(CLIENT)
    return sock


def soak(address: tuple[str, int], valid: bytes, payload_at: list[int], n: int) -> dict[str, int]:
    """``n`` hostile connections of every kind, 16 at a time; counts of each kind."""
    kinds: list[Callable[[random.Random], None]] = []

    def garbage(rng: random.Random) -> None:
        with connect(address) as s:
            s.sendall(rng.randbytes(rng.randint(1, 4_000)))
            s.shutdown(socket.SHUT_WR)
            read_until_closed(s)

    def mutated(rng: random.Random) -> None:
        # Bytes changed inside a panel payload, the framing left intact.
        data = bytearray(valid)
        start, end = payload_at[0], payload_at[1]
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(start, end)] = rng.randrange(256)
        with connect(address) as s:
            s.sendall(bytes(data))
            s.shutdown(socket.SHUT_WR)
            read_until_closed(s)

    def half_frame(rng: random.Random) -> None:
        with connect(address) as s:
            s.sendall(valid[: rng.randrange(1, len(valid))])
            if rng.random() < 0.5:
                s.shutdown(socket.SHUT_WR)
            read_until_closed(s)  # closed by the peer's end or the idle timeout

    def idle(rng: random.Random) -> None:
        with connect(address) as s:
            read_until_closed(s)

    kinds = [garbage, mutated, half_frame, idle]
    counts = dict.fromkeys((k.__name__ for k in kinds), 0)
    rng = random.Random(2017)
    plan = [(kinds[i % len(kinds)], rng.randrange(1 << 30)) for i in range(n)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        for kind, _ in plan:
            counts[kind.__name__] += 1
        list(pool.map(lambda job: job[0](random.Random(job[1])), plan))
    return counts


def assert_no_threads_left(server: VirtualPrinter | ChipServer, prefix: str) -> None:
    server.stop()
    assert server.threads() == []
    assert not [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_the_virtual_printer_survives_a_thousand_hostile_connections() -> None:
    d = EvolisDialect(ribbon="k")
    panels = k_panels(1016, 648, 1)
    card = d.encode_card(panels)
    valid = d.job_start() + card + d.job_end()
    payload = valid.index(b"Dbc;k;2;")
    payload = valid.index(b";", payload + 8) + 1
    printer = VirtualPrinter(dialect=d, idle_timeout=IDLE, max_buffer=1 << 20)
    with printer:
        # An idle client holds no one up: a job prints while it sits there.
        with connect(printer.address) as idle:
            with TcpTransport(*printer.address, timeout=CLIENT) as t:
                t.write(valid)
                assert t.command("Rst") == "OK"
            assert printer.cards[-1].front == panels
            assert read_until_closed(idle) == b""  # then the idle one is closed
        (download,) = [c for c in d.commands(valid) if c.name == "Dbc"]
        assert download.payload is not None
        end = payload + len(download.payload)
        counts = soak(printer.address, valid, [payload, end], 1_000)
        assert sum(counts.values()) == 1_000
        # An oversized frame: a download longer than the buffer allows.
        with connect(printer.address) as s:
            s.sendall(b"\x1bSs\r\x1bSr\r\x1bDbc;k;2;999999999;")
            for _ in range(20):
                try:
                    s.sendall(b"\x00" * 65_536)
                except OSError:
                    break
            assert read_until_closed(s).endswith(b"NACK 1\r")
        assert printer.refused_streams > 100
        assert printer.session_errors == []
        # A correct job still prints and decodes exactly.
        before = len(printer.cards)
        other = k_panels(1016, 648, 2)
        with TcpTransport(*printer.address, timeout=CLIENT) as t:
            t.write(d.job_start() + d.encode_card(other) + d.job_end())
            assert t.command("Rco;p") == str(before + 1)
        assert printer.cards[-1].front == other
    assert_no_threads_left(printer, "virtual-printer")


def test_a_magicard_virtual_printer_prints_pages_and_survives_bad_ones() -> None:
    d = MagicardDialect(ribbon="k")
    front, back = k_panels(1016, 642, 3), k_panels(1016, 642, 4)
    two_sided = d.encode_card(front, back)
    printer = VirtualPrinter(dialect="magicard", idle_timeout=IDLE, serial="MC0042")
    with printer:
        with connect(printer.address) as s:
            s.sendall(two_sided + d.command("REQ,STA,MSR,"))
            assert reply(s) == b"\x01STA,MSRMC0042,\x03"
        (card,) = printer.cards
        assert (card.front, card.back) == (front, back)
        header = two_sided.index(b"\x1c") + 1
        counts = soak(printer.address, two_sided, [header, header + 85_000], 200)
        assert sum(counts.values()) == 200
        assert printer.session_errors == []
        with connect(printer.address) as s:
            s.sendall(d.encode_card(back) + d.command("REQ,STA,TCQ,"))
            count = reply(s)
        assert printer.cards[-1].front == back
        assert count == b"\x01STA,TCQ%d,\x03" % len(printer.cards)
    assert_no_threads_left(printer, "virtual-printer")


def test_the_chip_server_survives_its_clients() -> None:
    uid = bytes.fromhex("04A1B2C3D4E5F6")
    chip = VirtualChip(uid, SmKeys.from_seed("aes128", b"soak test seed 1"))
    server = ChipServer(chip, idle_timeout=IDLE, max_frame=300, max_sessions=64)
    get_uid = bytes.fromhex("FFCA000000")
    with server:
        rng = random.Random(7)

        def hostile(i: int) -> None:
            with connect(server.address) as s:
                kind = i % 4
                if kind == 0:
                    s.sendall(rng.randbytes(rng.randint(1, 600)))
                elif kind == 1:
                    s.sendall(b"\x00\x02\x00\xa4")  # shorter than an APDU's header
                    assert read_until_closed(s) == b"\x00\x00"
                    return
                elif kind == 2:
                    s.sendall(b"\x03\xe8" + b"\x00" * 1_000)  # over max_frame
                    assert read_until_closed(s) == b"\x00\x00"
                    return
                elif kind == 3:
                    s.sendall(b"\x00\x32\x00\xa4")  # half a frame, then nothing
                read_until_closed(s)

        # An idle client does not block the others.
        with (
            connect(server.address),
            TcpChipTransport(*server.address, timeout=CLIENT) as reader,
        ):
            assert reader.transmit(get_uid) == uid + b"\x90\x00"
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(hostile, range(400)))
        assert server.session_errors == []
        assert server.refused == 0
        with TcpChipTransport(*server.address, timeout=CLIENT) as reader:
            assert reader.transmit(get_uid) == uid + b"\x90\x00"
    assert_no_threads_left(server, "chip-server")
