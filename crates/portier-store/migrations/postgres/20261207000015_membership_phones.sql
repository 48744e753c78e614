-- Phone and mobile belong to a membership, like the job title: the numbers
-- an organization reaches the person by, never shown to another environment
-- (docs/RULES.md#shared-accounts). The account keeps only the numbers the
-- person gives themselves under My account (which then reach every
-- membership). Existing memberships start with the account's numbers, which
-- every organization of the person saw until now; the account's are then
-- cleared, as nothing tells whether the person or an administrator typed
-- them. Twin of
-- ../sqlite/20261207000015_membership_phones.sql.
ALTER TABLE memberships ADD COLUMN phone TEXT;
ALTER TABLE memberships ADD COLUMN mobile TEXT;

UPDATE memberships
   SET phone = (SELECT a.phone FROM accounts a WHERE a.id = memberships.account_id),
       mobile = (SELECT a.mobile FROM accounts a WHERE a.id = memberships.account_id)
 WHERE EXISTS (SELECT 1 FROM accounts a WHERE a.id = memberships.account_id
                 AND (a.phone IS NOT NULL OR a.mobile IS NOT NULL));

UPDATE accounts SET phone = NULL, mobile = NULL
 WHERE phone IS NOT NULL OR mobile IS NOT NULL;
