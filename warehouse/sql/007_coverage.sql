-- Extraction coverage: the economic figures a document's text states (numbers with cues, counted
-- by transforms/coverage.py when the document is extracted) against the facts the reader took.

CREATE TABLE document_coverage (
    document_id     VARCHAR PRIMARY KEY,
    cue_numbers     INTEGER NOT NULL,         -- numbers with an economic unit shortly after a cue word
    run_id          VARCHAR NOT NULL
);

-- One row per loaded document: where the reader is blind (share near 0 with many cue numbers).
-- cue_numbers is NULL for a document loaded before this migration (it was never counted); share
-- is NULL when cue_numbers is NULL or 0. share may exceed 1: one number can give several facts
-- (分别高于全国、全省1.3和0.6个百分点), and a fact without a unit (翻一番) is not counted.
CREATE OR REPLACE VIEW extraction_coverage AS
SELECT
    d.stem                                              AS document,
    c.cue_numbers                                       AS cue_numbers,
    count(f.observation_id)                             AS facts,
    count(f.observation_id) / nullif(c.cue_numbers, 0)  AS share,
    d.document_id                                       AS document_id
FROM documents d
LEFT JOIN document_coverage c USING (document_id)
LEFT JOIN fact_observation f USING (document_id)
GROUP BY d.document_id, d.stem, c.cue_numbers;
