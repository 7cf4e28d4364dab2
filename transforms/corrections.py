"""Analyst corrections: the corrections CSV read, checked and applied, as pure functions.

Analysts keep a spreadsheet beside the warehouse (``warehouse/corrections.py`` reads the file).
One line is one correction; an empty cell matches anything.

==========  ==============================================================================
action      what the line does
==========  ==============================================================================
reject      removes the facts it matches (value and unit, when given, match one figure)
set         changes the value and unit of the facts it matches; ``old -> new`` in year,
            start_month or end_month changes their period (and ``old -> new`` in value or
            unit matches the old one)
add         adds a fact the text states: document, entity, indicator, measure, value, unit
            and evidence (a sentence of the document), period and segment as it says
map_phrase  reads ``phrase`` (an unmapped phrase) as the indicator ``indicator``
alias       gives ``entity`` another name (``phrase``) and/or a ``parent``
==========  ==============================================================================

The keys are document (file stem), entity, year, start_month, end_month, indicator, segment,
measure and benchmark; ``evidence`` in a reject or set matches a part of the fact's sentence.
A value is in base units (146280000000) or carries a unit of ``vocab/units.csv`` (1462.8亿元).
reject, set and add act on the facts after extraction and validation, at every load, so they
outlive re-runs and re-extraction; map_phrase and alias extend the vocabulary before extraction.
A line with an error is never applied; of two conflicting lines the later one is the error.
"""
from __future__ import annotations

import csv
import difflib
import hashlib
import io
from dataclasses import dataclass

import polars as pl

from transforms import gazetteer
from transforms.extract import FACT_MEASURES
from transforms.numbers import units
from transforms.periods import period_label
from transforms.vocabulary import Vocabulary

COLUMNS = ("action", "document", "entity", "year", "start_month", "end_month", "indicator", "segment",
           "measure", "benchmark", "value", "unit", "evidence", "phrase", "author", "reason")
OPTIONAL_COLUMNS = ("parent",)
ACTIONS = ("reject", "set", "add", "map_phrase", "alias")
KEYS = ("document", "entity", "year", "start_month", "end_month", "indicator", "segment", "measure", "benchmark")
_CELLS = (*COLUMNS, *OPTIONAL_COLUMNS)
# what a line does, not who wrote it or why: rewording a reason keeps the correction's id
_IDENTITY = tuple(c for c in _CELLS if c not in ("author", "reason"))
_PERIOD = ("year", "start_month", "end_month")
_NEW = ("new_value", "new_unit", "new_year", "new_start_month", "new_end_month")
_ARROW = r"^(.*?)\s*(?:->|→)\s*(.*)$"
_NUMBER = r"^([-+]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*(.*)$"

# The facts ``apply_corrections`` reads: the warehouse's current facts with their names.
FACT_SCHEMA = {
    "fact_id": pl.String, "lineage_id": pl.String, "document_id": pl.String, "observation_id": pl.String,
    "document": pl.String, "entity": pl.String, "year": pl.Int32, "start_month": pl.Int32,
    "end_month": pl.Int32, "indicator": pl.String, "segment": pl.String, "measure": pl.String,
    "benchmark": pl.String, "value": pl.Float64, "unit": pl.String, "qualifier": pl.String,
    "evidence": pl.String, "char_start": pl.Int32, "extracted_key": pl.String,
    "entity_type": pl.String, "fingerprint": pl.String,   # carried through unchanged
}
CORRECTED_SCHEMA = {**FACT_SCHEMA, "period": pl.String, "extracted_value": pl.Float64,
                    "correction_id": pl.String, "rejected": pl.Boolean}
STATUS_SCHEMA = {"correction_id": pl.String, "lineage_id": pl.String, "matched": pl.Int64}


@dataclass(frozen=True)
class CorrectionError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Corrected:
    facts: pl.DataFrame      # CORRECTED_SCHEMA: every fact given, corrected (rejected ones flagged), and the added ones
    status: pl.DataFrame     # STATUS_SCHEMA: facts each reject/set/add line matched (or added) per lineage


# --------------------------------------------------------------------------- reading


def _raw_lines(text: str) -> tuple[pl.DataFrame, list[CorrectionError]]:
    """One row of stripped cells per non-blank line, with the line it starts on.

    The csv module rather than pl.read_csv: errors name each row's line in the file, and a
    quoted cell may span lines. Ids are sha256 digests, not Polars hashes: those may change
    between Polars versions, and the warehouse keeps the ids."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header = [cell.strip().lower() for cell in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if missing or repeated:
        why = (f"the header lacks {', '.join(missing)}" if missing else f"the header repeats {', '.join(repeated)}")
        return pl.DataFrame(schema=_RAW_SCHEMA), [CorrectionError(1, f"{why}; it names at least: {','.join(COLUMNS)}")]
    rows: dict[str, list] = {name: [] for name in ("line", "correction_id", "extra_cells", *_CELLS)}
    end = reader.line_num
    for cells in reader:
        start, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        named = {name: "" for name in _CELLS}
        for name, cell in zip(header, cells):
            if name in named:
                named[name] = cell.strip()
        rows["line"].append(start)
        rows["extra_cells"].append(max(len(cells) - len(header), 0))
        rows["correction_id"].append(hashlib.sha256("\0".join(named[c] for c in _IDENTITY).encode()).hexdigest()[:16])
        for name in _CELLS:
            rows[name].append(named[name] or None)
    return pl.DataFrame(rows, schema=_RAW_SCHEMA), []


_RAW_SCHEMA = {"line": pl.Int64, "correction_id": pl.String, "extra_cells": pl.Int64, **{c: pl.String for c in _CELLS}}


def _unit_words() -> tuple[dict[str, float], dict[str, str]]:
    """units.csv words that make a fact's unit (and the units themselves): factor and unit."""
    table = units().filter(pl.col("normalized").is_not_null())
    factor = dict(table.select("unit", "factor").iter_rows())
    unit = dict(table.select("unit", "normalized").iter_rows())
    for normalized in set(unit.values()):
        factor.setdefault(normalized, 1.0)
        unit.setdefault(normalized, normalized)
    return factor, unit


def _split(column: str) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(has ``old -> new``, old part, new part) of a cell."""
    raw = pl.col(column)
    arrow = raw.str.contains(_ARROW).fill_null(False)
    old = pl.when(arrow).then(raw.str.extract(_ARROW, 1).replace("", None)).otherwise(raw)
    return arrow, old, pl.when(arrow).then(raw.str.extract(_ARROW, 2).replace("", None))


def _number(cell: pl.Expr, factor: dict, unit: dict) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(value in base units, its unit from a unit word or null, well-formed) of a value cell."""
    digits = cell.str.extract(_NUMBER, 1).str.replace_all(",", "").cast(pl.Float64, strict=False)
    word = cell.str.extract(_NUMBER, 2).replace("", None)
    scale = word.replace_strict(factor, default=None, return_dtype=pl.Float64)
    ok = cell.is_null() | (digits.is_not_null() & (word.is_null() | scale.is_not_null()))
    return digits * scale.fill_null(1.0), word.replace_strict(unit, default=None, return_dtype=pl.String), ok


def read_corrections(text: str, vocabulary: Vocabulary | None = None) -> tuple[pl.DataFrame, list[CorrectionError]]:
    """The lines of a corrections file, typed, each with its first ``error`` (null: applied).

    Match cells are ``year`` … ``value``, ``unit``; the new values of set and add are ``new_*``.
    With ``vocabulary``, indicator codes and alias entities are checked against it."""
    raw, header_errors = _raw_lines(text)
    factor, unit_of = _unit_words()
    action = pl.col("action").str.to_lowercase()
    is_set, is_add = action == "set", action == "add"
    columns, problems = {}, []
    for name in _PERIOD:
        arrow, old, new = _split(name)
        as_int = {part: cell.cast(pl.Int32, strict=False) for part, cell in (("old", old), ("new", new))}
        columns[name], columns[f"new_{name}"] = as_int["old"], as_int["new"]
        bad = (old.is_not_null() & as_int["old"].is_null()) | (arrow & as_int["new"].is_null())
        problems.append(pl.when(bad).then(pl.format(f"{name} '{{}}' is not a whole number", pl.col(name))))
        problems.append(pl.when(arrow & ~is_set).then(pl.lit(f"`old -> new` in {name} is only for set lines")))
    # value and unit: plain cells are the new ones in set and add lines, the matched ones elsewhere
    v_arrow, v_old, v_new = _split("value")
    u_arrow, u_old, u_new = _split("unit")
    plain_is_new = (is_set | is_add)
    value_old = pl.when(plain_is_new & ~v_arrow).then(None).otherwise(v_old)
    value_new = pl.when(v_arrow).then(v_new).when(plain_is_new).then(pl.col("value"))
    unit_old = pl.when(plain_is_new & ~u_arrow).then(None).otherwise(u_old)
    unit_new = pl.when(u_arrow).then(u_new).when(plain_is_new).then(pl.col("unit"))
    for key, cell in (("value", value_old), ("new_value", value_new)):
        number, word_unit, ok = _number(cell, factor, unit_of)
        columns[key], columns[f"{key}_unit"] = number, word_unit
        problems.append(pl.when(~ok).then(pl.format(
            "value '{}' is not a number (write 146280000000, 1462.8亿元 or 4.7)", cell)))
    for key, cell in (("unit", unit_old), ("new_unit", unit_new)):
        columns[key] = cell.replace_strict(unit_of, default=None, return_dtype=pl.String)
        problems.append(pl.when(cell.is_not_null() & columns[key].is_null()).then(pl.format(
            "unknown unit '{}' (one of {})", cell, pl.lit(", ".join(sorted(set(unit_of.values())))))))
    problems.append(pl.when((v_arrow | u_arrow) & ~is_set).then(pl.lit("`old -> new` is only for set lines")))
    # the cells' problems are read from the raw text, before the typed columns replace it
    frame = raw.with_columns(action.alias("action"), _joined(problems).alias("_cell_error"),
                             **{f"_typed_{k}": v for k, v in columns.items()})
    frame = frame.drop(*[k for k in columns if k in frame.columns]).rename(
        {f"_typed_{k}": k for k in columns})
    frame = frame.with_columns(
        (_clash("unit", "value_unit") | _clash("new_unit", "new_value_unit")).alias("unit_clash"),
        pl.coalesce("unit", "value_unit").alias("unit"), pl.coalesce("new_unit", "new_value_unit").alias("new_unit"),
    )
    frame = frame.with_columns(
        _joined([pl.col("_cell_error"), *_line_problems(), *_vocabulary_problems(vocabulary)]).alias("error")
    ).drop("value_unit", "new_value_unit", "unit_clash", "_cell_error")
    frame = _mark_conflicts(frame)
    errors = header_errors + [CorrectionError(line, message) for line, message in
                              frame.filter(pl.col("error").is_not_null()).select("line", "error").iter_rows()]
    return frame, errors


def _joined(problems: list[pl.Expr]) -> pl.Expr:
    """Every problem of a line, or null."""
    every = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    return pl.when(every != "").then(every)


def _clash(a: str, b: str) -> pl.Expr:
    return (pl.col(a) != pl.col(b)).fill_null(False)


def _line_problems() -> list[pl.Expr]:
    """What each action needs, in order of the checks an analyst reads first."""
    action = pl.col("action")
    present = lambda *names: pl.all_horizontal(pl.col(n).is_not_null() for n in names)  # noqa: E731
    missing = lambda *names: pl.concat_str(  # noqa: E731
        [pl.when(pl.col(n).is_null()).then(pl.lit(n)) for n in names], separator=", ", ignore_nulls=True)
    narrows = pl.any_horizontal(pl.col(n).is_not_null() for n in ("document", "entity", "indicator", "evidence"))
    new_anything = pl.any_horizontal(pl.col(f"new_{n}").is_not_null() for n in ("value", "unit", *_PERIOD))
    add_needs = ("document", "entity", "indicator", "measure", "new_value", "new_unit", "evidence")
    return [
        pl.when(pl.col("extra_cells") > 0).then(pl.format("{} more cell(s) than the header has", "extra_cells")),
        pl.when(action.is_null()).then(pl.lit(f"no action (one of {', '.join(ACTIONS)})")),
        pl.when(~action.is_in(ACTIONS)).then(pl.format(f"unknown action '{{}}' (one of {', '.join(ACTIONS)})",
                                                       "action")),
        pl.when(pl.col("year").is_between(1949, 2100).not_() | pl.col("new_year").is_between(1949, 2100).not_())
        .then(pl.lit("year out of range (1949–2100)")),
        *[pl.when(pl.col(m).is_between(1, 12).not_()).then(pl.format(f"{m.removeprefix('new_')} {{}} is not a month",
                                                                         m))
          for m in ("start_month", "end_month", "new_start_month", "new_end_month")],
        pl.when(pl.coalesce("new_start_month", "start_month") > pl.coalesce("new_end_month", "end_month"))
        .then(pl.lit("start_month is after end_month")),
        pl.when(pl.col("measure").is_not_null() & ~pl.col("measure").is_in(FACT_MEASURES))
        .then(pl.format(f"unknown measure '{{}}' (one of {', '.join(FACT_MEASURES)})", "measure")),
        pl.when(pl.col("unit_clash")).then(pl.lit("the unit cell and the value's unit disagree")),
        pl.when(action.is_in(["reject", "set"]) & ~narrows).then(pl.format(
            "a {} line must name a document, entity, indicator or evidence: it would match every fact", "action")),
        pl.when((action == "set") & ~new_anything).then(pl.lit(
            "a set line needs a new value or unit, or `old -> new` in year, start_month or end_month")),
        pl.when((action == "add") & ~present(*add_needs)).then(pl.format(
            "an add line needs {}", missing(*add_needs).str.replace_all("new_", ""))),
        pl.when((action == "map_phrase") & ~present("phrase", "indicator"))
        .then(pl.lit("a map_phrase line needs phrase and indicator")),
        pl.when((action == "alias") & (pl.col("entity").is_null()
                                       | pl.col("phrase").is_null() & pl.col("parent").is_null()))
        .then(pl.lit("an alias line needs entity, and phrase (the other name) or parent")),
    ]


def _vocabulary_problems(vocabulary: Vocabulary | None) -> list[pl.Expr]:
    if vocabulary is None:
        return []
    codes = vocabulary.indicators.get_column("code").to_list()
    known = pl.col("indicator").is_in(codes)
    guess = pl.col("indicator").map_elements(  # difflib over a few hundred lines at most
        lambda c: ", ".join(difflib.get_close_matches(c, codes, n=2)) or "none close", return_dtype=pl.String)
    forms = {form: code for code, surface in vocabulary.indicators.select("code", "surface_forms").iter_rows()
             for form in (surface or "").split("|") if form}
    taken = pl.col("phrase").replace_strict(forms, default=None, return_dtype=pl.String)
    entities = [*vocabulary.entities.get_column("name").to_list(), *gazetteer.types()]
    return [
        pl.when(pl.col("indicator").is_not_null() & ~known).then(pl.format(
            "unknown indicator code '{}' (closest: {}; codes are in transforms/vocab/indicators.csv)",
            "indicator", guess)),
        pl.when((pl.col("action") == "map_phrase") & taken.is_not_null() & (taken != pl.col("indicator")))
        .then(pl.format("'{}' already reads as indicator {}", "phrase", taken)),
        pl.when((pl.col("action") == "alias") & ~pl.col("entity").is_in(entities))
        .then(pl.format("unknown entity '{}': add it to transforms/vocab/entities.csv first", "entity")),
    ]


def _mark_conflicts(frame: pl.DataFrame) -> pl.DataFrame:
    """A line that says otherwise than an earlier valid line about the same thing is an error."""
    matched = [*KEYS, "value", "unit", "evidence"]
    effect = pl.concat_str([pl.col(c).cast(pl.String).fill_null("∅") for c in _NEW], separator="|")
    subjects = {  # kind: (lines it concerns, what they are about, what they say, the clash)
        "fact": (pl.col("action").is_in(["reject", "set"]),
                 pl.concat_str([pl.col(c).cast(pl.String).fill_null("∅") for c in matched], separator="|"),
                 pl.when(pl.col("action") == "reject").then(pl.lit("reject")).otherwise(effect),
                 "it corrects the same facts otherwise"),
        "phrase": (pl.col("action") == "map_phrase", pl.col("phrase"), pl.col("indicator"),
                   "it maps the same phrase to another indicator"),
        "alias": (pl.col("action") == "alias", pl.col("phrase"), pl.col("entity"),
                  "it gives the same name to another entity"),
        "parent": ((pl.col("action") == "alias") & pl.col("parent").is_not_null(), pl.col("entity"),
                   pl.col("parent"), "it gives the entity another parent"),
    }
    for applies, subject, says, clash in subjects.values():
        live = applies & pl.col("error").is_null() & subject.is_not_null()
        frame = frame.with_columns(live.alias("_live"), subject.alias("_subject"), says.alias("_says"))
        firsts = (frame.filter("_live").sort("line").group_by("_subject", maintain_order=True)
                  .agg(pl.col("line").first().alias("_first_line"), pl.col("_says").first().alias("_first_says")))
        frame = frame.join(firsts, on="_subject", how="left").with_columns(
            pl.when(pl.col("_live") & (pl.col("_says") != pl.col("_first_says")))
            .then(pl.format(f"conflicts with line {{}}: {clash}", "_first_line"))
            .otherwise(pl.col("error")).alias("error")
        ).drop("_live", "_subject", "_says", "_first_line", "_first_says")
    return frame


def check_corrections(text: str, vocabulary: Vocabulary) -> list[CorrectionError]:
    """Every problem of a corrections file, with its line; empty when the file is good."""
    return read_corrections(text, vocabulary)[1]


HEADER = ",".join((*COLUMNS, *OPTIONAL_COLUMNS))


def no_corrections() -> pl.DataFrame:
    """The read form of a corrections file with no lines (no file beside the warehouse)."""
    return read_corrections(HEADER + "\n")[0]


# --------------------------------------------------------------------------- applying

_MATCHED = ("entity", "year", "start_month", "end_month", "indicator", "segment", "measure", "benchmark", "unit")


def _squeezed(column: str) -> pl.Expr:
    # evidence as stored keeps the spacing of the source; an analyst's copy may not
    return pl.col(column).str.replace_all(r"\s+", "")


def _hits(facts: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """(fact, reject/set line) pairs where every cell the line fills matches the fact."""
    cells = lines.select("correction_id", "line", "action", *_NEW,
                         *[pl.col(k).alias(f"c_{k}") for k in (*_MATCHED, "document", "value", "evidence")])
    # a line naming a document meets that document's facts only: a join, not a cross product
    pairs = pl.concat([
        facts.join(cells.filter(pl.col("c_document").is_not_null()), left_on="document", right_on="c_document"),
        facts.join(cells.filter(pl.col("c_document").is_null()).drop("c_document"), how="cross"),
    ], how="diagonal_relaxed")
    value, wanted = pl.col("value"), pl.col("c_value")
    conditions = [pl.col(f"c_{k}").is_null() | (pl.col(f"c_{k}") == pl.col(k)).fill_null(False) for k in _MATCHED]
    conditions.append(wanted.is_null() | ((value - wanted).abs()
                                          <= 1e-6 * pl.max_horizontal(value.abs(), wanted.abs()) + 1e-9))
    conditions.append(pl.col("c_evidence").is_null()
                      | _squeezed("evidence").str.contains(_squeezed("c_evidence"), literal=True).fill_null(False))
    return pairs.filter(pl.all_horizontal(conditions)).select("fact_id", "lineage_id", "correction_id", "line",
                                                              "action", *_NEW)


def _added(adds: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """The facts add lines state, one in each current document of that stem whose text holds
    the evidence (the warehouse reports the lines that add none, and why)."""
    docs = documents.select("document", "document_id", "lineage_id", _squeezed("text").alias("_text"))
    return adds.join(docs, on="document").filter(
        pl.col("_text").str.contains(_squeezed("evidence"), literal=True)
    ).select(
        pl.concat_str([pl.lit("add"), "correction_id", "lineage_id"], separator=":").alias("fact_id"),
        "lineage_id", "document_id", pl.lit(None, pl.String).alias("observation_id"), "document", "entity",
        "year", "start_month", "end_month", "indicator", "segment", "measure", "benchmark",
        pl.col("new_value").alias("value"), pl.col("new_unit").alias("unit"), pl.lit("exact").alias("qualifier"),
        "evidence", pl.lit(None, pl.Int32).alias("char_start"), pl.lit(None, pl.String).alias("extracted_key"),
        pl.lit(None, pl.Float64).alias("extracted_value"), "correction_id", pl.lit(False).alias("rejected"))


def apply_corrections(facts: pl.DataFrame, corrections: pl.DataFrame, documents: pl.DataFrame) -> Corrected:
    """``facts`` (FACT_SCHEMA) after the valid reject, set and add lines of ``corrections``.

    Of several lines matching a fact a reject wins, then the later line. Every fact comes
    back, a rejected one flagged, with its extracted value and the correction that shaped it;
    the added facts are read against ``documents`` (document, document_id, lineage_id, text)."""
    valid = corrections.filter(pl.col("error").is_null())
    # identical lines (another author, another reason) are one correction
    lines = valid.filter(pl.col("action").is_in(["reject", "set"])).unique("correction_id", maintain_order=True)
    facts = facts.select(list(FACT_SCHEMA)).cast(FACT_SCHEMA)
    hits = _hits(facts, lines)
    winners = (hits.sort([pl.col("action") == "reject", pl.col("line")], descending=True)
               .unique("fact_id", keep="first", maintain_order=True))
    is_set = (pl.col("action") == "set").fill_null(False)
    corrected = facts.join(winners, on="fact_id", how="left").with_columns(
        pl.col("value").alias("extracted_value"),
        (pl.col("action") == "reject").fill_null(False).alias("rejected"),
        *[pl.when(is_set).then(pl.coalesce(f"new_{c}", c)).otherwise(pl.col(c)).alias(c)
          for c in ("value", "unit", *_PERIOD)],
    )
    added = _added(valid.filter(pl.col("action") == "add").unique("correction_id", maintain_order=True), documents)
    out = pl.concat([corrected, added], how="diagonal_relaxed").with_columns(
        period_label(pl.col("year"), pl.col("start_month"), pl.col("end_month")).alias("period"))
    status = (pl.concat([hits.select("correction_id", "lineage_id"), added.select("correction_id", "lineage_id")])
              .group_by("correction_id", "lineage_id", maintain_order=True).agg(pl.len().alias("matched")))
    return Corrected(out.select(list(CORRECTED_SCHEMA)).cast(CORRECTED_SCHEMA), status.cast(STATUS_SCHEMA))


# --------------------------------------------------------------------------- vocabulary


def extend_vocabulary(vocabulary: Vocabulary, corrections: pl.DataFrame) -> Vocabulary:
    """``vocabulary`` with the valid map_phrase lines as indicator forms and the alias lines'
    names and parents on their entities (an entity of the gazetteer joins entities.csv)."""
    valid = corrections.filter(pl.col("error").is_null())
    phrases = (valid.filter(pl.col("action") == "map_phrase").group_by("indicator", maintain_order=True)
               .agg(pl.col("phrase").unique(maintain_order=True).str.join("|").alias("_forms")))
    indicators = vocabulary.indicators.join(phrases, left_on="code", right_on="indicator", how="left").with_columns(
        pl.concat_str(["surface_forms", "_forms"], separator="|", ignore_nulls=True).alias("surface_forms")
    ).select(vocabulary.indicators.columns)
    aliases = (valid.filter(pl.col("action") == "alias").group_by("entity", maintain_order=True)
               .agg(pl.col("phrase").drop_nulls().unique(maintain_order=True).alias("_aliases"),
                    pl.col("parent").drop_nulls().last().alias("_parent")))
    columns = vocabulary.entities.columns
    newcomers = aliases.filter(~pl.col("entity").is_in(vocabulary.entities.get_column("name").implode())).select(
        pl.col("entity").alias("name"),
        pl.col("entity").replace_strict(gazetteer.types(), default=None, return_dtype=pl.String).alias("entity_type"),
        pl.col("entity").replace_strict(gazetteer.parents(), default=None, return_dtype=pl.String).alias("parent"),
        pl.lit([], pl.List(pl.String)).alias("aliases"),
    ).filter(pl.col("entity_type").is_not_null())
    entities = pl.concat([vocabulary.entities, newcomers], how="vertical_relaxed").join(
        aliases, left_on="name", right_on="entity", how="left").with_columns(
        pl.concat_list("aliases", pl.col("_aliases").fill_null([])).list.unique(maintain_order=True).alias("aliases"),
        pl.coalesce("_parent", "parent").alias("parent"),
    ).select(columns)
    return Vocabulary(indicators=indicators, entities=entities, breakdowns=vocabulary.breakdowns)


def vocabulary_key(corrections: pl.DataFrame) -> str:
    """The valid map_phrase and alias lines in a canonical text, for the extractor fingerprint:
    a new or changed one re-extracts the documents, a reordered file does not."""
    rows = (corrections.filter(pl.col("error").is_null() & pl.col("action").is_in(["map_phrase", "alias"]))
            .select(pl.concat_str([pl.col(c).fill_null("") for c in ("action", "phrase", "indicator", "entity",
                                                                       "parent")], separator="\t"))
            .to_series().unique().sort().to_list())
    return "\n".join(rows)
