-- Analyst views. `observations` is the contract of spec FACT_MODEL plus `document`.

CREATE OR REPLACE VIEW observations AS
SELECT
    d.stem              AS document,
    e.name              AS entity,
    e.entity_type       AS entity_type,
    p.year              AS year,
    p.start_month       AS start_month,
    p.end_month         AS end_month,
    i.code              AS indicator,
    f.segment           AS segment,
    f.measure           AS measure,
    f.value             AS value,
    f.unit              AS unit,
    f.qualifier         AS qualifier,
    b.name              AS benchmark,
    f.evidence          AS evidence
FROM fact_observation f
JOIN documents d      USING (document_id)
JOIN dim_entity e     ON e.entity_id = f.entity_id
JOIN dim_period p     ON p.period_id = f.period_id
JOIN dim_indicator i  ON i.indicator_id = f.indicator_id
LEFT JOIN dim_entity b ON b.entity_id = f.benchmark_entity_id;

CREATE OR REPLACE VIEW unmapped_summary AS
SELECT phrase, measure, count(*) AS mentions, count(DISTINCT document_id) AS documents,
       any_value(evidence) AS example
FROM unmapped_mentions
GROUP BY phrase, measure
ORDER BY mentions DESC;
