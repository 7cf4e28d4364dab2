-- The facts suite's rows (expectations/warehouse_checks.py): every fact of one part of
-- fact_observation ({in_part}) with its keys resolved, and how many values other documents state
-- for its statement key (entity, period, indicator, measure, segment, benchmark, unit).
-- Conflicts are found per statement key and value, not by joining facts with facts: a figure
-- restated by a thousand articles is one row of `stated`, so the work stays linear in the facts.
-- Which documents state them is read for the facts shown only (fact_details.sql).
WITH facts AS (
    SELECT f.observation_id, f.document_id, f.value,
           md5(concat_ws('|', f.entity_id, f.period_id, f.indicator_id, f.measure, coalesce(f.segment, ''),
                         coalesce(f.benchmark_entity_id::VARCHAR, ''), f.unit)) AS conflict_key
    FROM fact_observation f JOIN dim_period p ON p.period_id = f.period_id
    WHERE p.year IS NOT NULL AND f.qualifier = 'exact' AND {in_part}
),
contested AS (SELECT conflict_key FROM facts GROUP BY conflict_key HAVING count(DISTINCT value) > 1),
stated AS (  -- one row per contested key and value
    SELECT f.conflict_key, f.value, count(DISTINCT f.document_id) AS n_documents,
           min(f.document_id) AS first_document_id
    FROM facts f SEMI JOIN contested c ON c.conflict_key = f.conflict_key
    GROUP BY f.conflict_key, f.value
),
conflicts AS (  -- per fact: the other values of its key that another document states
    SELECT a.observation_id, a.conflict_key, count(*) AS conflicting_values
    FROM facts a
    JOIN stated s ON s.conflict_key = a.conflict_key
     AND abs(s.value - a.value) > 1e-9 * greatest(abs(a.value), abs(s.value), 1e-9)
     AND NOT (s.n_documents = 1 AND s.first_document_id = a.document_id)
    GROUP BY a.observation_id, a.conflict_key
)
SELECT f.observation_id AS key, f.observation_id, d.stem AS document, e.name AS entity,
       p.label AS period, i.code AS indicator,
       CASE WHEN f.benchmark_entity_id IS NULL THEN '' ELSE b.name END AS benchmark_if_set,
       coalesce(c.conflicting_values, 0)::BIGINT AS conflicting_values, c.conflict_key
FROM fact_observation f
LEFT JOIN documents d ON d.document_id = f.document_id
LEFT JOIN dim_entity e ON e.entity_id = f.entity_id
LEFT JOIN dim_period p ON p.period_id = f.period_id
LEFT JOIN dim_indicator i ON i.indicator_id = f.indicator_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id
LEFT JOIN conflicts c ON c.observation_id = f.observation_id
WHERE {in_part}
ORDER BY f.observation_id
