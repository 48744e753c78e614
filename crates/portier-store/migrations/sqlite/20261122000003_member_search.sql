-- Member lists and search that stay fast at 100,000 members (twin:
-- ../postgres/20261122000003_member_search.sql).
--
-- A membership carries its account's sort key ("berg, jan van der"), so the
-- first page of an organization is the first rows of one index. Search terms
-- (address, name in reading and in sorting order, family name with infix,
-- staff code; folded by portier_core::search) live in their own table: a
-- prefix is a range of its index.
ALTER TABLE memberships ADD COLUMN sort_key TEXT NOT NULL DEFAULT '';
DROP INDEX memberships_organization;
CREATE INDEX memberships_listing ON memberships (organization_id, sort_key, account_id, id);

CREATE TABLE member_terms (
    organization_id BLOB NOT NULL,
    term            TEXT NOT NULL,
    membership_id   BLOB NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    -- The member's, so a search with few matches sorts them from this table.
    sort_key        TEXT NOT NULL,
    account_id      BLOB NOT NULL,
    PRIMARY KEY (organization_id, term, membership_id)
) WITHOUT ROWID;
CREATE INDEX member_terms_membership ON member_terms (membership_id, term);

-- Work the binary does once after migrating, where SQL alone cannot: here,
-- computing every existing member's sort key and terms in Rust.
CREATE TABLE maintenance (
    task TEXT PRIMARY KEY NOT NULL
);
INSERT INTO maintenance (task) VALUES ('member_search');
