"""Shared test setup: hypothesis profiles and strategies for NIKs.

Pick a profile with ``EKTPCORE_HYPOTHESIS_PROFILE``: ``ci`` (fast, the default under CI=true),
``dev`` (the default elsewhere) or ``thorough``.
"""

from __future__ import annotations

import datetime as dt
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import ektpcore
from ektpcore import _ektpcore

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=150, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("EKTPCORE_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
)

PROVINCES = [code for code, _ in _ektpcore.provinces()]
NOT_PROVINCES = [p for p in range(100) if p not in PROVINCES]


@st.composite
def nik_parts(draw: st.DrawFn) -> tuple[int, dt.date, ektpcore.Sex, int]:
    """Valid parts of a NIK: region code, birth date, sex, serial."""
    region = (
        draw(st.sampled_from(PROVINCES)) * 10_000
        + draw(st.integers(1, 99)) * 100
        + draw(st.integers(1, 99))
    )
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)))
    sex = draw(st.sampled_from(ektpcore.Sex))
    return region, born, sex, draw(st.integers(1, 9999))


def valid_niks() -> st.SearchStrategy[str]:
    return nik_parts().map(lambda p: str(ektpcore.Nik.compose(*p)))
