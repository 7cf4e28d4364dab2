"""documents → their context: the places each document names, and the place its source URL
names, for sentences that name no subject (FACT_MODEL: "Subject from metadata").

``document_context(documents, paragraphs, index)`` returns one row per document:

    document_id     str
    context_places  list[str]  canonical places the title, text and source URL name: what a
                               shared name (朝阳区, 保税区, 高新区) is resolved against
    url_subject     str?       the one place the source URL names that fits the scope words the
                               text uses (全区 → a district or zone, 全县 → a county, 我市 → a
                               city); null when none or several fit

Places are found with one Aho-Corasick pass over the batch (``str.extract_many``); only the
URLs are read per document, through ``gazetteer.places_in_url``.
"""
from __future__ import annotations

import polars as pl

from transforms import gazetteer
from transforms.distinct import looked_up
from transforms.entities import SCOPE_PREFIX, EntityIndex

# what a document's own scope word says its subject is
_TYPES_OF_LEVEL = {"district": {"district", "zone"}, "county": {"county"}, "city": {"city", "county"},
                   "province": {"province"}, "prefecture": {"prefecture"}}
_PLACE_TYPES = {"province", "city", "prefecture", "county", "district", "zone", "area"}
SCHEMA = {"document_id": pl.String, "context_places": pl.List(pl.String), "url_subject": pl.String}


def _named(paragraphs: pl.DataFrame, index: EntityIndex) -> pl.DataFrame:
    """document_id, form: every surface form (shared ones too) each document's text contains;
    the scan ``discover`` made of the same paragraphs is reused when it has one."""
    if index.found_in is not None and index.found_in.len() == paragraphs.height:
        found = index.found_in
    else:
        forms = [f for f in dict.fromkeys([*index.canonical, *index.ambiguous]) if index.present is None
                 or f in index.present or f not in index.checked]
        if not forms:
            return pl.DataFrame(schema={"document_id": pl.String, "form": pl.String})
        found = paragraphs.get_column("norm").str.extract_many(forms)
    return (paragraphs.select("document_id").with_columns(found.alias("form"))
            .explode("form").drop_nulls("form").unique())


def _url_subject(found: list[tuple[str, str]], levels: set[str], zone_words: set[str]) -> str | None:
    """The one place of ``found`` (the URL's places and types) that fits the text's scope words."""
    if levels:
        allowed = set().union(*(_TYPES_OF_LEVEL.get(level, set()) for level in levels))
        found = [(name, kind) for name, kind in found if kind in allowed]
    # 示范区 in the text picks 杨凌示范区 over 杨陵区
    preferred = [(name, kind) for name, kind in found if any(name.endswith(w) for w in zone_words)]
    found = preferred or found
    names = list(dict.fromkeys(name for name, _ in found))
    return names[0] if len(names) == 1 else None


def document_context(documents: pl.DataFrame, paragraphs: pl.DataFrame, index: EntityIndex) -> pl.DataFrame:
    named = _named(paragraphs, index)
    # what each form the batch names stands for: a place, or a scope word's level (全区 → district)
    place_of, level_of = {}, {}
    for form in named.get_column("form").unique().to_list():
        target = index.canonical.get(form)
        if not target:
            continue
        if target.startswith(SCOPE_PREFIX):
            if "|" not in target:
                level_of[form] = target[len(SCOPE_PREFIX):]
        elif index.entity_type.get(target) in _PLACE_TYPES:
            place_of[form] = target
    places = named.select("document_id", pl.col("form").replace_strict(place_of, default=None, return_dtype=pl.String)
                          .alias("place")).drop_nulls("place")
    # only a URL with a word of a place's pinyin or initials is read, in Python (most name none)
    url_rows, subjects = [], {}
    if "source_url" in documents.columns:
        read = documents.filter(gazetteer.url_may_name_places(pl.col("source_url"))).select("document_id", "source_url")
        found = {document_id: in_url for document_id, url in read.iter_rows()
                 if (in_url := gazetteer.places_in_url(url))}
        generic = set(gazetteer.zone_words())
        forms = named.filter(pl.col("document_id").is_in(list(found))).group_by("document_id").agg("form")
        forms_of = dict(forms.iter_rows())
        for document_id, url_places in found.items():
            own = forms_of.get(document_id, [])
            levels = {level_of[f] for f in own if f in level_of}
            subjects[document_id] = _url_subject(url_places, levels, {f for f in own if f in generic})
            url_rows.extend((document_id, name) for name, _ in url_places)
    url_named = pl.DataFrame(url_rows, schema={"document_id": pl.String, "place": pl.String}, orient="row")
    # each document's places, in order: gathered from (document, place) pairs, not per document
    lists = (pl.concat([places, url_named]).unique().sort("document_id", "place")
             .group_by("document_id").agg(pl.col("place").alias("context_places")))
    frame = documents.select("document_id", pl.col("document_id").replace_strict(
        subjects, default=None, return_dtype=pl.String).alias("url_subject"))
    return looked_up(frame, lists, ["document_id"]).select(
        "document_id", pl.col("context_places").fill_null(pl.lit([], dtype=pl.List(pl.String))), "url_subject")
