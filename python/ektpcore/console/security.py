"""What keeps the console safe to leave open on an office PC: server-side sessions behind an
HttpOnly, SameSite=Strict cookie, a CSRF token on every form, a limit on failed sign-ins, and
the security headers every response carries.

A console session holds the :class:`~ektpcore.Actor` the ledger signed in (its credential
never leaves the server: the browser holds only a random session key), the session's CSRF
token, its messages for the next page, and the handles that stand for the records looked up
in it (so no NIK is ever part of a URL, and so of a proxy's or a browser's history).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..chip.keys import KeyHolder
from ..lifecycle import Actor

__all__ = ["LoginLimiter", "SecurityHeaders", "Session", "Sessions", "csrf_matches"]

SESSION_COOKIE = "ektpcore_session"
ANONYMOUS_COOKIE = "ektpcore_visitor"


@dataclass(slots=True)
class Session(KeyHolder):
    """One signed-in user at one browser. Its cookie's key and form token sign requests
    in, so like a key they are never shown (not in the repr; no ``vars()``: slots) and the
    session refuses ``pickle`` and copies."""

    key: str = field(repr=False)
    actor: Actor
    csrf: str = field(repr=False)
    started: float
    seen: float
    messages: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    handles: dict[str, int] = field(default_factory=dict)  # handle -> NIK

    def say(self, kind: str, text: str) -> None:
        """A message for the next page: ``"ok"`` or ``"error"``."""
        self.messages.append((kind, " ".join(text.split())))

    def take_messages(self) -> list[tuple[str, str]]:
        messages, self.messages = self.messages, []
        return messages

    def handle(self, nik: int) -> str:
        """A handle for ``nik`` valid in this session only: what URLs carry instead."""
        for known, value in self.handles.items():
            if value == nik:
                return known
        if len(self.handles) >= 200:  # a long day's look-ups: the oldest handles go
            self.handles.pop(next(iter(self.handles)))
        key = secrets.token_urlsafe(12)
        self.handles[key] = nik
        return key


class Sessions:
    """Every signed-in session of one console, in memory (a restart signs everyone out).
    A session ends after ``idle`` seconds without a request, or ``longest`` seconds after
    sign-in, whichever comes first."""

    def __init__(
        self,
        *,
        idle: float = 3_600.0,
        longest: float = 13 * 3_600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle, self.longest, self._clock = idle, longest, clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, actor: Actor) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), actor, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._sessions[_digest(session.key)] = session
        return session

    def find(self, key: str | None) -> Session | None:
        """The live session of a cookie's key, its last use now; ``None`` for none or one
        that has ended (it is forgotten)."""
        if not key:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(_digest(key))
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.started > self.longest:
                del self._sessions[_digest(key)]
                return None
            session.seen = now
            return session

    def end(self, key: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(_digest(key), None)

    def expired(self) -> list[Session]:
        """Removes and returns the sessions that have ended (their ledger sign-ins end too)."""
        now = self._clock()
        with self._lock:
            gone = [
                k
                for k, s in self._sessions.items()
                if now - s.seen > self.idle or now - s.started > self.longest
            ]
            return [self._sessions.pop(k) for k in gone]

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())


def _digest(key: str) -> str:
    """Sessions are kept by the hash of their key: a memory dump shows no usable cookie."""
    return hashlib.sha256(key.encode()).hexdigest()


def anonymous_csrf(secret: bytes, visitor: str) -> str:
    """The CSRF token of a browser not signed in (the sign-in form), bound to its visitor
    cookie."""
    return hmac.new(secret, b"visitor:" + visitor.encode(), hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


class LoginLimiter:
    """Failed sign-ins counted per user name and per client address: after ``attempts``
    failures within ``window`` seconds, either one is refused until the oldest failure
    leaves the window, whatever the password (so a password cannot be guessed quickly, and
    one address cannot try many names)."""

    def __init__(
        self,
        attempts: int = 5,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts, self.window, self._clock = attempts, window, clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def wait(self, keys: Iterable[str]) -> float:
        """Seconds before any of ``keys`` may try again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [
                self.window - (now - times[0])
                for times in (self._recent(k, now) for k in keys)
                if len(times) >= self.attempts
            ]
        return max(waits, default=0.0)

    def failed(self, keys: Iterable[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        """A user who signed in starts afresh (the address's failures stay counted)."""
        with self._lock:
            self._failures.pop(key, None)


HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        b" connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeaders:
    """ASGI middleware: every response gets :data:`HEADERS`, and any response but the
    package's static files ``Cache-Control: no-store`` (pages hold citizens' data: no copy
    is left in a browser's or a proxy's cache). With ``tls`` (behind a TLS proxy), HSTS."""

    def __init__(self, app: ASGIApp, *, tls: bool = False) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
