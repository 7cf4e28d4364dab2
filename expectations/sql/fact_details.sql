-- What the samples and Data Docs show of a failing fact besides what the facts suite checks:
-- read for the failing facts only (registered as failing_facts), since evidence is most of a
-- fact's bytes.
SELECT f.observation_id, f.document_id, f.segment, f.measure, f.value, f.unit, f.qualifier,
       f.benchmark_entity_id, b.name AS benchmark, f.evidence, f.entity_id, f.period_id, f.indicator_id
FROM fact_observation f
SEMI JOIN failing_facts w ON w.observation_id = f.observation_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id
