-- The national gazetteer in dim_entity (loaded by warehouse/store.py, origin 'gazetteer'): every
-- province, prefecture and county-level division and the national-level zones, with the
-- administrative code where known, so that facts roll up by city and province through parent.

ALTER TABLE dim_entity ADD COLUMN admin_code VARCHAR;   -- 6-digit division code (330109 萧山区)

-- Each entity with the prefecture-level city and the province it lies in (itself when it is one).
-- A municipality (北京市, parent 中国) is its own city and province; a zone takes its host's.
CREATE OR REPLACE VIEW entity_hierarchy AS
WITH RECURSIVE chain(entity_id, ancestor, ancestor_type, ancestor_parent, depth) AS (
    SELECT entity_id, name, entity_type, parent, 0 FROM dim_entity
    UNION ALL
    SELECT c.entity_id, p.name, p.entity_type, p.parent, c.depth + 1
    FROM chain c
    JOIN dim_entity p ON p.name = c.ancestor_parent
    WHERE c.depth < 8 AND p.name <> c.ancestor
),
levels AS (
    SELECT entity_id,
           arg_min(ancestor, depth) FILTER (WHERE ancestor_type IN ('city', 'prefecture')) AS city,
           arg_min(ancestor, depth) FILTER (WHERE ancestor_type = 'province'
                                            OR (ancestor_type = 'city' AND ancestor_parent = '中国')) AS province
    FROM chain
    GROUP BY entity_id
)
SELECT e.name AS entity, e.entity_type, e.parent, e.admin_code, l.city, l.province, e.origin, e.entity_id
FROM dim_entity e
LEFT JOIN levels l USING (entity_id);
