-- What the samples and Data Docs show of a failing fact besides what the facts suite checks:
-- read for the failing facts shown only (registered as failing_facts: observation_id and the
-- conflict_key facts.sql gave a fact with conflicts), since evidence is most of a fact's bytes
-- and naming the documents of every conflicting value most of the conflicts' work.
-- conflicting_documents: the documents (the first five named) of each value of the fact's key
-- that facts.sql counts as conflicting with it, keys and conditions as there.
WITH keys AS (SELECT DISTINCT conflict_key FROM failing_facts WHERE conflict_key IS NOT NULL),
facts AS (  -- the facts of those keys: equal keys have equal entity, period and indicator ids
    SELECT f.observation_id, f.document_id, f.value,
           md5(concat_ws('|', f.entity_id, f.period_id, f.indicator_id, f.measure, coalesce(f.segment, ''),
                         coalesce(f.benchmark_entity_id::VARCHAR, ''), f.unit)) AS conflict_key
    FROM fact_observation f JOIN dim_period p ON p.period_id = f.period_id
    SEMI JOIN (SELECT DISTINCT g.entity_id, g.period_id, g.indicator_id
               FROM fact_observation g JOIN failing_facts w ON w.observation_id = g.observation_id
               WHERE w.conflict_key IS NOT NULL) k
        ON k.entity_id = f.entity_id AND k.period_id = f.period_id AND k.indicator_id = f.indicator_id
    WHERE p.year IS NOT NULL AND f.qualifier = 'exact'
),
stated AS (
    SELECT f.conflict_key, f.value, count(DISTINCT f.document_id) AS n_documents,
           min(f.document_id) AS first_document_id,
           array_to_string(list_slice(list_sort(list_distinct(list(coalesce(d.stem, f.document_id)))), 1, 5), ', ')
           || CASE WHEN count(DISTINCT f.document_id) > 5
                   THEN format(' and {} more', count(DISTINCT f.document_id) - 5) ELSE '' END AS documents
    FROM facts f SEMI JOIN keys k ON k.conflict_key = f.conflict_key
    LEFT JOIN documents d ON d.document_id = f.document_id
    GROUP BY f.conflict_key, f.value
),
conflicts AS (
    SELECT a.observation_id, string_agg(s.documents, ', ' ORDER BY s.documents) AS conflicting_documents
    FROM facts a SEMI JOIN failing_facts w ON w.observation_id = a.observation_id
    JOIN stated s ON s.conflict_key = a.conflict_key
     AND abs(s.value - a.value) > 1e-9 * greatest(abs(a.value), abs(s.value), 1e-9)
     AND NOT (s.n_documents = 1 AND s.first_document_id = a.document_id)
    GROUP BY a.observation_id
)
SELECT f.observation_id, f.document_id, f.segment, f.measure, f.value, f.unit, f.qualifier,
       f.benchmark_entity_id, b.name AS benchmark, f.evidence, f.entity_id, f.period_id, f.indicator_id,
       c.conflicting_documents
FROM fact_observation f
SEMI JOIN failing_facts w ON w.observation_id = f.observation_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id
LEFT JOIN conflicts c ON c.observation_id = f.observation_id
