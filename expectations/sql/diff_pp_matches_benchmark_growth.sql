-- A stated gap to a benchmark (diff_pp, 高于全市 X 个百分点) against the two growth rates it
-- compares: the entity's own yoy_pct and its benchmark's, same indicator, segment and period.
-- One row per diff_pp whose two rates are both in the warehouse. The candidates for a rate are
-- the rows of the diff's own document and one row per distinct value elsewhere (linear in the
-- facts); the most favourable pair is kept (same document first, then the smallest gap).
WITH obs AS (
    SELECT f.observation_id, f.document_id, coalesce(d.stem, f.document_id) AS document, f.entity_id,
           f.period_id, i.code AS indicator, f.segment, f.measure, f.value, f.evidence, f.benchmark_entity_id
    FROM fact_observation f
    JOIN dim_indicator i ON i.indicator_id = f.indicator_id
    LEFT JOIN documents d ON d.document_id = f.document_id
    WHERE f.measure = 'yoy_pct' OR (f.measure = 'diff_pp' AND f.benchmark_entity_id IS NOT NULL)
),
yoy AS (SELECT * FROM obs WHERE measure = 'yoy_pct'),
yoy_values AS (
    SELECT entity_id, period_id, indicator, segment, value, min(document) AS document,
           arg_min(evidence, document) AS evidence
    FROM yoy GROUP BY entity_id, period_id, indicator, segment, value
),
diffs AS (SELECT * FROM obs WHERE measure = 'diff_pp'),
sides AS (  -- each diff_pp needs two growth rates: its own entity's ('zone') and its benchmark's
    SELECT observation_id AS diff_id, 'zone' AS side, entity_id AS subject_id, document_id, period_id,
           indicator, segment
    FROM diffs
    UNION ALL
    SELECT observation_id, 'benchmark', benchmark_entity_id, document_id, period_id, indicator, segment
    FROM diffs
),
growth AS (
    SELECT s.diff_id, s.side, y.value, y.document, y.evidence, true AS same_document
    FROM sides s JOIN yoy y ON y.document_id = s.document_id AND y.entity_id = s.subject_id
        AND y.period_id = s.period_id AND y.indicator = s.indicator AND y.segment IS NOT DISTINCT FROM s.segment
    UNION ALL
    SELECT s.diff_id, s.side, y.value, y.document, y.evidence, false
    FROM sides s JOIN yoy_values y ON y.entity_id = s.subject_id
        AND y.period_id = s.period_id AND y.indicator = s.indicator AND y.segment IS NOT DISTINCT FROM s.segment
)
SELECT 'diff_pp:' || dp.observation_id AS key, dp.observation_id, dp.document, dp.evidence, dp.value,
       z.value AS zone_yoy, c.value AS benchmark_yoy, round(z.value - c.value, 4) AS difference,
       abs((z.value - c.value) - dp.value) AS gap,
       z.document || ' | ' || c.document AS related_documents,
       z.evidence || ' | ' || c.evidence AS related_evidence
FROM diffs dp
JOIN growth z ON z.diff_id = dp.observation_id AND z.side = 'zone'
JOIN growth c ON c.diff_id = dp.observation_id AND c.side = 'benchmark'
QUALIFY row_number() OVER (PARTITION BY dp.observation_id
                           ORDER BY (z.same_document AND c.same_document) DESC, gap, related_evidence,
                                    related_documents) = 1
ORDER BY dp.observation_id
