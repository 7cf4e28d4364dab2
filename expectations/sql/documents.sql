-- The warehouse documents suite's rows: one per loaded document, with the other documents of
-- exactly the same text and its extraction coverage (view extraction_coverage).
WITH docs AS (SELECT document_id, path, stem, sha256, md5(raw_text) AS text_md5, left(raw_text, 60) AS head
              FROM documents)
SELECT a.document_id AS key, a.document_id, a.path AS document, a.sha256, a.head,
       count(b.document_id)::BIGINT AS same_text_documents,
       string_agg(b.path, ', ' ORDER BY b.path) AS duplicate_of,
       c.cue_numbers, c.facts, c.share
FROM docs a
LEFT JOIN docs b ON b.text_md5 = a.text_md5 AND b.document_id <> a.document_id
LEFT JOIN extraction_coverage c ON c.document_id = a.document_id
GROUP BY ALL
ORDER BY a.document_id
