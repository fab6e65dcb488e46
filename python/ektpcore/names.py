"""Indonesian personal names in a canonical form, for deduplication.

The same person is written *H. Moehammad Soeharto, S.H.* in one register and *Muhamad Suharto*
in another: titles and degrees, the Muhammad family of spellings, and the spelling reforms of
1947 and 1972 (oe→u, dj→j, tj→c, nj→ny, sj→sy, ch→kh). :func:`normalize_name` folds all of
these; the rules are listed in ``docs/names.md``. The work is done in Rust, and
:func:`normalize_names` takes a whole column at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import _ektpcore

__all__ = ["NameParts", "name_key", "normalize_name", "normalize_names", "parse_name"]


@dataclass(frozen=True)
class NameParts:
    """A name taken apart.

    Attributes:
        canonical: the folded words in their original order.
        key: the same words sorted, equal for any word order.
        titles: titles and degrees set aside (lower case, without dots).
        patronym: the folded name after *bin/binti*, or ``""``.
    """

    canonical: str
    key: str
    titles: tuple[str, ...]
    patronym: str


def parse_name(name: str) -> NameParts:
    """Takes a name apart: ``parse_name("H. Moch. Ridwan bin Abd. Rahman, S.H.")`` gives
    canonical ``'muhamad ridwan'``, titles ``('h', 'sh')``, patronym ``'abdul rahman'``."""
    canonical, key, titles, patronym = _ektpcore.parse_name(name)
    return NameParts(canonical, key, tuple(titles), patronym)


def normalize_name(name: str) -> str:
    """The canonical form of a name: ``normalize_name("Soeharto") == normalize_name("Suharto")``."""
    return parse_name(name).canonical


def name_key(name: str) -> str:
    """The canonical words sorted: the same for *Budi Santoso* and *Santoso Budi*."""
    return parse_name(name).key


def normalize_names(names: Sequence[str | None], *, key: bool = False) -> list[str | None]:
    """:func:`normalize_name` (or :func:`name_key` with ``key=True``) of a whole column, in
    parallel with the GIL released; ``None`` stays ``None``."""
    return _ektpcore.normalize_names(list(names), key)
