-- The documents the last run re-extracted (view reextraction_impact), with the share of the facts
-- they had before that the re-extraction retracted: a rule or vocabulary change that broke reading.
SELECT document, document AS evidence, fingerprint, facts_before, added, changed, retracted, retracted_share
FROM reextraction_impact
WHERE run_id = (SELECT run_id FROM history_runs ORDER BY recorded_at DESC, run_id DESC LIMIT 1)
