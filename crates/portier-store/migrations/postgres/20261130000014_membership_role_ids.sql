-- Each membership's role ids on its own row (issue 9), sorted, each once.
-- Twin of ../sqlite/20261130000014_membership_role_ids.sql.
--
-- membership_roles stays what every other query reads and checks (its keys
-- refuse a role that does not exist). role_ids is a copy for the export's
-- pages: looking each member's roles up in membership_roles cost the server
-- a third of a member's time. The statements that write membership_roles
-- write role_ids with them (members.rs: insert_memberships,
-- replace_membership_roles); a role that anyone holds cannot be deleted.
ALTER TABLE memberships ADD COLUMN role_ids UUID[] NOT NULL DEFAULT '{}';

UPDATE memberships m
   SET role_ids = ARRAY(SELECT mr.role_id FROM membership_roles mr
                         WHERE mr.membership_id = m.id ORDER BY mr.role_id)
 WHERE EXISTS (SELECT 1 FROM membership_roles mr WHERE mr.membership_id = m.id);
