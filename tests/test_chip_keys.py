"""Keys stay keys: every object that holds key material refuses pickle and copies, and its
bytes are reachable from none of them (repr, str, vars, dir, the garbage collector's
referents, the refusals' messages)."""

from __future__ import annotations

import copy
import dataclasses
import gc
import hashlib
import hmac
import pickle
import secrets
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ektpcore._ektpcore import MasterKey
from ektpcore.chip import (
    LDS1,
    ChipChannel,
    CommandApdu,
    Personaliser,
    SmKeys,
    SoftwareKeyProvider,
    VirtualChip,
)
from ektpcore.chip.keys import KeyHolder

UID = bytes.fromhex("04A1B2C3D4E5F6")
RANDOMS = (b"C" * 8, b"T" * 8, b"K" * 16)


def _same_keys(a: SmKeys, b: SmKeys) -> bool:
    """Two key pairs are the same when they answer a challenge alike."""
    return a.authenticate(*RANDOMS)[1] == b.authenticate(*RANDOMS)[1]


@given(
    st.sampled_from(["3des", "aes128", "aes192", "aes256"]),
    st.binary(min_size=16, max_size=200),  # past 64 bytes HMAC hashes the key first
    st.binary(max_size=40),
)
def test_chip_keys_are_diversified_with_hmac_sha256(
    algorithm: str, master: bytes, uid: bytes
) -> None:
    seed = hmac.new(master, uid, hashlib.sha256).digest()[:16]
    expected = SmKeys.from_seed(algorithm, seed)
    assert _same_keys(MasterKey(master).chip_keys(algorithm, uid), expected)
    provider = SoftwareKeyProvider(bytearray(master), algorithm=algorithm)
    assert _same_keys(provider.chip_keys(uid), expected)


def test_a_short_master_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SoftwareKeyProvider(b"short")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        MasterKey(memoryview(b"x" * 15))


# -- the holders -------------------------------------------------------------------------------


def _holders(master: bytes) -> dict[str, object]:
    """One of each object that holds key material or a handle to it, all from ``master``."""
    provider = SoftwareKeyProvider(master, algorithm="aes128")
    perso = Personaliser(dataclasses.replace(LDS1, algorithm="aes128"), provider)
    chip = VirtualChip(UID, provider.chip_keys(UID))
    channel = ChipChannel(chip)
    uid, session = perso.open(channel)
    assert uid == UID.hex().upper()
    assert session.is_open
    challenge = chip.transmit(bytes(CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8)))[:-2]
    pending = provider.authenticate(UID, challenge)
    chip_keys = provider.chip_keys(UID)
    state, _ = chip_keys.authenticate(*RANDOMS)
    return {
        "SoftwareKeyProvider": provider,
        "MasterKey": provider._master,
        "Personaliser": perso,
        "SmKeys": chip_keys,
        "SmChallenge": state,
        "Authentication": pending,
        "SmSession": session,
    }


def _secrets(master: bytes) -> list[bytes]:
    """The master key and what is derived from it for the test's chip."""
    return [master, hmac.new(master, UID, hashlib.sha256).digest()[:16]]


def _leaks(value: object, secret: bytes) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return secret in bytes(value)
    if isinstance(value, str):
        return secret.hex() in value.lower() or secret.decode("latin-1") in value
    return False


def _reachable(root: object, depth: int = 6) -> Iterator[object]:
    """What the garbage collector sees from ``root``, classes and modules left out (they
    reach the whole program)."""
    seen = {id(root)}
    layer = [root]
    for _ in range(depth):
        following = []
        for obj in layer:
            for ref in gc.get_referents(obj):
                if id(ref) in seen or isinstance(ref, (type, types.ModuleType)):
                    continue
                seen.add(id(ref))
                following.append(ref)
                yield ref
        layer = following


REFUSALS: list[tuple[str, Callable[[Any], object]]] = [
    *[(f"pickle protocol {p}", lambda o, p=p: pickle.dumps(o, protocol=p)) for p in range(6)],
    ("pickle in a list", lambda o: pickle.dumps([o])),
    ("copy.copy", copy.copy),
    ("copy.deepcopy", copy.deepcopy),
    ("copy.deepcopy in a dict", lambda o: copy.deepcopy({"held": o})),
    ("__reduce__", lambda o: o.__reduce__()),
    ("__reduce_ex__", lambda o: o.__reduce_ex__(4)),
    ("__getstate__", lambda o: o.__getstate__()),
]


@pytest.mark.parametrize(("how", "attempt"), REFUSALS, ids=[name for name, _ in REFUSALS])
def test_key_holders_refuse_pickle_and_copies(how: str, attempt: Callable[[Any], object]) -> None:
    master = secrets.token_bytes(24)
    for name, holder in _holders(master).items():
        with pytest.raises(TypeError, match="holds key material") as refused:
            attempt(holder)
        message = str(refused.value)
        assert type(holder).__name__ in message, (name, how)
        assert not any(_leaks(message, s) for s in _secrets(master)), (name, how)


def test_no_key_bytes_are_reachable_from_a_holder() -> None:
    master = secrets.token_bytes(24)
    for name, holder in _holders(master).items():
        shown = [repr(holder), str(holder), format(holder, "")]
        if hasattr(holder, "__dict__"):
            shown += [repr(vars(holder)), repr(holder.__dict__)]
            assert not any(_leaks(v, s) for v in vars(holder).values() for s in _secrets(master))
        for attr in dir(holder):
            value = getattr(holder, attr, None)
            shown.append(repr(value))
            assert not any(_leaks(value, s) for s in _secrets(master)), (name, attr)
        for text in shown:
            assert not any(_leaks(text, s) for s in _secrets(master)), (name, text)
        for ref in _reachable(holder):
            assert not any(_leaks(ref, s) for s in _secrets(master)), (name, type(ref))


def test_the_walk_would_find_a_key_held_as_bytes() -> None:
    """The reachability check above is not vacuous: a key kept the old way is found."""
    master = secrets.token_bytes(24)

    class OldProvider:
        def __init__(self, key: bytes) -> None:
            self._master = bytes(key)

    assert any(_leaks(ref, master) for ref in _reachable(OldProvider(master)))
    assert any(_leaks(ref, master) for ref in _reachable(lambda: master))


def test_objects_holding_a_holder_refuse_too() -> None:
    """A virtual chip holds its access keys: pickling it, or copying it deeply, stops at
    them."""
    master = secrets.token_bytes(24)
    chip = VirtualChip(UID, SoftwareKeyProvider(master).chip_keys(UID))
    with pytest.raises(TypeError, match="SmKeys holds key material"):
        pickle.dumps(chip)
    with pytest.raises(TypeError, match="SmKeys holds key material"):
        copy.deepcopy(chip)


def test_a_key_provider_of_ones_own_can_be_a_key_holder() -> None:
    class SamProvider(KeyHolder):
        algorithm = "aes128"

        def __init__(self, slot: int) -> None:
            self.slot = slot

    with pytest.raises(TypeError, match="SamProvider holds key material"):
        pickle.dumps(SamProvider(1))
    with pytest.raises(TypeError, match="SamProvider holds key material"):
        copy.copy(SamProvider(1))
