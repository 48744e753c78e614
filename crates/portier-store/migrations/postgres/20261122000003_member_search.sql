-- Member lists and search that stay fast at 100,000 members (twin:
-- ../sqlite/20261122000003_member_search.sql).
--
-- A membership carries its account's sort key ("berg, jan van der"), so the
-- first page of an organization is the first rows of one index. Search terms
-- (address, name in reading and in sorting order, family name with infix,
-- staff code; folded by portier_core::search) live in their own table: a
-- prefix is a range of its index. Both compare bytes ("C"), as SQLite does, so
-- prefixes are contiguous and both backends sort alike whatever the locale.
ALTER TABLE memberships ADD COLUMN sort_key TEXT COLLATE "C" NOT NULL DEFAULT '';
DROP INDEX memberships_organization;
CREATE INDEX memberships_listing ON memberships (organization_id, sort_key, account_id) INCLUDE (id);

CREATE TABLE member_terms (
    organization_id UUID NOT NULL,
    term            TEXT COLLATE "C" NOT NULL,
    membership_id   UUID NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    -- The member's, so a search with few matches sorts them from this table.
    sort_key        TEXT COLLATE "C" NOT NULL,
    account_id      UUID NOT NULL,
    PRIMARY KEY (organization_id, term, membership_id) INCLUDE (sort_key, account_id)
);
CREATE INDEX member_terms_membership ON member_terms (membership_id, term);

-- Work the binary does once after migrating, where SQL alone cannot: here,
-- computing every existing member's sort key and terms in Rust.
CREATE TABLE maintenance (
    task TEXT PRIMARY KEY NOT NULL
);
INSERT INTO maintenance (task) VALUES ('member_search');
