-- Analyst views. `observations` is the contract of spec FACT_MODEL plus `document`.

-- `observations` itself is defined over the fact history, in 009_history_views.sql.

CREATE OR REPLACE VIEW unmapped_summary AS
SELECT phrase, measure, count(*) AS mentions, count(DISTINCT document_id) AS documents,
       any_value(evidence) AS example
FROM unmapped_mentions
GROUP BY phrase, measure
ORDER BY mentions DESC;
