-- A search with many matches (twin: ../postgres/20261122000005_member_terms_initial.sql)
-- reads the terms that begin with its first character in the members' order,
-- and stops at the page: the matches of a common prefix are dense among them.
-- The term itself is in the index too, so a longer search filters there.
-- Before, it walked the whole list and probed each member's terms, passing
-- every member who did not match (1,400 for "a" at 100,000 members).
CREATE INDEX member_terms_initial
    ON member_terms (organization_id, substr(term, 1, 1), sort_key, account_id, membership_id, term);
