"""Groups of zones as subjects: 全省10个国家级经开区, 178家国家高新区, 全市工业园区.

``discover_groups(texts, index)`` adds to the ``EntityIndex`` every group a batch names:

- a group under a named place (四川省10个国家级经开区) is the entity 四川省国家级经济技术开发区,
  a zone whose parent is that place;
- a national kind without a place (178家国家高新区) is the entity 国家高新区, parent 中国;
- a group under a scope word (全省10个…, 全市工业园区) depends on the document: its surface
  maps to the scope token ``@province|国家级经济技术开发区``, which ``group_entity`` resolves
  against the document's subject once that is known.

The kinds and their canonical forms are data (``vocab/zone_groups.csv``).
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from transforms.entities import SCOPE_PREFIX, EntityIndex, scope_words
from transforms.vocabulary import vocab_rows

GROUP_SEPARATOR = "|"
_COUNT = r"(?:[0-9]{1,4}|[一二两三四五六七八九十百]{1,4})(?:个|家|大)"
_PLACE_TYPES = ("country", "province", "city", "prefecture", "county", "district")


@lru_cache(maxsize=1)
def group_kinds() -> dict[str, str]:
    return dict(vocab_rows("zone_groups.csv", longest_first=True))


def _pattern(index: EntityIndex) -> str:
    # as in EntityIndex.pattern, a form ``discover`` did not find in the texts cannot match in them
    places = sorted((f for f in index.forms_to_match() if index.canonical[f].startswith(SCOPE_PREFIX)
                     or index.entity_type.get(index.canonical[f]) in _PLACE_TYPES), key=lambda f: (-len(f), f))
    place = "|".join(re.escape(p) for p in places)
    kinds = "|".join(re.escape(k) for k in group_kinds())
    return rf"(?:{place})?(?:{_COUNT})?(?:{kinds})"


def _split(surface: str, index: EntityIndex) -> tuple[str | None, str] | None:
    """(place form, kind surface) of a matched group surface."""
    kind = next(k for k in group_kinds() if surface.endswith(k))
    head = surface[: -len(kind)]
    count = re.search(f"{_COUNT}$", head)
    place = head[: count.start()] if count else head
    if place and place not in index.canonical:
        return None
    return place or None, kind


def discover_groups(texts: list[str] | pl.Series, index: EntityIndex) -> EntityIndex:
    # the distinct texts are scanned (a repeated paragraph names the same groups)
    found = pl.Series(texts, dtype=pl.String).unique().str.extract_all(_pattern(index)).explode().drop_nulls().unique()
    scopes = scope_words()
    for surface in found.to_list():
        if surface in index.canonical:
            continue
        parts = _split(surface, index)
        if parts is None:
            continue
        place, kind = parts
        canonical_kind = group_kinds()[kind]
        national = canonical_kind.startswith("国家")
        if place is None and not national:
            continue  # a bare 工业园区 or 开发区 names one park, not a group
        if place in scopes:
            index.canonical[surface] = f"{SCOPE_PREFIX}{scopes[place]}{GROUP_SEPARATOR}{canonical_kind}"
            continue
        parent = index.canonical[place] if place else "中国"
        name = canonical_kind if place is None or parent == "中国" else parent + canonical_kind
        index.canonical[surface] = name
        if name not in index.entity_type:
            index.entity_type[name] = "zone"
            index.parent[name] = parent
            index.discovered.add(name)
    return index


def group_entity(level_and_kind: str, subject: str | None, index: EntityIndex) -> str | None:
    """``province|国家级经济技术开发区`` for a document about 四川省… → 四川省国家级经济技术开发区."""
    level, _, kind = level_and_kind.partition(GROUP_SEPARATOR)
    place = index.scope_target(level, subject)
    if place is None:
        return None
    if subject is not None and subject.endswith(kind) and index.parent.get(subject) == place:
        return subject
    name = kind if place == "中国" else place + kind
    if name not in index.entity_type:
        index.entity_type[name] = "zone"
        index.parent[name] = place
        index.canonical.setdefault(name, name)
        index.discovered.add(name)
    return name
