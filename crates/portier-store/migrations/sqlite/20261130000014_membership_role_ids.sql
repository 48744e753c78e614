-- Each membership's role ids on its own row (issue 9), sorted, each once:
-- their 16 bytes end to end (SQLite has no arrays). Twin of
-- ../postgres/20261130000014_membership_role_ids.sql, which says why.
ALTER TABLE memberships ADD COLUMN role_ids BLOB NOT NULL DEFAULT x'';

UPDATE memberships
   SET role_ids = unhex((SELECT group_concat(h, '') FROM (
                          SELECT hex(mr.role_id) AS h FROM membership_roles mr
                           WHERE mr.membership_id = memberships.id ORDER BY mr.role_id)))
 WHERE EXISTS (SELECT 1 FROM membership_roles mr WHERE mr.membership_id = memberships.id);
