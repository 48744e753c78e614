-- The console's reads at 100,000 members (issue 5): the audit log newest
-- first per organization, by action, by the person who acted and about a
-- person; deactivated members in order; members by label. Twin of
-- ../sqlite/20261129000007_console_reads.sql.

CREATE INDEX audit_events_organization_id ON audit_events (organization_id, id);
CREATE INDEX audit_events_action ON audit_events (organization_id, action, id);
CREATE INDEX audit_events_actor ON audit_events (actor_account_id, id);
DROP INDEX audit_events_target;
CREATE INDEX audit_events_target ON audit_events (target_id, id);

-- Few are deactivated: their own index keeps them in the list's order.
CREATE INDEX memberships_inactive ON memberships (organization_id, sort_key, account_id)
    WHERE active = FALSE;

-- seed 002: labels, one row each, so a label finds its members by index.
-- `memberships.labels` stays the members' own list, in their order.
CREATE TABLE membership_labels (
    membership_id   UUID NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    organization_id UUID NOT NULL,
    label           TEXT NOT NULL,
    PRIMARY KEY (membership_id, label)
);
CREATE INDEX membership_labels_label ON membership_labels (organization_id, label, membership_id);
INSERT INTO membership_labels (membership_id, organization_id, label)
SELECT DISTINCT m.id, m.organization_id, l.value
FROM memberships m CROSS JOIN LATERAL jsonb_array_elements_text(m.labels) AS l (value);
