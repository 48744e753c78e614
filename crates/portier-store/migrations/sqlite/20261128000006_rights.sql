-- Rights (issue 4): custom roles keyed once per environment, groups that carry
-- roles, resources with grants, professional registrations. Twin of
-- ../postgres/20261128000006_rights.sql.

-- A custom role's key is unique in its environment, so a key names one role
-- wherever it can be granted (no role of a child organization shadows its
-- parent's). NULL for the built-ins, whose keys the code reserves.
ALTER TABLE roles ADD COLUMN environment_id BLOB;
UPDATE roles SET environment_id = (SELECT o.environment_id FROM organizations o WHERE o.id = roles.organization_id)
WHERE organization_id IS NOT NULL;
CREATE UNIQUE INDEX roles_environment_key ON roles (environment_id, key) WHERE environment_id IS NOT NULL;

-- seeds 002, 004: groups (teams) of one organization's members; a group
-- carries roles, which its members hold in that organization.
CREATE TABLE groups (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    description     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE group_roles (
    group_id BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    role_id  BLOB NOT NULL REFERENCES roles (id),
    PRIMARY KEY (group_id, role_id)
);
CREATE INDEX group_roles_role ON group_roles (role_id);

CREATE TABLE group_members (
    group_id      BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    membership_id BLOB NOT NULL REFERENCES memberships (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, membership_id)
);
CREATE INDEX group_members_membership ON group_members (membership_id);

-- seed 004: named things of an organization (mailboxes, administrations, or
-- any type the product uses) that members or groups are granted a relation on.
CREATE TABLE resources (
    id              BLOB PRIMARY KEY NOT NULL,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    type            TEXT NOT NULL,
    key             TEXT NOT NULL,
    name            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (organization_id, type, key)
);

CREATE TABLE resource_grants (
    id            BLOB PRIMARY KEY NOT NULL,
    resource_id   BLOB NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    relation      TEXT NOT NULL,
    -- Exactly one of the two: a member, or a group.
    membership_id BLOB REFERENCES memberships (id) ON DELETE CASCADE,
    group_id      BLOB REFERENCES groups (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    CHECK ((membership_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX resource_grants_member ON resource_grants (resource_id, relation, membership_id) WHERE membership_id IS NOT NULL;
CREATE UNIQUE INDEX resource_grants_group ON resource_grants (resource_id, relation, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX resource_grants_membership ON resource_grants (membership_id);
CREATE INDEX resource_grants_group_id ON resource_grants (group_id);

-- seed 000: a person's number in a professional register (the Dutch BIG
-- register), as checked against the register. One per person. A number on
-- two accounts is not refused (that would let anyone who types a real
-- professional's number first lock them out, and tell whoever tries which
-- numbers are in use): the operator sees it and settles it.
CREATE TABLE registrations (
    account_id    BLOB PRIMARY KEY NOT NULL REFERENCES accounts (id),
    register      TEXT NOT NULL,
    number        TEXT NOT NULL,
    -- verified, not_found, expired, pending, unchecked
    state         TEXT NOT NULL,
    -- What the register answered: the name it knows for the number, the
    -- profession, the registration's dates.
    details       TEXT NOT NULL DEFAULT '{}',
    attempts      INTEGER NOT NULL DEFAULT 0,
    checked_at    TEXT,
    next_check_at TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (account_id)
);
CREATE INDEX registrations_number ON registrations (register, number);
CREATE INDEX registrations_due ON registrations (state, next_check_at);
