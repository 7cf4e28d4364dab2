-- A total against the sum of its parts (transforms/vocab/indicators.csv, column part_of), as levels
-- without a segment of the same entity, period and unit: one row per fact of indicator $total
-- for which every one of $parts (a list, in the order they are added) is stated.
-- The candidates for a part are the rows of the total's own document and one row per distinct
-- value elsewhere: a figure restated by a thousand articles is one candidate, not a thousand, so
-- the work stays linear in the facts. Of the combinations (one candidate per part), the most
-- favourable is kept: same document first, then the smallest gap, then the first by evidence.
-- Combinations carry only their sum and candidate numbers; text is built for the best ones.
WITH RECURSIVE
levels AS (
    SELECT f.observation_id, f.document_id, coalesce(d.stem, f.document_id) AS document, f.entity_id,
           f.period_id, i.code AS indicator, f.value, f.unit, f.evidence
    FROM fact_observation f
    JOIN dim_indicator i ON i.indicator_id = f.indicator_id
    LEFT JOIN documents d ON d.document_id = f.document_id
    WHERE f.measure = 'level' AND f.segment IS NULL AND (i.code = $total OR list_contains($parts, i.code))
),
wanted AS (SELECT unnest($parts) AS part, generate_subscripts($parts, 1) AS n),
totals AS (SELECT * FROM levels WHERE indicator = $total),
part_values AS (
    SELECT entity_id, period_id, unit, indicator, value, min(document) AS document,
           arg_min(evidence, document) AS evidence
    FROM levels WHERE indicator <> $total GROUP BY entity_id, period_id, unit, indicator, value
),
candidates AS (
    SELECT row_number() OVER () AS candidate, *
    FROM (
        SELECT t.observation_id AS total_id, w.n, p.indicator, p.value, p.document, p.evidence, true AS same_document
        FROM totals t CROSS JOIN wanted w
        JOIN levels p ON p.document_id = t.document_id AND p.indicator = w.part AND p.entity_id = t.entity_id
                     AND p.period_id = t.period_id AND p.unit = t.unit
        UNION ALL
        SELECT t.observation_id, w.n, p.indicator, p.value, p.document, p.evidence, false
        FROM totals t CROSS JOIN wanted w
        JOIN part_values p ON p.indicator = w.part AND p.entity_id = t.entity_id AND p.period_id = t.period_id
                          AND p.unit = t.unit
    )
),
combinations AS (  -- parts 1..n of a total, one candidate each: their sum, and which they are
    SELECT total_id, n, value AS parts_sum, same_document, [candidate] AS chosen
    FROM candidates WHERE n = 1
    UNION ALL
    SELECT c.total_id, p.n, c.parts_sum + p.value, c.same_document AND p.same_document,
           list_append(c.chosen, p.candidate)
    FROM combinations c JOIN candidates p ON p.total_id = c.total_id AND p.n = c.n + 1
),
best AS (  -- the most favourable combinations of a total: same document first, then the smallest gap
    SELECT t.*, c.parts_sum, c.chosen, abs(c.parts_sum - t.value) / abs(t.value) AS gap
    FROM totals t JOIN combinations c ON c.total_id = t.observation_id AND c.n = len($parts)
    WHERE t.value <> 0
    QUALIFY rank() OVER (PARTITION BY t.observation_id ORDER BY c.same_document DESC, gap) = 1
),
described AS (
    SELECT b.observation_id, b.chosen,
           string_agg(printf('%s %.15g', p.indicator, p.value), ' + ' ORDER BY p.n) AS parts,
           string_agg(p.document, ' | ' ORDER BY p.n) AS related_documents,
           string_agg(p.evidence, ' | ' ORDER BY p.n) AS related_evidence
    FROM best b, unnest(b.chosen) AS u(candidate)
    JOIN candidates p ON p.candidate = u.candidate
    GROUP BY b.observation_id, b.chosen
)
SELECT b.indicator || ':' || b.observation_id AS key, b.observation_id, b.document, b.evidence,
       b.indicator AS total_indicator, b.value AS total, b.unit, b.parts_sum, d.parts, b.gap,
       d.related_documents, d.related_evidence
FROM best b JOIN described d ON d.observation_id = b.observation_id AND d.chosen = b.chosen
QUALIFY row_number() OVER (PARTITION BY b.observation_id ORDER BY d.related_evidence, d.related_documents) = 1
ORDER BY b.observation_id
