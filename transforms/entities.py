"""Entities: the alias table, discovery of new names by suffix, and the hierarchy.

``EntityIndex`` is built per batch from the national gazetteer and zones
(transforms.gazetteer), the project's own entities.csv (which wins where they overlap) and
the names discovered in the batch's paragraphs. It gives the regular expression of every
surface form (``pattern``), the canonical name of a surface form, each entity's type and
parent, the names several places share (``ambiguous``, resolved by document context with
``resolve``), and resolves 全市/全省/全国 to the right level for a subject.

Discovery is strict: a name ending in a one-character suffix (市, 县, 区, 州, 省) is a
gazetteer place or nothing; a longer suffix (高新区, 经济开发区, 有限公司) makes a new name
only after a known place or a plausible proper name, and never after a function word
(但泉州, 除泉州, 继续排: ``entity_lead_words.txt``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import polars as pl

from transforms import gazetteer
from transforms.vocabulary import VOCAB_DIR, Vocabulary, read_patterns, vocab_rows

SCOPE_PREFIX = "@"  # canonical names of scope words: "@city" means 全市


def scope_words() -> dict[str, str]:
    return dict(vocab_rows("scope_words.csv"))


def suffix_types() -> tuple[tuple[str, str], ...]:
    return vocab_rows("entity_patterns.csv", longest_first=True)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(read_patterns(VOCAB_DIR / "entity_stopwords.txt"))


@lru_cache(maxsize=1)
def _name_rules() -> tuple[frozenset[str], tuple[str, ...]]:
    """(characters no proper name contains, endings of measures rather than names)."""
    chars, tails = set(), []
    for line in read_patterns(VOCAB_DIR / "entity_name_rules.txt"):
        kind, _, value = line.partition(" ")
        if kind == "char":
            chars.update(value.split())
        elif kind == "tail":
            tails.extend(value.split())
    return frozenset(chars), tuple(tails)


def plausible_name(name: str) -> bool:
    """A string that can be a proper name: Han characters (brackets allowed), no leading
    function word (但, 除, 仍, 继续 …), no function character inside (和, 的, 与 …), not a
    measure (外贸总值, 贸易规模)."""
    chars, tails = _name_rules()
    return bool(_HAN_NAME.match(name)) and not name.startswith(gazetteer.lead_words()) and not chars.intersection(name) \
        and not name.endswith(tails) and name not in gazetteer.stop_names()   # 前进, 振兴: everyday words


@lru_cache(maxsize=1)
def scope_suffixes() -> dict[str, tuple[str, ...]]:
    """Scope level → the name endings of county-level places that answer to it (昆山市 to 全市)."""
    table: dict[str, tuple[str, ...]] = {}
    for level, suffix in vocab_rows("scope_suffixes.csv"):
        table[level] = table.get(level, ()) + (suffix,)
    return table


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
_MAX_NAME_CHARS = 12          # longer "names" are clauses; enterprises may be longer
_MAX_ENTERPRISE_CHARS = 30
_PARENT_WINDOW = 40
# Parts of a named area that form a new entity with it: 西部(重庆)科学城 + 直管区.
SUB_AREA_SUFFIXES = ("直管区", "直管园", "核心区", "片区")
# A name followed by these is a modifier, not a subject: 市级, 区域, 省委.
_NOT_AFTER_NAME = set("级域委政民场属")


@dataclass
class EntityIndex:
    canonical: dict[str, str]                 # surface form → canonical name (or @level)
    entity_type: dict[str, str]
    parent: dict[str, str | None]
    aliases: dict[str, list[str]] = field(default_factory=dict)
    discovered: set[str] = field(default_factory=set)
    # surface forms several places share (朝阳区, 滨海新区, 高新区) → their canonical names;
    # they are not in ``canonical``: only document context (``resolve``) may pick one
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    admin_code: dict[str, str] = field(default_factory=dict)
    # the surface forms that occur in the texts ``discover`` saw, of those it checked (forms
    # added later, as groups of zones are, always count)
    present: frozenset[str] | None = None
    checked: frozenset[str] = frozenset()
    # the forms found in each of those texts, in their order (transforms.context reads them)
    found_in: pl.Series | None = None
    _longest: tuple[int, int] = field(default=(-1, 0), init=False, repr=False)   # (forms counted, longest)

    def pattern(self, include_ambiguous: bool = False) -> str:
        """One alternation of every surface form, longest first (the ambiguous ones too when
        asked: a caller that resolves them by context). After ``discover`` only the forms that
        occur in its texts are listed: on any part of those texts the regex matches the same,
        and a batch names a few hundred of the gazetteer's thousands of forms (a regex of
        thousands costs Polars' engine its fast path)."""
        forms = self.forms_to_match(include_ambiguous)
        if not forms:
            return r"(?:\b\B)"  # matches nothing (an empty alternation would match everywhere)
        # (of two forms of one length only one can match at a place: their order is free)
        return "(?:" + "|".join(re.escape(f) for f in sorted(forms, key=lambda f: (-len(f), f))) + ")"

    def forms_to_match(self, include_ambiguous: bool = False) -> set[str]:
        """The surface forms (the ambiguous ones too when asked) a regex over the texts
        ``discover`` saw needs: those it found in them, and those added since."""
        known = self.canonical.keys() | self.ambiguous.keys() if include_ambiguous else set(self.canonical)
        if self.present is None:
            return known
        return {f for f in self.present | (known - self.checked) if f in known}

    def note_present(self, texts: pl.Series) -> None:
        """Record which surface forms occur anywhere in ``texts`` (one Aho-Corasick pass)."""
        forms = list(dict.fromkeys([*self.canonical, *self.ambiguous]))
        found = texts.str.extract_many(forms, overlapping=True) if forms and texts.len() else None
        self.present = frozenset() if found is None else frozenset(found.explode().drop_nulls().unique().to_list())
        self.checked = frozenset(forms)
        self.found_in = found

    def knows(self, form: str) -> bool:
        return form in self.canonical or form in self.ambiguous

    def resolve(self, form: str, context_places: Iterable[str] = ()) -> str | None:
        """The entity a surface form means in a document naming ``context_places`` (canonical
        names or surface forms): its canonical name when only one entity has the form, else the
        only candidate that is, or lies in, a context place (中国 does not count); else None."""
        if form in self.canonical and not self.canonical[form].startswith(SCOPE_PREFIX):
            return self.canonical[form]
        found = self.ambiguous.get(form, ())
        context = {self.canonical.get(p, p) for p in context_places if p} - {"中国"}
        matching = [c for c in found if c in context or context.intersection(self.ancestors(c))]
        return matching[0] if len(matching) == 1 else None

    def forms_in(self, text: str) -> list[tuple[int, str]]:
        """(start, form) of the known surface forms in ``text``, leftmost-longest, as the
        pattern's regex scans them; a dictionary walk, for short texts in Python."""
        found, i, longest = [], 0, self._longest_form()
        while i < len(text):
            for size in range(min(longest, len(text) - i), 1, -1):
                if text[i:i + size] in self.canonical:
                    found.append((i, text[i:i + size]))
                    i += size
                    break
            else:
                i += 1
        return found

    def forms_within(self, text: str) -> list[str]:
        """Every known surface form that occurs in ``text``, overlapping ones included (as
        ``[f for f in canonical if f in text]``, without a loop over all forms)."""
        longest = min(self._longest_form(), len(text))
        return list(dict.fromkeys(text[i:j] for i in range(len(text))
                                  for j in range(i + 2, min(i + longest, len(text)) + 1)
                                  if text[i:j] in self.canonical))

    def _longest_form(self) -> int:
        if self._longest[0] != len(self.canonical):  # discovery adds forms
            self._longest = (len(self.canonical), max(map(len, self.canonical), default=0))
        return self._longest[1]

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
            if self.entity_type.get(ancestor) in {"city", "province", "country", "prefecture", "county", "district"}:
                break
            top = ancestor
        return top

    def scope_target(self, level: str, subject: str | None) -> str | None:
        """全市 for ``subject``: itself if it is a city, else its nearest city ancestor. A
        county-level place answers to the word its own name ends with (昆山市 to 全市,
        神农架林区 to 全区), so 我市 in an article about 泰兴市 is 泰兴市."""
        if level == "country":
            return "中国"
        if subject is None:
            return None
        own_suffixes = scope_suffixes().get(level, ())
        for name in [subject, *self.ancestors(subject)]:
            kind = self.entity_type.get(name)
            if kind == level or (level == "district" and kind == "zone") or (
                    kind in ("county", "district") and name.endswith(own_suffixes)):
                return name
        return None


@lru_cache(maxsize=1)
def _gazetteer_seed() -> tuple[dict, dict, dict, dict, dict, dict]:
    """(canonical, types, parents, aliases, ambiguous, admin codes) of the gazetteer and zones."""
    unique, shared = gazetteer.surface_forms()
    rows = gazetteer.places().select("name", "entity_type", "parent", "aliases", "admin_code").rows()
    types = {n: t for n, t, _, _, _ in rows}
    parents = {n: p for n, _, p, _, _ in rows}
    aliases = {n: [a for a in al if unique.get(a) == n] for n, _, _, al, _ in rows}
    codes = {n: c for n, _, _, _, c in rows if c}
    return dict(unique), types, parents, aliases, dict(shared), codes


def base_index(vocabulary: Vocabulary) -> EntityIndex:
    """The gazetteer and zones, then the vocabulary's entities.csv over them (its canonical
    names, types, parents and aliases win), then the scope words. Built once per vocabulary;
    each batch gets copies of the tables to extend (the alias lists are shared: a batch that
    adds an alias replaces the list, as ``discover`` does)."""
    canonical, types, parents, aliases, ambiguous, codes = _vocabulary_seed(vocabulary)
    return EntityIndex(dict(canonical), dict(types), dict(parents), dict(aliases), ambiguous=dict(ambiguous),
                       admin_code=dict(codes))


# vocabulary id → (the vocabulary, its tables); the vocabulary is held so that its id is not reused
_SEEDS: dict[int, tuple[Vocabulary, tuple]] = {}
_MAX_SEEDS = 4


def _vocabulary_seed(vocabulary: Vocabulary) -> tuple[dict, dict, dict, dict, dict, dict]:
    held = _SEEDS.get(id(vocabulary))
    if held is not None and held[0] is vocabulary:
        return held[1]
    seed = _gazetteer_seed()
    canonical, types, parents, ambiguous, codes = dict(seed[0]), dict(seed[1]), dict(seed[2]), dict(seed[4]), seed[5]
    aliases = dict(seed[3])
    for name, entity_type, parent, alias_list in vocabulary.entities.iter_rows():
        types[name] = entity_type
        parents[name] = parent
        aliases[name] = list(dict.fromkeys([*(alias_list or []), *aliases.get(name, [])]))
        for form in [name, *(alias_list or [])]:
            form = form.replace("（", "(").replace("）", ")")
            canonical[form] = name
            ambiguous.pop(form, None)
    for word, level in scope_words().items():
        canonical[word] = SCOPE_PREFIX + level
        ambiguous.pop(word, None)
    while len(_SEEDS) >= _MAX_SEEDS:
        _SEEDS.pop(next(iter(_SEEDS)), None)
    tables = (canonical, types, parents, aliases, ambiguous, codes)
    _SEEDS[id(vocabulary)] = (vocabulary, tables)
    return tables


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
    if name in stopwords() or index.knows(name) or not _HAN_NAME.match(name):
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


def entity_frame(index: EntityIndex, names: set[str]) -> pl.DataFrame:
    """dim_entity rows for ``names`` and their ancestors. A name the index does not know (a
    benchmark kept verbatim: 主城都市区) is registered only if it can be a name at all."""
    wanted = set()
    for name in names:
        if not name or name.startswith(SCOPE_PREFIX):
            continue
        if name not in index.entity_type and not plausible_name(name):
            continue
        wanted.add(name)
        wanted.update(index.ancestors(name))
    rows = [
        {"name": n, "entity_type": index.entity_type.get(n, "area"), "parent": index.parent.get(n),
         "aliases": sorted(set(index.aliases.get(n, [])))}
        for n in sorted(wanted)
    ]
    return pl.DataFrame(rows, schema={"name": pl.String, "entity_type": pl.String, "parent": pl.String,
                                      "aliases": pl.List(pl.String)})
