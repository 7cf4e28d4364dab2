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
    generic = set(gazetteer.zone_words())
    ids, subjects, named_by, places_named = [], [], [], []
    urls = dict(documents.select("document_id", "source_url").iter_rows()) if "source_url" in documents.columns \
        else {}
    by_document = {doc: forms for doc, forms in named.group_by("document_id").agg("form").iter_rows()}
    for document_id in documents.get_column("document_id").to_list():
        forms = by_document.get(document_id, [])
        targets = [index.canonical.get(f) for f in forms]
        levels = {t[len(SCOPE_PREFIX):] for t in targets if t and t.startswith(SCOPE_PREFIX) and "|" not in t}
        places = {t for t in targets if t and not t.startswith(SCOPE_PREFIX)
                  and index.entity_type.get(t) in _PLACE_TYPES}
        url_places = gazetteer.places_in_url(urls.get(document_id))
        subject = _url_subject(url_places, levels, {f for f in forms if f in generic})
        ids.append(document_id)
        subjects.append(subject)
        found = sorted(places | {name for name, _ in url_places})
        named_by.extend([document_id] * len(found))
        places_named.extend(found)
    # the lists are gathered from (document, place) pairs: from Python lists Polars would build a
    # Series for every document
    lists = pl.DataFrame({"document_id": named_by, "context_places": places_named}, schema={
        "document_id": pl.String, "context_places": pl.String}).group_by("document_id").agg("context_places")
    frame = pl.DataFrame({"document_id": ids, "url_subject": subjects}, schema={"document_id": pl.String,
                                                                                "url_subject": pl.String})
    return looked_up(frame, lists, ["document_id"]).select(
        "document_id", pl.col("context_places").fill_null(pl.lit([], dtype=pl.List(pl.String))), "url_subject")
