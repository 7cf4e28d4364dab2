"""Data-quality suites: real GX validations on small frames and on a real DuckDB warehouse."""
from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from expectations import suites, warehouse_checks
from expectations.ranges import read_ranges
from expectations.record import already_alerted, record_results
from expectations.results import ERROR, WARNING, fingerprint, merge_results
from transforms.extract import OBSERVATION_SCHEMA
from transforms.vocabulary import load_vocabulary
from warehouse.migrate import migrate

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "seeds"
DOC_A, DOC_B, DOC_C, DOC_D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
XSS = "<script>alert(1)</script>"


def _obs(**kw) -> dict:
    row = {"document_id": DOC_A, "entity": "重庆高新区", "entity_type": "zone", "year": 2024, "start_month": 1,
           "end_month": 6, "period_label": "2024-H1", "indicator": "gdp", "segment": None, "measure": "yoy_pct",
           "value": 6.1, "unit": "percent", "qualifier": "exact", "benchmark": None, "evidence": "GDP同比增长6.1%",
           "char_start": 0, "char_end": 10, "extractor_version": "1.0.0"}
    row.update(kw)
    return row


ROWS = {
    "clean_gdp": _obs(),
    "clean_level": _obs(measure="level", value=1.2345e11, unit="CNY", evidence="地区生产总值1234.5亿元"),
    "gdp_900": _obs(value=900.0, evidence="GDP同比增长900%", document_id=DOC_B),
    "share_120": _obs(indicator="foreign_trade", measure="share_pct", value=120.0, benchmark="重庆市",
                      evidence="占全市比重120%"),
    "zone_yoy": _obs(indicator="industrial_value_added_above_scale", year=2024, start_month=1, end_month=11,
                     period_label="2024-M01-M11", value=10.1, evidence="规上工业增加值增长10.1%"),
    "diff_25": _obs(indicator="industrial_value_added_above_scale", year=2024, start_month=1, end_month=11,
                    period_label="2024-M01-M11", measure="diff_pp", value=25.0, unit="pp", benchmark="重庆市",
                    evidence="高于全市25个百分点"),
    "months_7_3": _obs(start_month=7, end_month=3, period_label="2024-M07-M03", value=5.0,
                       evidence="7至3月增长5%"),
    "no_year": _obs(year=None, period_label="????-H1", value=4.0, evidence="增长4%"),
    "negative_money": _obs(measure="level", value=-5e8, unit="CNY", evidence="实现-5亿元"),
    "unknown_indicator": _obs(indicator="not_a_code", value=3.0, evidence="某指标增长3%"),
    "unregistered_entity": _obs(entity="某不存在园区", value=5.0, evidence="某不存在园区增长5%"),
}
REGISTERED = pl.DataFrame({"name": ["新发现园区"]})   # entities the batch registered (besides the vocabulary)


@pytest.fixture(scope="module")
def observations() -> pl.DataFrame:
    return pl.DataFrame(list(ROWS.values()), schema=OBSERVATION_SCHEMA)


@pytest.fixture(scope="module")
def validation(observations):
    return suites.validate_observations(observations, load_vocabulary(), REGISTERED)


def _result(results, name, suite=None):
    found = [r for r in results if r.expectation == name and (suite is None or r.suite == suite)]
    assert found, f"no result named {name}"
    return found[0]


def _quarantined(validation, evidence: str) -> dict:
    rows = [r for r in validation.quarantined.iter_rows(named=True) if json.loads(r["payload"])["evidence"] == evidence]
    assert len(rows) == 1, f"{evidence!r} not quarantined once"
    return rows[0]


def _clean_evidence(validation) -> set[str]:
    return set(validation.clean.get_column("evidence").to_list())


# --------------------------------------------------------------------------- ranges file


def test_ranges_file_is_consistent_and_covers_every_category():
    ranges = read_ranges()
    categories = set(load_vocabulary().indicators.get_column("category").to_list())
    yoy_categories = set(ranges.filter((pl.col("measure") == "yoy_pct") & (pl.col("scope") == "category"))["key"])
    assert categories <= yoy_categories
    codes = set(load_vocabulary().indicators.get_column("code").to_list())
    assert set(ranges.filter(pl.col("scope") == "indicator")["key"]) <= codes
    gdp = ranges.filter((pl.col("measure") == "yoy_pct") & (pl.col("key") == "gdp")).row(0, named=True)
    assert (gdp["min"], gdp["max"]) == (-30, 60)
    diff = ranges.filter(pl.col("measure") == "diff_pp").row(0, named=True)
    assert (diff["min"], diff["max"]) == (-30, 30)


# --------------------------------------------------------------------------- observations suite


def test_gdp_yoy_900_is_quarantined_by_the_gdp_range_at_error_severity(validation):
    row = _quarantined(validation, "GDP同比增长900%")
    assert row["reason"] == "yoy_pct_range_gdp"
    assert row["stage"] == "validation" and row["path"] is None and row["document_id"] == DOC_B
    assert "900" in row["detail"] and "[-30, 60]" in row["detail"]
    assert json.loads(row["payload"])["value"] == 900.0
    assert "GDP同比增长900%" not in _clean_evidence(validation)
    result = _result(validation.results, "yoy_pct_range_gdp")
    assert result.severity == ERROR and not result.success and result.unexpected_count == 1
    assert result.sample[0]["evidence"] == "GDP同比增长900%" and result.sample[0]["document"] == DOC_B


def test_share_above_100_is_quarantined(validation):
    row = _quarantined(validation, "占全市比重120%")
    assert row["reason"] == "share_pct_range"
    assert "占全市比重120%" not in _clean_evidence(validation)


def test_implausible_implied_benchmark_flags_the_row_but_keeps_it(validation):
    clean = validation.clean.filter(pl.col("evidence") == "高于全市25个百分点")
    assert clean.height == 1
    assert clean.get_column("dq_flags").to_list()[0] == ["diff_pp_implied_benchmark_plausible"]
    result = _result(validation.results, "diff_pp_implied_benchmark_plausible")
    assert result.severity == WARNING and result.unexpected_count == 1
    assert "-14.9" in result.sample[0]["detail"]
    zone = validation.clean.filter(pl.col("evidence") == "规上工业增加值增长10.1%")
    assert zone.get_column("dq_flags").to_list()[0] == []


def test_month_range_start_after_end_is_quarantined(validation):
    rows = [r for r in validation.quarantined.iter_rows(named=True) if r["reason"] == "month_range_valid"]
    assert len(rows) == 1
    payload = json.loads(rows[0]["payload"])
    assert (payload["start_month"], payload["end_month"]) == (7, 3)


def test_other_error_and_warning_checks(validation):
    reasons = set(validation.quarantined.get_column("reason").to_list())
    assert {"money_level_positive", "indicator_in_vocabulary"} <= reasons
    no_year = validation.clean.filter(pl.col("period_label") == "????-H1")
    assert no_year.get_column("dq_flags").to_list() == [["year_resolved"]]
    by_name = {r.expectation: r for r in validation.results}
    assert by_name["year_resolved"].severity == WARNING
    assert by_name["unit_consistent"].success and by_name["diff_pp_range"].success
    assert sorted(validation.expectations_failed) == sorted(r.expectation for r in validation.results if not r.success)


def test_clean_rows_pass_untouched(observations, validation):
    expected = observations.filter(pl.col("evidence").is_in(
        [ROWS[k]["evidence"] for k in ("clean_gdp", "clean_level", "zone_yoy")]))
    got = validation.clean.filter(pl.col("evidence").is_in(expected.get_column("evidence").to_list()))
    assert got.drop("dq_flags").equals(expected)
    assert got.get_column("dq_flags").to_list() == [[], [], []]
    assert validation.clean.schema == pl.Schema({**OBSERVATION_SCHEMA, "dq_flags": pl.List(pl.String)})
    assert validation.clean.height + validation.quarantined.height == observations.height


def test_fingerprints_are_stable_and_batches_merge(observations, validation):
    gdp = _result(validation.results, "yoy_pct_range_gdp")
    assert gdp.fingerprint == fingerprint("observations", "yoy_pct_range_gdp", gdp.keys)
    # keys are natural keys, not row positions: the same rows in another order give the same keys
    again = suites.prepare_observations(observations.reverse(), load_vocabulary())
    assert set(gdp.keys) <= set(again.get_column("key").to_list())
    assert DOC_B in gdp.keys[0] and "900" in gdp.keys[0]
    merged = {r.expectation: r for r in merge_results(validation.results + validation.results)}
    assert merged["yoy_pct_range_gdp"].unexpected_count == 2
    assert merged["yoy_pct_range_gdp"].fingerprint == gdp.fingerprint          # same failing keys
    assert len(merged) == len(validation.results)


def test_unregistered_entity_is_an_error(validation):
    row = _quarantined(validation, "某不存在园区增长5%")
    assert row["reason"] == "entity_resolved"
    assert _result(validation.results, "entity_resolved").severity == ERROR


@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seed corpus not available")
def test_seed_corpus_has_no_error_failures_and_flags_the_25pp_claim():
    from transforms.extract import extract

    rows = []
    for path in sorted(SEEDS.glob("*.txt")):
        meta = path.with_suffix(".meta.json")
        published = json.loads(meta.read_text(encoding="utf-8")).get("published_at") if meta.exists() else None
        rows.append({"document_id": path.stem, "text": path.read_text(encoding="utf-8"),
                     "title_source": "first_line", "published_at": published})
    documents = pl.DataFrame(rows, schema={"document_id": pl.String, "text": pl.String, "title_source": pl.String,
                                           "published_at": pl.String}).with_columns(pl.col("published_at").str.to_date())
    extraction = extract(documents, load_vocabulary())
    out = suites.validate_observations(extraction.observations, load_vocabulary(), extraction.entities)
    assert out.quarantined.height == 0, out.quarantined.get_column("detail").to_list()
    assert not [r.expectation for r in out.results if r.severity == ERROR and not r.success]
    flagged = out.clean.filter(pl.col("dq_flags").list.contains("diff_pp_implied_benchmark_plausible"))
    assert any("25个百分点" in e for e in flagged.get_column("evidence").to_list())


def test_empty_batch_validates_clean():
    out = suites.validate_observations(pl.DataFrame(schema=OBSERVATION_SCHEMA), load_vocabulary())
    assert out.clean.height == 0 and out.quarantined.height == 0 and all(r.success for r in out.results)
    assert out.quarantined.schema == pl.Schema(suites.QUARANTINE_SCHEMA)


# --------------------------------------------------------------------------- documents suite


def test_documents_suite_flags_replacement_chars_empty_text_digit_loss_and_duplicates():
    documents = pl.DataFrame({
        "document_id": [DOC_A, DOC_B, DOC_C, DOC_D, "e" * 64],
        "path": ["ok.txt", "mojibake.txt", "blank.txt", "dup1.txt", "dup2.html"],
        "sha256": [DOC_A, DOC_B, DOC_C, DOC_D, "e" * 64],
        "text": ["重庆高新区GDP增长6.1%。", "重庆高新区\ufffd\ufffd增长", " \n\u3000 ", "相同的文本。", "相同的文本。"],
    })
    defects = pl.DataFrame({"document_id": [DOC_B] * 3, "kind": ["lost_digits"] * 3, "text": [".9亿元"] * 3,
                            "sentence": ["实现.9亿元"] * 3, "char_start": [1, 2, 3]},
                           schema_overrides={"char_start": pl.Int32})
    results = {r.expectation: r for r in suites.validate_documents(documents, defects)}
    assert all(r.severity == WARNING and r.suite == "documents" for r in results.values())
    assert [s["document"] for s in results["text_has_no_replacement_chars"].sample] == ["mojibake.txt"]
    assert "\ufffd" in results["text_has_no_replacement_chars"].sample[0]["evidence"]
    assert [s["document"] for s in results["text_not_empty"].sample] == ["blank.txt"]
    assert [s["document"] for s in results["lost_digit_rate_below_threshold"].sample] == ["mojibake.txt"]
    dup = results["text_not_duplicate"]
    assert dup.unexpected_count == 2 and {s["document"] for s in dup.sample} == {"dup1.txt", "dup2.html"}
    assert "dup2.html" in next(s for s in dup.sample if s["document"] == "dup1.txt")["detail"]


# --------------------------------------------------------------------------- warehouse suite


def _key(con, text: str) -> int:
    return con.execute("SELECT (md5_number(?) >> 65)::BIGINT", [text]).fetchone()[0]


def _build_warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    migrate(con)
    zone, city, ghost = _key(con, "重庆高新区"), _key(con, "重庆市"), _key(con, "幽灵园区")
    period = _key(con, "2024|1|11")
    ind = {c: _key(con, c) for c in ("gdp", "foreign_trade", "exports", "imports",
                                     "industrial_value_added_above_scale")}
    con.executemany("INSERT INTO dim_entity (entity_id, name, entity_type, parent, aliases, origin) "
                    "VALUES (?, ?, ?, NULL, [], 'vocabulary')",
                    [[zone, "重庆高新区", "zone"], [city, "重庆市", "city"]])
    con.execute("INSERT INTO dim_period VALUES (?, 2024, 1, 11, '2024-M01-M11')", [period])
    con.executemany("INSERT INTO dim_indicator VALUES (?, ?, NULL, NULL, 'money', NULL)",
                    [[v, k] for k, v in ind.items()])
    docs = [(DOC_A, "a.txt", "同一篇文章"), (DOC_B, "b.txt", "另一篇文章"), (DOC_C, "c.html", "同一篇文章")]
    con.executemany("""INSERT INTO documents (document_id, path, stem, sha256, size_bytes, encoding, format, raw_text,
                                         ingested_at, run_id)
                       VALUES (?, ?, ?, ?, 10, 'utf-8', 'text', ?, now()::TIMESTAMP, 'r0')""",
                    [[d, p, p.split('.')[0], d, t] for d, p, t in docs])

    def fact(oid, doc, entity, indicator, measure, value, unit, evidence, benchmark=None):
        con.execute("""INSERT INTO fact_observation (observation_id, document_id, entity_id, period_id, indicator_id,
                           segment, measure, value, unit, qualifier, benchmark_entity_id, evidence, char_start,
                           char_end, dq_flags, extractor_version, run_id)
                       VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, 'exact', ?, ?, 0, 1, [], '1.0.0', 'r0')""",
                    [oid, doc, entity, period, ind[indicator], measure, value, unit, benchmark, evidence])

    fact("o1", DOC_A, zone, "gdp", "level", 1.0e11, "CNY", "GDP达1000亿元" + XSS)
    fact("o2", DOC_B, zone, "gdp", "level", 1.1e11, "CNY", "GDP达1100亿元")
    fact("o3", DOC_A, zone, "foreign_trade", "level", 100e8, "CNY", "进出口总额100亿元")
    fact("o4", DOC_A, zone, "exports", "level", 60e8, "CNY", "出口60亿元")
    fact("o5", DOC_A, zone, "imports", "level", 30e8, "CNY", "进口30亿元")
    fact("o6", DOC_A, ghost, "gdp", "yoy_pct", 5.0, "percent", "幽灵园区增长5%")
    fact("o7", DOC_A, zone, "industrial_value_added_above_scale", "yoy_pct", 10.1, "percent", "增长10.1%")
    fact("o8", DOC_A, zone, "industrial_value_added_above_scale", "diff_pp", 2.0, "pp", "高于全市2个百分点", city)
    fact("o9", DOC_B, city, "industrial_value_added_above_scale", "yoy_pct", 5.0, "percent", "全市增长5%")
    con.close()


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "zonefacts.duckdb"
    _build_warehouse(path)
    return path


@pytest.fixture(scope="module")
def warehouse_results(warehouse_file):
    con = duckdb.connect(str(warehouse_file), read_only=True)
    try:
        return suites.validate_warehouse(con)
    finally:
        con.close()


def test_warehouse_conflict_across_documents_lists_both_evidences(warehouse_results):
    conflict = _result(warehouse_results, "observations_agree_across_documents")
    assert conflict.severity == WARNING and conflict.unexpected_count == 2
    assert {s["document"] for s in conflict.sample} == {"a", "b"}
    assert {s["evidence"] for s in conflict.sample} == {"GDP达1000亿元" + XSS, "GDP达1100亿元"}
    assert {s["document"]: s["detail"] for s in conflict.sample} == {
        "a": "other documents state a different value: b", "b": "other documents state a different value: a"}


def test_distinct_and_repeating_strings_are_checked_alike():
    """GX gets an id-like column (mostly distinct strings) as it is and a repeating one as a
    categorical: uniqueness, nulls and set membership fail on the same rows either way."""
    from expectations import engine
    from expectations.declarations import Check, Suite, in_set, not_null, unique

    checks = (Check("id_unique", ERROR, "", expect=(unique("id"),), detail="{id}"),
              Check("id_listed", WARNING, "", expect=(in_set("id", [f"id{i:03d}" for i in range(100)]),),
                    detail="{id}"),
              Check("kind_known", WARNING, "", expect=(not_null("kind"), in_set("kind", ["a", "b"])),
                    detail="{kind}"))
    suite = Suite("strings_alike", "test", checks, index=("row_id",), sample={"id": "id", "kind": "kind"})
    ids = [f"id{i:03d}" for i in range(200)]
    ids[150] = ids[3]                                    # one duplicate among distinct ids
    kinds = ["a", "b"] * 100
    kinds[10], kinds[20] = None, "z"                     # one null, one outside the set
    frame = pl.DataFrame({"row_id": range(200), "key": ids, "id": ids, "kind": kinds})
    checked = engine.validate(suite, frame)
    assert checked.failing["id_unique"] == {3, 150}
    assert checked.failing["kind_known"] == {10, 20}
    assert checked.failing["id_listed"] == set(range(100, 200)) - {150}    # row 150 holds id003
    assert _result(checked.results, "id_unique").unexpected_count == 2


def test_a_column_checked_only_for_uniqueness_and_presence_goes_to_gx_as_codes():
    """GX hashes every frame it is given: a string column only checked by unique / not_null
    goes over as integers, with the same failing rows, and the failing values Data Docs keep
    are the column's own strings; a column also checked against a set goes over as strings."""
    from expectations import engine
    from expectations.declarations import Check, Suite, in_set, not_null, unique

    checks = (Check("id_unique", ERROR, "", expect=(unique("id"), not_null("id")), detail="{id}"),
              Check("kind_known", WARNING, "", expect=(in_set("kind", ["a", "b"]),), detail="{kind}"))
    suite = Suite("recoded_ids", "test", checks, index=("row_id",), sample={"id": "id", "kind": "kind"})
    assert suite.equality_only() == {"id"}
    ids = [f"obs-{i:04d}" for i in range(300)]
    ids[200], ids[250], ids[40] = ids[7], ids[7], None      # one id three times, one missing
    frame = pl.DataFrame({"row_id": range(300), "key": [str(i) for i in range(300)], "id": ids,
                          "kind": ["a", "b", "z"] * 100})
    data = engine._to_gx_frame(frame, suite.columns(), suite.equality_only())
    assert str(data["id"].dtype) in {"int64", "float64"} and str(data["kind"].dtype) != "int64"
    checked = engine.validate(suite, frame)
    assert checked.failing["id_unique"] == {7, 200, 250, 40}
    assert checked.failing["kind_known"] == set(range(2, 300, 3))
    unique_result = next(r for r in _result(checked.results, "id_unique").gx_results
                         if r["expectation_config"]["type"] == "expect_column_values_to_be_unique")["result"]
    assert unique_result["partial_unexpected_list"] == ["obs-0007"] * 3
    assert unique_result["partial_unexpected_counts"] == [{"value": "obs-0007", "count": 3}]


def test_samples_of_the_candidate_rows_are_the_samples_of_all_failing_rows():
    """Details are read only for the failing rows a sample can show (sample_candidates) and those
    Data Docs show: samples drawn from them are those drawn from all the failing rows."""
    import random

    from expectations.declarations import Check, Suite, between, sample_candidates, samples

    def check(name: str, **how) -> Check:
        return Check(name, WARNING, "", expect=(between("v", 0, 0),), detail="{row_id}", **how)

    checks = (check("grouped", group="g", order=("g", "-v")), check("groups", group="g"),
              check("ordered", order=("-v",)), check("first"))
    suite = Suite("sampled_rows", "test", checks, index=("row_id",), sample={"v": "v", "g": "g"})
    rng = random.Random(7)
    for _ in range(300):
        ids = sorted(rng.sample(range(100), rng.randint(1, 40)))
        failing = pl.DataFrame({"row_id": ids, "v": [rng.randint(0, 3) for _ in ids],
                                "g": [rng.choice(["a", "b", "c", "d", None]) for _ in ids]})
        for declared in checks:
            shown = set(sample_candidates(declared, failing)["row_id"]) | set(rng.sample(ids, min(len(ids), 5)))
            assert samples(suite, declared, failing.filter(pl.col("row_id").is_in(sorted(shown)))) == \
                samples(suite, declared, failing), declared.name


def test_warehouse_trade_parts_mismatch_is_flagged(warehouse_results):
    trade = _result(warehouse_results, "trade_parts_sum_to_total")
    assert not trade.success and trade.unexpected_count == 1
    assert trade.sample[0]["evidence"] == "进出口总额100亿元"
    assert "出口60亿元" in trade.sample[0]["related_evidence"] and trade.sample[0]["gap"] == pytest.approx(0.1)


def test_warehouse_diff_pp_against_benchmark_growth(warehouse_results):
    diff = _result(warehouse_results, "diff_pp_matches_benchmark_growth")
    assert not diff.success and diff.sample[0]["gap"] == pytest.approx(3.1)
    assert "全市增长5%" in diff.sample[0]["related_evidence"]


def test_warehouse_facts_read_in_parts_give_the_same_results(warehouse_file, warehouse_results, monkeypatch):
    """Parts bound the suite's memory; facts that can conflict always share a part."""
    monkeypatch.setattr(warehouse_checks, "FACTS_PER_PART", 2)
    con = duckdb.connect(str(warehouse_file), read_only=True)
    try:
        in_parts = suites.validate_warehouse(con)
    finally:
        con.close()
    summary = [(r.expectation, r.success, r.unexpected_count, r.fingerprint) for r in warehouse_results]
    assert [(r.expectation, r.success, r.unexpected_count, r.fingerprint) for r in in_parts] == summary
    conflict = _result(in_parts, "observations_agree_across_documents")
    assert {s["document"] for s in conflict.sample} == {"a", "b"}


def test_warehouse_unresolved_foreign_key_is_an_error(warehouse_results):
    fk = _result(warehouse_results, "fk_entity_resolves")
    assert fk.severity == ERROR and not fk.success and fk.unexpected_count == 1
    assert fk.sample[0]["evidence"] == "幽灵园区增长5%" and fk.sample[0]["document"] == "a"
    for name in ("fk_document_resolves", "fk_period_resolves", "fk_indicator_resolves", "fk_benchmark_resolves",
                 "observation_id_unique", "gdp_parts_sum_to_total"):
        assert _result(warehouse_results, name).success, name


def test_warehouse_duplicate_document_text_is_flagged(warehouse_results):
    dup = _result(warehouse_results, "document_text_unique")
    assert dup.unexpected_count == 2 and {s["document"] for s in dup.sample} == {"a.txt", "c.html"}


def test_empty_warehouse_passes(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    migrate(con)
    results = suites.validate_warehouse(con)
    con.close()
    assert results and all(r.success and r.suite == "warehouse" for r in results)


def test_record_results_and_dq_failures_view(warehouse_file, warehouse_results, validation):
    from flows.alerts import AlertOutcome

    con = duckdb.connect(str(warehouse_file))
    try:
        failed = [r for r in warehouse_results if not r.success]
        outcome = AlertOutcome(sent=[{"channel": "webhook", "target": "http://h/…"}], errors=["smtp h:25: timed out"],
                               fingerprints={failed[0].fingerprint})
        counts = record_results(con, "run-1", validation.results + warehouse_results, "/docs/index.html", outcome)
        assert counts["failed_error"] == sum(1 for r in validation.results + warehouse_results
                                             if not r.success and r.severity == ERROR)
        failures = con.execute("SELECT suite, expectation, severity, sample FROM dq_failures").fetchall()
        assert ("observations", "yoy_pct_range_gdp", "error") in {f[:3] for f in failures}
        sample = json.loads(next(f[3] for f in failures if f[1] == "observations_agree_across_documents"))
        assert len(sample) == 2
        assert already_alerted(con) == {failed[0].fingerprint}
        run = con.execute("SELECT alerts_sent, alert_errors, data_docs_path FROM dq_runs").fetchone()
        assert json.loads(run[1]) == ["smtp h:25: timed out"] and run[2] == "/docs/index.html"
        record_results(con, "run-1", warehouse_results, None, None)   # re-recording replaces the run's rows
        assert con.execute("SELECT count(*) FROM dq_results WHERE suite = 'observations'").fetchone()[0] == 0
    finally:
        con.close()


# --------------------------------------------------------------------------- Data Docs


def test_data_docs_are_built_and_evidence_is_escaped(tmp_path, validation, warehouse_results):
    index = suites.build_data_docs({"observations": validation.results, "warehouse": warehouse_results},
                                   tmp_path / "zonefacts_data_docs", run_id="run-1")
    assert index.name == "index.html" and index.is_file()
    pages = list(index.parent.rglob("*.html"))
    assert any("validations" in p.parts for p in pages)
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert XSS not in text
    assert not re.search(r"<script[^>]*>\s*alert\(1\)", text)
    assert "yoy_pct_range_gdp" in text


def test_data_docs_compile_each_page_template_once_per_process(tmp_path, validation, monkeypatch):
    """The site's views (expectations/docs_views.py) share compiled templates: a second build of
    the same pages, in a new GX context with new views, compiles none of its page templates."""
    import jinja2

    from expectations.docs_views import COMPILED_TEMPLATES

    suites.build_data_docs({"observations": validation.results}, tmp_path / "first", run_id="run-1")
    assert COMPILED_TEMPLATES.compiled
    compiled: list[str | None] = []
    real_compile = jinja2.Environment.compile

    def counting(self, source, name=None, *args, **kwargs):
        compiled.append(name)
        return real_compile(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    index = suites.build_data_docs({"observations": validation.results}, tmp_path / "second", run_id="run-2")
    assert index.is_file() and list(index.parent.glob("validations/observations/**/*.html"))
    assert [name for name in compiled if name and name.endswith(".j2")] == []


# --------------------------------------------------------------------------- adding a check


def test_a_new_check_is_one_declaration(tmp_path, observations, validation):
    """A check declared here and nowhere else is validated by GX with the suite it joins, reports its
    failing row with its own detail, leaves the other checks as they were, and shows in Data Docs."""
    from dataclasses import replace

    from expectations import engine, observation_checks
    from expectations.declarations import Check, between

    check = Check("gdp_growth_below_50", WARNING, "a GDP growth rate is below 50%",
                  expect=(between("gdp_growth", None, 50, strict_max=True),),
                  derive={"gdp_growth": pl.when((pl.col("indicator") == "gdp") & (pl.col("measure") == "yoy_pct"))
                          .then(pl.col("value"))},
                  detail="{what} = {value}% is not below 50%")
    suite = replace(observation_checks.SUITE, name="observations_and_one_more",
                    checks=(*observation_checks.SUITE.checks, check))
    frame = suites.prepare_observations(observations, load_vocabulary())
    checked = engine.validate(suite, frame, observation_checks.observation_parameters(frame, load_vocabulary(),
                                                                                     REGISTERED))

    result = _result(checked.results, "gdp_growth_below_50")
    [gx] = result.gx_results
    assert gx["expectation_config"]["meta"] == {"name": "gdp_growth_below_50", "severity": "warning",
                                                "suite": "observations_and_one_more"}
    assert result.severity == WARNING and not result.success and result.unexpected_count == 1
    assert result.sample[0]["evidence"] == "GDP同比增长900%"
    assert result.sample[0]["detail"] == "重庆高新区 2024-H1 gdp yoy_pct = 900% is not below 50%"
    assert [(r.expectation, r.unexpected_count, r.fingerprint) for r in checked.results[:-1]] == [
        (r.expectation, r.unexpected_count, r.fingerprint) for r in validation.results]

    index = suites.build_data_docs({"observations": checked.results}, tmp_path / "docs", run_id="one-more")
    page = next(p for p in index.parent.rglob("*.html") if "observations_and_one_more" in p.parts)
    text = page.read_text(encoding="utf-8")
    assert "gdp_growth_below_50: a GDP growth rate is below 50% (this run: 1 of 11 rows fail)" in text
    assert "GDP同比增长900%" in text


@pytest.mark.slow
@pytest.mark.skipif(not SEEDS.is_dir(), reason="shared seed corpus not available (../shared/corpus/seeds)")
def test_seed_run_flags_the_seed_claims_and_quarantines_a_900_percent_gdp(tmp_path):
    """A real run on the seed corpus plus one written document (GDP同比增长900%)."""
    import shutil

    from flows.pipeline import run_pipeline
    from flows.settings import Settings

    inbox = tmp_path / "inbox"
    shutil.copytree(SEEDS, inbox)
    (inbox / "implausible.txt").write_text(
        "绵阳高新区上半年经济运行情况\n2024年7月20日\n上半年，绵阳高新区地区生产总值同比增长900%。\n",
        encoding="utf-8")
    warehouse = tmp_path / "zonefacts.duckdb"
    summary = run_pipeline(Settings(warehouse=warehouse, inbox=inbox))
    assert summary["status"] == "success"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        quarantined = con.execute("SELECT reason, detail FROM quarantine WHERE stage = 'validation'").fetchall()
        assert [r[0] for r in quarantined] == ["yoy_pct_range_gdp"] and "900" in quarantined[0][1]
        assert con.execute("SELECT count(*) FROM observations WHERE value = 900").fetchone() == (0,)
        failed = dict(con.execute("SELECT expectation, severity FROM dq_failures").fetchall())
        # the printed 高于全市25个百分点 (a city at −14.9%) and the lost digits of the 科学城 article
        assert failed["diff_pp_implied_benchmark_plausible"] == "warning"
        assert failed["lost_digit_rate_below_threshold"] == "warning"
        assert failed["yoy_pct_range_gdp"] == "error"
        assert [e for e, sev in failed.items() if sev == "error"] == ["yoy_pct_range_gdp"]
        defects = con.execute("SELECT d.stem, count(*) FROM source_defects s JOIN documents d USING (document_id) "
                              "GROUP BY ALL").fetchall()
        assert defects == [("003_b6be05cc6782ca3c", 9)]
