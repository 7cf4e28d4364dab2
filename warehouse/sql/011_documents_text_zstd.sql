-- documents.raw_text compressed with zstd. Every load writes the text of each new document, and
-- DuckDB's default choice for long strings (dictionary + FSST) costs the commit of a load more
-- than the rest of the documents table together, for a file larger than zstd makes it (on the
-- bench's 10,000 articles: the commit about 0.3 s → 0.17 s, the warehouse 49 → 38 MB). The text
-- is read back only to re-extract a document. DuckDB sets a column's compression only when the
-- table is made: the table is declared again as 001 and 008 left it and its rows copied over.
CREATE TABLE documents_011 (
    document_id VARCHAR PRIMARY KEY, path VARCHAR NOT NULL, stem VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
    size_bytes BIGINT NOT NULL, "encoding" VARCHAR NOT NULL, format VARCHAR NOT NULL,
    title VARCHAR, title_source VARCHAR, published_at DATE, date_source VARCHAR, source_url VARCHAR,
    raw_text VARCHAR NOT NULL USING COMPRESSION zstd,
    ingested_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL, fingerprint VARCHAR, inbox VARCHAR, lineage_id VARCHAR
);
INSERT INTO documents_011 SELECT * FROM documents;
DROP TABLE documents;
ALTER TABLE documents_011 RENAME TO documents;
