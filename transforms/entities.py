"""Entities: the alias table, discovery of new names by suffix, and the hierarchy.

``EntityIndex`` is built per batch from the vocabulary plus names discovered in the
batch's paragraphs. It gives the regular expression of every surface form
(``pattern``), the canonical name of a surface form, each entity's type and parent,
and resolves 全市/全省/全国 to the right level for a subject.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import polars as pl

from transforms.vocabulary import VOCAB_DIR, Vocabulary, read_patterns, vocab_rows

SCOPE_PREFIX = "@"  # canonical names of scope words: "@city" means 全市


def scope_words() -> dict[str, str]:
    return dict(vocab_rows("scope_words.csv"))


def suffix_types() -> tuple[tuple[str, str], ...]:
    return vocab_rows("entity_patterns.csv", longest_first=True)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(read_patterns(VOCAB_DIR / "entity_stopwords.txt"))


# Where a name cannot start: function words and time words that precede subjects.
_LEAD_JUNK = re.compile(
    r"^(?:.*[的在了与及等由将为是对从把被让据并或而也均还该各每，,。;；:：、“”\"'《》\s0-9])?"
    r"(?:今年|去年|上年|近日|目前|日前|近年来|此外|同时|其中|位于|推动|落地|落户|支持|打造|建设|引导|加快|围绕|依托|全力|"
    r"实现|完成|带动|推进|加强|促进|发展|聚焦|新建|瞄准|引进|成立|组建|上半年|下半年|前三季度|[一二三四]季度|全年|以来|截至|数据显示|统计显示|据统计)*"
)
_HAN_NAME = re.compile(r"^[\u4e00-\u9fff()（）]+$")
_ALIAS_DECL = re.compile(
    r"([\u4e00-\u9fff()（）]{2,30}?)[(（]以下简称[“\"「]?([\u4e00-\u9fff()（）A-Za-z]{2,12}?)[”\"」]?[)）]"
)
_SINGLE_CHAR_SUFFIX_MAX_PREFIX = 4
_MAX_NAME_CHARS = 12          # longer "names" are clauses; enterprises may be longer
_MAX_ENTERPRISE_CHARS = 30
_PARENT_WINDOW = 40
# Parts of a named area that form a new entity with it: 西部(重庆)科学城 + 直管区.
SUB_AREA_SUFFIXES = ("直管区", "直管园", "核心区", "片区")
# A name followed by these is a modifier, not a subject: 市级, 区域, 省委.
_NOT_AFTER_NAME = set("级域委政民场属")
# Zones conventionally named after their city: 成都高新区 → 成都市.
# 新区 are not (两江新区, 浦东新区), and a 3-character prefix is too often not a city name.
_NAMED_AFTER_CITY = {"高新区", "经开区", "高新技术产业开发区", "经济技术开发区", "工业园区"}


@dataclass
class EntityIndex:
    canonical: dict[str, str]                 # surface form → canonical name (or @level)
    entity_type: dict[str, str]
    parent: dict[str, str | None]
    aliases: dict[str, list[str]] = field(default_factory=dict)
    discovered: set[str] = field(default_factory=set)

    def pattern(self) -> str:
        forms = sorted(self.canonical, key=len, reverse=True)
        return "(?:" + "|".join(re.escape(f) for f in forms) + ")"

    def ancestors(self, name: str) -> list[str]:
        chain, seen = [], {name}
        while (name := self.parent.get(name)) and name not in seen:
            chain.append(name)
            seen.add(name)
        return chain

    def family(self, name: str) -> str:
        """The topmost ancestor below city level: a zone and its sub-areas are one family."""
        top = name
        for ancestor in self.ancestors(name):
            if self.entity_type.get(ancestor) in {"city", "province", "country", "prefecture", "county"}:
                break
            top = ancestor
        return top

    def scope_target(self, level: str, subject: str | None) -> str | None:
        """全市 for ``subject``: itself if it is a city, else its nearest city ancestor."""
        if level == "country":
            return "中国"
        if subject is None:
            return None
        for name in [subject, *self.ancestors(subject)]:
            if self.entity_type.get(name) == level or (level == "district" and self.entity_type.get(name) == "zone"):
                return name
        return None


def base_index(vocabulary: Vocabulary) -> EntityIndex:
    canonical, types, parents, aliases = {}, {}, {}, {}
    for name, entity_type, parent, alias_list in vocabulary.entities.iter_rows():
        types[name] = entity_type
        parents[name] = parent
        aliases[name] = list(alias_list or [])
        for form in [name, *(alias_list or [])]:
            canonical[form.replace("（", "(").replace("）", ")")] = name
    for word, level in scope_words().items():
        canonical[word] = SCOPE_PREFIX + level
    return EntityIndex(canonical, types, parents, aliases)


def _discovery_pattern() -> str:
    suffixes = "|".join(re.escape(s) for s, _ in suffix_types())
    sub_areas = "|".join(re.escape(s) for s in SUB_AREA_SUFFIXES)
    return rf"[\u4e00-\u9fff()（）]{{2,24}}?(?:{suffixes})(?:{sub_areas})?"


def _candidates(texts: list[str]) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """Each text with the (start, name) of every match of the discovery pattern, as ``finditer``
    would give them. Polars scans all texts at once, outside the GIL; a match's start is then
    the first place its text occurs from the end of the previous match (an earlier occurrence
    would itself have matched there first)."""
    found = pl.Series(texts, dtype=pl.String).str.extract_all(_discovery_pattern()).to_list()
    for text, names in zip(texts, found):
        located, cursor = [], 0
        for name in names or ():
            start = text.find(name, cursor)
            located.append((start, name))
            cursor = start + len(name)
        yield text, located


def index_type(suffix: str) -> str | None:
    return dict(suffix_types()).get(suffix)


def _trim(candidate: str) -> str:
    return _LEAD_JUNK.sub("", candidate, count=1)


def _valid(name: str, suffix: str, index: EntityIndex) -> bool:
    if name in stopwords() or name in index.canonical or not _HAN_NAME.match(name):
        return False
    limit = _MAX_ENTERPRISE_CHARS if index_type(suffix) == "enterprise" else _MAX_NAME_CHARS
    if len(name) > limit:
        return False
    # a clause that ends in a known name (瞄准西部(重庆)科学城, 新建重庆市) names that known entity
    if any(name[start:] in index.canonical for start in range(1, len(name) - 2)):
        return False
    prefix = name[: -len(suffix)]
    if len(prefix) < 2 or prefix in stopwords():
        return False
    if len(suffix) == 1 and (len(prefix) > _SINGLE_CHAR_SUFFIX_MAX_PREFIX or name[-2:] in stopwords()):
        return False
    return True


def discover(texts: list[str], index: EntityIndex) -> EntityIndex:
    """Add names ending in an entity suffix (…高新区, …市, …有限公司) and 以下简称 aliases.

    Each distinct candidate is judged once; an enterprise's parent region is read from the
    text just before its first mention.
    """
    suffixes = suffix_types()
    regions = _region_regex(index)
    judged: set[str] = set()
    for text, candidates in _candidates(list(dict.fromkeys(texts))):
        for start, raw in candidates:
            end = start + len(raw)
            if raw in judged or text[end:end + 1] in _NOT_AFTER_NAME:
                continue
            judged.add(raw)
            name = _trim(raw).replace("（", "(").replace("）", ")")
            suffix, entity_type = next(((sf, t) for sf, t in suffixes if name.endswith(sf)), (None, None))
            if suffix is None or _alias_by_place(name, index):
                continue
            if not _valid(name, suffix, index):
                continue
            index.canonical[name] = name
            index.entity_type[name] = entity_type
            if entity_type == "enterprise":
                window = text[max(0, start - _PARENT_WINDOW):start]
                found = [index.canonical[m.group(0)] for m in regions.finditer(window)]
                index.parent[name] = found[-1] if found else None
            else:
                index.parent[name] = _implied_parent(name, suffix, entity_type, index)
            index.discovered.add(name)
        if "以下简称" in text:
            for full, short in _ALIAS_DECL.findall(text):
                full = _trim(full).replace("（", "(").replace("）", ")")
                target = index.canonical.get(full) or _longest_known_suffix(full, index)
                if target and short not in index.canonical and not target.startswith(SCOPE_PREFIX):
                    index.canonical[short] = target
                    index.aliases.setdefault(target, []).append(short)
    for name in sorted(index.discovered, key=len, reverse=True):
        if _alias_by_place(name, index):
            index.discovered.discard(name)
    return index


_PLACE_TYPES = {"city", "province"}


def _alias_by_place(name: str, index: EntityIndex) -> bool:
    """南京江北新区 is 江北新区 named with its city: an alias of that name, whose parent the city is.

    The shorter name stays canonical, as in the seeded table (两江新区 ← 重庆两江新区)."""
    for cut in range(2, len(name) - 2):
        place = index.canonical.get(name[:cut])
        known = index.canonical.get(name[cut:])
        if (place is None or known is None or known == name or place.startswith(SCOPE_PREFIX)
                or known.startswith(SCOPE_PREFIX) or index.entity_type.get(place) not in _PLACE_TYPES
                or index.entity_type.get(known) in _PLACE_TYPES | {"enterprise", "country"}):
            continue
        index.canonical[name] = known
        index.aliases.setdefault(known, []).append(name)
        if index.parent.get(known) is None:
            index.parent[known] = place
        if name in index.discovered:
            index.entity_type.pop(name, None)
            index.parent.pop(name, None)
        return True
    return False


def _region_regex(index: EntityIndex) -> re.Pattern:
    forms = sorted((f for f, n in index.canonical.items()
                    if not n.startswith(SCOPE_PREFIX) and index.entity_type.get(n) != "enterprise"),
                   key=len, reverse=True)
    return re.compile("|".join(re.escape(f) for f in forms))


def _longest_known_suffix(text: str, index: EntityIndex) -> str | None:
    for start in range(len(text)):
        if text[start:] in index.canonical:
            return index.canonical[text[start:]]
    return None


def _implied_parent(name: str, suffix: str, entity_type: str, index: EntityIndex) -> str | None:
    """成都高新区 lies in 成都市: a zone named after a place belongs to that place."""
    prefix = name[: -len(suffix)]
    for start in range(len(prefix)):
        head = prefix[: len(prefix) - start]
        if head in index.canonical and not index.canonical[head].startswith(SCOPE_PREFIX):
            known = index.canonical[head]
            if known != name:
                return known
    if suffix in _NAMED_AFTER_CITY and len(prefix) == 2:
        city = prefix + "市"
        index.entity_type.setdefault(city, "city")
        index.parent.setdefault(city, None)
        index.canonical.setdefault(city, city)
        index.canonical.setdefault(prefix, city)
        index.discovered.add(city)
        return city
    return None


def entity_frame(index: EntityIndex, names: set[str]) -> pl.DataFrame:
    """dim_entity rows for ``names`` and their ancestors."""
    wanted = set()
    for name in names:
        if name and not name.startswith(SCOPE_PREFIX):
            wanted.add(name)
            wanted.update(index.ancestors(name))
    rows = [
        {"name": n, "entity_type": index.entity_type.get(n, "area"), "parent": index.parent.get(n),
         "aliases": sorted(set(index.aliases.get(n, [])))}
        for n in sorted(wanted)
    ]
    return pl.DataFrame(rows, schema={"name": pl.String, "entity_type": pl.String, "parent": pl.String,
                                      "aliases": pl.List(pl.String)})
