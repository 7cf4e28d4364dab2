"""texts → new entities: the names a batch's texts add to its ``EntityIndex``.

``discover(texts, index)`` adds to the index (transforms.entities) every name ending in an
entity suffix (…高新区, …有限公司) that it judges a name, with its type and parent, and the
aliases that 以下简称 declares.

Discovery is strict: a name ending in a one-character suffix (市, 县, 区, 州, 省) is a
gazetteer place or nothing; a longer suffix (高新区, 经济开发区, 有限公司) makes a new name
only after a known place or a plausible proper name, and never after a function word
(但泉州, 除泉州, 继续排: ``entity_lead_words.txt``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import polars as pl

from transforms import gazetteer
from transforms.entities import HAN_NAME, SCOPE_PREFIX, EntityIndex, plausible_name, stopwords, suffix_types

# Where a name cannot start: function words and time words that precede subjects.
_LEAD_JUNK = re.compile(
    r"^(?:.*[的在了与及等由将为是对从把被让据并或而也均还该各每，,。;；:：、“”\"'《》\s0-9])?"
    r"(?:今年|去年|上年|近日|目前|日前|近年来|此外|同时|其中|位于|推动|落地|落户|支持|打造|建设|引导|加快|围绕|依托|全力|"
    r"实现|完成|带动|推进|加强|促进|发展|聚焦|新建|瞄准|引进|成立|组建|上半年|下半年|前三季度|[一二三四]季度|全年|以来|截至|数据显示|统计显示|据统计)*"
)
_ALIAS_DECL = re.compile(
    r"([\u4e00-\u9fff()（）]{2,30}?)[(（]以下简称[“\"「]?([\u4e00-\u9fff()（）A-Za-z]{2,12}?)[”\"」]?[)）]"
)
_MAX_NAME_CHARS = 12          # longer "names" are clauses; enterprises may be longer
_MAX_ENTERPRISE_CHARS = 30
_PARENT_WINDOW = 40
# Parts of a named area that form a new entity with it: 西部(重庆)科学城 + 直管区.
SUB_AREA_SUFFIXES = ("直管区", "直管园", "核心区", "片区")
# A name followed by these is a modifier, not a subject: 市级, 区域, 省委.
_NOT_AFTER_NAME = set("级域委政民场属")


def _discovery_pattern() -> str:
    suffixes = "|".join(re.escape(s) for s, _ in suffix_types())
    sub_areas = "|".join(re.escape(s) for s in SUB_AREA_SUFFIXES)
    return rf"[\u4e00-\u9fff()（）]{{2,24}}?(?:{suffixes})(?:{sub_areas})?"


def _scan(texts: pl.Series) -> pl.DataFrame:
    """text, names: every match of the discovery pattern in each text, as ``re.findall`` gives them
    (Polars scans all texts at once, outside the GIL)."""
    return texts.rename("text").to_frame().with_columns(pl.col("text").str.extract_all(_discovery_pattern()).alias("names"))


def _located(text: str, names: list[str] | None) -> list[tuple[int, str]]:
    """(start, name) of each of ``names`` found in ``text``, as ``finditer`` would give them: a
    match's start is the first place its text occurs from the end of the previous match (an
    earlier occurrence would itself have matched there first)."""
    located, cursor = [], 0
    for name in names or ():
        start = text.find(name, cursor)
        located.append((start, name))
        cursor = start + len(name)
    return located


def index_type(suffix: str) -> str | None:
    return dict(suffix_types()).get(suffix)


def _trim(candidate: str) -> str:
    return _LEAD_JUNK.sub("", candidate, count=1)


def _judge(name: str, suffix: str, entity_type: str, index: EntityIndex) -> str | None:
    """What a discovery candidate is: "new" (a name to discover), "alias" (a known place written
    with another one-character suffix: 江都市 for 江都区), "county" (a former county: 宜宾县)
    or None (not a name)."""
    enterprise = entity_type == "enterprise"
    if name in stopwords() or index.knows(name) or not HAN_NAME.match(name):
        return None
    # enterprise names may start like a word (比亚迪, 国家电网); the trim already cut the clause
    if not enterprise and name.startswith(gazetteer.lead_words()):
        return None
    limit = _MAX_ENTERPRISE_CHARS if enterprise else _MAX_NAME_CHARS
    if len(name) > limit:
        return None
    # a clause that ends in a known name (瞄准西部(重庆)科学城, 新建重庆市) names that known entity
    if any(_names_something(name[start:], index) for start in range(1, len(name) - 2)):
        return None
    prefix = name[: -len(suffix)]
    if len(prefix) < 2 or prefix in stopwords():
        return None
    if len(suffix) == 1:
        return _one_character_suffix(prefix, suffix)
    if enterprise or _place_head(prefix, index) or plausible_name(prefix):
        return "new"
    return None


_COUNTY_LEVEL = {"county", "district"}


def _names_something(form: str, index: EntityIndex) -> bool:
    """A known name, or a name several places share (朝阳区); a generic zone word (经济开发区)
    names nothing by itself, so 宁海经济开发区 is still a new name."""
    return form in index.canonical or (form in index.ambiguous and form not in gazetteer.zone_words())


def _one_character_suffix(prefix: str, suffix: str) -> str | None:
    """市/县/区/州/省 make no new place (the gazetteer has them all), with two exceptions that
    old articles need: a county-level place named with its former suffix (江都市 for 江都区,
    萧山市 for 萧山区) is that place ("alias"), and X县 where X is only a prefecture-level
    city's short form is the former county of that city's seat (宜宾县, now 叙州区: "county")."""
    places = gazetteer.by_short().get(prefix, ())
    if len(places) != 1 or suffix not in "市县区":
        return None
    level = gazetteer.types().get(places[0])
    if level in _COUNTY_LEVEL:
        return "alias"
    return "county" if suffix == "县" and level in ("city", "prefecture") else None


def _place_head(text: str, index: EntityIndex) -> str | None:
    """The longest known place word ``text`` begins with (万年 in 万年高新技术产业园区)."""
    for end in range(len(text), 1, -1):
        head = text[:end]
        known = index.canonical.get(head) or (head if head in gazetteer.place_words() else None)
        if known and not known.startswith(SCOPE_PREFIX):
            return head
    return None


def _to_judge(texts: pl.Series) -> pl.DataFrame:
    """text, names of the distinct texts, in order, that ``discover`` has something to do in: a
    candidate it may judge there, or an alias declaration. A candidate is judged at its first
    occurrence not followed by a _NOT_AFTER_NAME character, so at the latest in the first text
    that holds none of those characters; the texts after that one only repeat it."""
    scanned = _scan(texts.unique(maintain_order=True)).with_row_index("_text")
    pairs = scanned.select("_text", "names").explode("names").drop_nulls("names")
    judged_by = scanned.filter(~pl.col("text").str.contains(f"[{''.join(sorted(_NOT_AFTER_NAME))}]")) \
        .select("_text", "names").explode("names").group_by("names").agg(pl.col("_text").min().alias("_by"))
    needed = pairs.join(judged_by, on="names", how="left").filter(
        pl.col("_by").is_null() | (pl.col("_text") <= pl.col("_by"))).get_column("_text").unique()
    return scanned.filter(pl.col("_text").is_in(needed.implode()) | pl.col("text").str.contains("以下简称", literal=True)) \
        .select("text", "names")


def discover(texts: Iterable[str] | pl.Series, index: EntityIndex) -> EntityIndex:
    """Add names ending in an entity suffix (…高新区, …有限公司) and 以下简称 aliases.

    Each distinct candidate is judged once; an enterprise's parent region is read from the
    text just before its first mention.
    """
    texts = texts if isinstance(texts, pl.Series) else pl.Series(list(texts), dtype=pl.String)
    suffixes = suffix_types()
    judged: set[str] = set()
    for text, names in _to_judge(texts).iter_rows():
        # a text whose names were all judged in earlier texts has nothing left to judge
        for start, raw in () if judged.issuperset(names) else _located(text, names):
            end = start + len(raw)
            if raw in judged or text[end:end + 1] in _NOT_AFTER_NAME:
                continue
            judged.add(raw)
            name = _trim(raw).replace("（", "(").replace("）", ")")
            suffix, entity_type = next(((sf, t) for sf, t in suffixes if name.endswith(sf)), (None, None))
            if suffix is None or _alias_by_place(name, index):
                continue
            verdict = _judge(name, suffix, entity_type, index)
            if verdict == "alias":
                place = gazetteer.by_short()[name[:-1]][0]
                index.canonical[name] = place
                index.aliases[place] = [*index.aliases.get(place, []), name]
                continue
            if verdict is None:
                continue
            if verdict == "county":  # 宜宾县: a county-level place, never typed as its city
                entity_type = "county"
            index.canonical[name] = name
            index.entity_type[name] = entity_type
            if entity_type == "enterprise":
                window = text[max(0, start - _PARENT_WINDOW):start]
                found = [index.canonical[f] for _, f in index.forms_in(window)
                         if not index.canonical[f].startswith(SCOPE_PREFIX)
                         and index.entity_type.get(index.canonical[f]) != "enterprise"]
                head = _place_head(name[: -len(suffix)], index)  # 江苏轩达…: no place before it
                index.parent[name] = found[-1] if found else (index.canonical.get(head) if head else None)
            else:
                index.parent[name] = _implied_parent(name, suffix, index)
            index.discovered.add(name)
        if "以下简称" in text:
            for full, short in _ALIAS_DECL.findall(text):
                full = _trim(full).replace("（", "(").replace("）", ")")
                target = index.canonical.get(full) or _longest_known_suffix(full, index)
                if target and short not in index.canonical and not target.startswith(SCOPE_PREFIX):
                    index.canonical[short] = target
                    index.aliases[target] = [*index.aliases.get(target, []), short]
    for name in sorted(index.discovered, key=len, reverse=True):
        if _alias_by_place(name, index):
            index.discovered.discard(name)
    index.note_present(texts)
    return index


_PLACE_TYPES = {"city", "province", "prefecture", "county", "district"}


def _alias_by_place(name: str, index: EntityIndex) -> bool:
    """南京江北新区 is 江北新区 named with its city: an alias of that name, whose parent the city is.

    The shorter name stays canonical, as in the seeded table (两江新区 ← 重庆两江新区). A known
    entity placed elsewhere is not renamed: 江苏国家高新区 (江苏's group) is not 国家高新区."""
    for cut in range(2, len(name) - 2):
        place = index.canonical.get(name[:cut])
        known = index.canonical.get(name[cut:])
        if (place is None or known is None or known == name or place.startswith(SCOPE_PREFIX)
                or known.startswith(SCOPE_PREFIX) or index.entity_type.get(place) not in _PLACE_TYPES
                or index.entity_type.get(known) in _PLACE_TYPES | {"enterprise", "country"}):
            continue
        home = index.parent.get(known)
        if home is not None and place != home and place not in index.ancestors(home):
            continue
        index.canonical[name] = known
        index.aliases[known] = [*index.aliases.get(known, []), name]
        if home is None:
            index.parent[known] = place
        if name in index.discovered:
            index.entity_type.pop(name, None)
            index.parent.pop(name, None)
        return True
    return False


def _longest_known_suffix(text: str, index: EntityIndex) -> str | None:
    for start in range(len(text)):
        if text[start:] in index.canonical:
            return index.canonical[text[start:]]
    return None


def _implied_parent(name: str, suffix: str, index: EntityIndex) -> str | None:
    """成都高新区 lies in 成都市: a zone named after a place belongs to that place."""
    head = _place_head(name[: -len(suffix)], index)
    if head is None:
        return None
    known = index.canonical.get(head)
    if known is None:  # a short form that is an everyday word (万年): the place if only one has it
        places = gazetteer.by_short().get(head, ())
        known = places[0] if len(places) == 1 else None
    return known if known != name else None
