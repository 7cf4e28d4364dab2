"""Entities: the alias table and the hierarchy.

``EntityIndex`` is built per batch from the national gazetteer and zones
(transforms.gazetteer), the project's own entities.csv (which wins where they overlap) and
the names discovered in the batch's paragraphs (transforms.discovery). It gives the regular
expression of every surface form (``pattern``), the canonical name of a surface form, each
entity's type and parent, the names several places share (``ambiguous``, resolved by document
context with ``resolve``), and resolves 全市/全省/全国 to the right level for a subject.
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
    return bool(HAN_NAME.match(name)) and not name.startswith(gazetteer.lead_words()) and not chars.intersection(name) \
        and not name.endswith(tails) and name not in gazetteer.stop_names()   # 前进, 振兴: everyday words


@lru_cache(maxsize=1)
def scope_suffixes() -> dict[str, tuple[str, ...]]:
    """Scope level → the name endings of county-level places that answer to it (昆山市 to 全市)."""
    table: dict[str, tuple[str, ...]] = {}
    for level, suffix in vocab_rows("scope_suffixes.csv"):
        table[level] = table.get(level, ()) + (suffix,)
    return table


HAN_NAME = re.compile(r"^[\u4e00-\u9fff()（）]+$")


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
