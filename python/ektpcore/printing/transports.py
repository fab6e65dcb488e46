"""Transports: how bytes reach a printer and replies come back.

Every transport writes in chunks (``chunk_size`` bytes, with ``pause`` seconds between
chunks: large jobs sent in one piece are what time out on printers and their USB stacks),
reads replies terminated by CR, and closes itself when used as a context manager, even when
the job fails half way.

- :class:`CaptureTransport`: in memory, for tests and for looking at a job before sending it.
- :class:`FileTransport`: a file or a device node (``/dev/usb/lp0``); writes only.
- :class:`TcpTransport`: a network printer's raw port (9100), or a
  :class:`~ektpcore.printing.VirtualPrinter`.
- :class:`UsbTransport`: a USB printer through pyusb (``pip install pyusb``), optional.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from ..errors import InvalidArgumentError, PrinterConnectionError

__all__ = [
    "CaptureTransport",
    "FileTransport",
    "PrinterConnectionError",
    "TcpTransport",
    "Transport",
    "UsbTransport",
]

CR = b"\r"


class Transport:
    """Base of all transports: chunked writes, CR-terminated replies, always closed."""

    def __init__(self, *, chunk_size: int = 65_536, pause: float = 0.0, timeout: float = 30.0):
        if chunk_size <= 0 or pause < 0 or timeout <= 0:
            raise InvalidArgumentError("chunk_size and timeout must be > 0, pause >= 0")
        self.chunk_size = chunk_size
        self.pause = pause
        self.timeout = timeout
        self.closed = False

    # What a transport implements.
    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _receive(self, timeout: float) -> bytes:
        raise PrinterConnectionError(f"{type(self).__name__} cannot read replies")

    def _close(self) -> None:
        pass

    # What every transport offers.
    def write(self, data: bytes | Iterable[bytes]) -> int:
        """Sends bytes (or an iterable of byte strings, e.g. a dialect's ``stream``) in
        chunks; returns how many bytes were sent."""
        if self.closed:
            raise PrinterConnectionError("the transport is closed")
        parts = [data] if isinstance(data, bytes | bytearray | memoryview) else data
        sent = 0
        for part in parts:
            view = memoryview(part)
            for at in range(0, len(view), self.chunk_size):
                if sent and self.pause:
                    time.sleep(self.pause)
                chunk = bytes(view[at : at + self.chunk_size])
                self._send(chunk)
                sent += len(chunk)
        return sent

    def read_reply(self, timeout: float | None = None, end: bytes = CR) -> str:
        """One reply, up to its ``end`` byte (CR, as Evolis printers end theirs; a
        dialect's ``reply_end``), as text (``OK``, ``ACK``, ``NACK T``, ...)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        buffer = self._pending()
        while end not in buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PrinterConnectionError("no reply from the printer within the timeout")
            data = self._receive(left)
            if not data:
                raise PrinterConnectionError("the printer closed the connection")
            buffer += data
        line, _, rest = buffer.partition(end)
        self._keep(rest)
        return line.decode("ascii", errors="replace").strip("\x00\n ")

    def command(self, text: str, timeout: float | None = None) -> str:
        """Sends one command (``"Rlr;p"``: ESC and CR are added) and returns its reply."""
        self.write(b"\x1b" + text.encode("ascii") + CR)
        return self.read_reply(timeout)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Replies that arrived beyond the CR wait here for the next read.
    _rest: bytes = b""

    def _pending(self) -> bytes:
        rest, self._rest = self._rest, b""
        return rest

    def _keep(self, rest: bytes) -> None:
        self._rest = rest


class CaptureTransport(Transport):
    """Keeps everything written (``output``, ``writes``) and answers reads from ``replies``
    (queue them with :meth:`reply`)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.writes: list[bytes] = []
        self._replies: deque[bytes] = deque()

    @property
    def output(self) -> bytes:
        return b"".join(self.writes)

    def reply(self, *texts: str) -> None:
        for text in texts:
            self._replies.append(text.encode("ascii") + CR)

    def _send(self, data: bytes) -> None:
        self.writes.append(data)

    def _receive(self, timeout: float) -> bytes:
        if not self._replies:
            raise PrinterConnectionError("no reply queued in the capture transport")
        return self._replies.popleft()


class FileTransport(Transport):
    """Writes to a file or a device node, flushing after each chunk."""

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False, **kw: Any):
        super().__init__(**kw)
        self.path = Path(path)
        self._file = self.path.open("ab" if append else "wb")

    def _send(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()

    def _close(self) -> None:
        self._file.close()


class TcpTransport(Transport):
    """A printer's raw TCP port (9100 by default)."""

    def __init__(self, host: str, port: int = 9100, **kw: Any) -> None:
        super().__init__(**kw)
        self.address = (host, port)
        try:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
            # Commands and replies are small and answered one by one: no Nagle delay.
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as err:
            raise PrinterConnectionError(
                f"cannot reach the printer at {host}:{port}: {err}"
            ) from None

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise PrinterConnectionError(f"sending to the printer failed: {err}") from None

    def _receive(self, timeout: float) -> bytes:
        self._sock.settimeout(timeout)
        try:
            return self._sock.recv(4096)
        except TimeoutError:
            raise PrinterConnectionError("no reply from the printer within the timeout") from None
        except OSError as err:
            raise PrinterConnectionError(f"reading from the printer failed: {err}") from None

    def _close(self) -> None:
        with contextlib.suppress(OSError):  # already gone: closing is all that is left
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class UsbTransport(Transport):
    """A USB printer by vendor and product id, through pyusb (optional: ``pip install
    pyusb``, and libusb on the system)."""

    def __init__(self, vendor_id: int, product_id: int, **kw: Any) -> None:
        super().__init__(**kw)
        try:
            import usb.core  # type: ignore[import-not-found]
            import usb.util  # type: ignore[import-not-found]
        except ImportError:
            raise ImportError(
                "USB printing needs pyusb: pip install pyusb (and libusb on the system)"
            ) from None
        device = usb.core.find(idVendor=vendor_id, idProduct=product_id)
        if device is None:
            raise PrinterConnectionError(
                f"no USB printer {vendor_id:04x}:{product_id:04x} is connected"
            )
        device.set_configuration()
        interface = device.get_active_configuration()[(0, 0)]

        def endpoint(direction: int) -> Any:
            return usb.util.find_descriptor(
                interface,
                custom_match=lambda e: usb.util.endpoint_direction(e.bEndpointAddress) == direction,
            )

        self._out = endpoint(usb.util.ENDPOINT_OUT)
        self._in = endpoint(usb.util.ENDPOINT_IN)
        self._usb_util = usb.util
        self._device = device

    def _send(self, data: bytes) -> None:
        self._out.write(data, timeout=int(self.timeout * 1000))

    def _receive(self, timeout: float) -> bytes:
        if self._in is None:
            raise PrinterConnectionError("this USB printer has no reply endpoint")
        return bytes(self._in.read(512, timeout=int(timeout * 1000)))

    def _close(self) -> None:
        self._usb_util.dispose_resources(self._device)
