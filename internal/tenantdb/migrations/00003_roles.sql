-- Roles synced from the Role objects of the cluster: each role's effective
-- permissions, licenses, effective scopes (per area and per scoped
-- permission) and members; the organization (users, teams, groups) mapped
-- from the tenant's own tables by two views the operator replaces when the
-- DataInventory's organization changes; and the functions an application
-- calls to evaluate permissions and data scopes.
--
-- The operator writes these tables diff-based: unchanged rows are left
-- untouched, and every change is recorded in lethe.audit_log in the same
-- transaction.

-- +goose Up
CREATE TABLE lethe.roles (
    role_key       text   PRIMARY KEY,  -- namespace/name of the Role
    role_uid       text   NOT NULL,
    catalog        text   NOT NULL,
    display_name   text   NOT NULL,
    default_role   text   NOT NULL DEFAULT '',
    default_scope  text   NOT NULL,
    default_groups text[] NOT NULL DEFAULT '{}',
    spec_hash      text   NOT NULL      -- what the operator last wrote
);

CREATE TABLE lethe.role_licenses (
    role_key text NOT NULL REFERENCES lethe.roles (role_key) ON DELETE CASCADE,
    license  text NOT NULL,
    PRIMARY KEY (role_key, license)
);
CREATE INDEX role_licenses_license ON lethe.role_licenses (license);

CREATE TABLE lethe.role_permissions (
    role_key   text NOT NULL REFERENCES lethe.roles (role_key) ON DELETE CASCADE,
    permission text NOT NULL,
    area       text NOT NULL,
    PRIMARY KEY (role_key, permission)
);
CREATE INDEX role_permissions_permission ON lethe.role_permissions (permission);

CREATE TABLE lethe.role_scopes (
    role_key text   NOT NULL REFERENCES lethe.roles (role_key) ON DELETE CASCADE,
    kind     text   NOT NULL CHECK (kind IN ('area', 'permission')),
    name     text   NOT NULL,
    scope    text   NOT NULL CHECK (scope IN ('Company', 'OwnGroup', 'OwnTeam', 'Self', 'SpecificGroups')),
    groups   text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (role_key, kind, name)
);

CREATE TABLE lethe.role_members (
    role_key text NOT NULL REFERENCES lethe.roles (role_key) ON DELETE CASCADE,
    user_id  text NOT NULL,
    PRIMARY KEY (role_key, user_id)
);
CREATE INDEX role_members_user_id ON lethe.role_members (user_id);

-- The definition the organization views were last built from.
CREATE TABLE lethe.organization (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    definition text    NOT NULL
);

-- Until a DataInventory declares an organization, no user has a team or a
-- group and every user is active.
CREATE VIEW lethe.org_users AS
    SELECT NULL::text AS user_id, NULL::text AS team, NULL::boolean AS active WHERE false;
CREATE VIEW lethe.org_groups AS
    SELECT NULL::text AS user_id, NULL::text AS group_name WHERE false;

-- A user is active unless the organization says otherwise.
-- +goose StatementBegin
CREATE FUNCTION lethe.user_active(p_user text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (SELECT 1 FROM lethe.org_users u WHERE u.user_id = p_user AND u.active IS FALSE)
$$;
-- +goose StatementEnd

-- Whether an active user holds a permission through any of their roles.
-- +goose StatementBegin
CREATE FUNCTION lethe.can(p_user text, p_permission text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT lethe.user_active(p_user) AND EXISTS (
        SELECT 1
        FROM lethe.role_members m
        JOIN lethe.role_permissions p ON p.role_key = m.role_key
        WHERE m.user_id = p_user AND p.permission = p_permission)
$$;
-- +goose StatementEnd

-- The users one scope lets p_user see (without p_user's own data, which
-- the callers add).
-- +goose StatementBegin
CREATE FUNCTION lethe.scope_users(p_user text, p_scope text, p_groups text[]) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.user_id FROM lethe.org_users u WHERE p_scope = 'Company'
    UNION
    SELECT m.user_id FROM lethe.role_members m WHERE p_scope = 'Company'
    UNION
    SELECT u.user_id
    FROM lethe.org_users me
    JOIN lethe.org_users u ON u.team = me.team
    WHERE p_scope = 'OwnTeam' AND me.user_id = p_user
    UNION
    SELECT g.user_id
    FROM lethe.org_groups mine
    JOIN lethe.org_groups g ON g.group_name = mine.group_name
    WHERE p_scope = 'OwnGroup' AND mine.user_id = p_user
    UNION
    SELECT g.user_id FROM lethe.org_groups g WHERE p_scope = 'SpecificGroups' AND g.group_name = ANY (p_groups)
$$;
-- +goose StatementEnd

-- The users whose data p_user sees in a product area: the union over p_user's
-- roles that hold a permission in the area, and always p_user.
-- +goose StatementBegin
CREATE FUNCTION lethe.visible_users(p_user text, p_area text) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_user
    UNION
    SELECT v.user_id
    FROM lethe.role_members m
    JOIN lethe.role_scopes s ON s.role_key = m.role_key AND s.kind = 'area' AND s.name = p_area
    CROSS JOIN LATERAL lethe.scope_users(p_user, s.scope, s.groups) AS v (user_id)
    WHERE m.user_id = p_user AND lethe.user_active(p_user)
$$;
-- +goose StatementEnd

-- The users whose data p_user sees through one permission: a scoped
-- permission's own scope, otherwise its area's; and always p_user.
-- +goose StatementBegin
CREATE FUNCTION lethe.visible_users_for_permission(p_user text, p_permission text) RETURNS SETOF text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p_user
    UNION
    SELECT v.user_id
    FROM lethe.role_members m
    JOIN lethe.role_permissions p ON p.role_key = m.role_key AND p.permission = p_permission
    JOIN LATERAL (
        SELECT s.scope, s.groups
        FROM lethe.role_scopes s
        WHERE s.role_key = m.role_key
          AND ((s.kind = 'permission' AND s.name = p_permission) OR (s.kind = 'area' AND s.name = p.area))
        ORDER BY s.kind DESC  -- 'permission' before 'area'
        LIMIT 1
    ) s ON true
    CROSS JOIN LATERAL lethe.scope_users(p_user, s.scope, s.groups) AS v (user_id)
    WHERE m.user_id = p_user AND lethe.user_active(p_user)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lethe.visible_users_for_permission(text, text);
DROP FUNCTION lethe.visible_users(text, text);
DROP FUNCTION lethe.scope_users(text, text, text[]);
DROP FUNCTION lethe.can(text, text);
DROP FUNCTION lethe.user_active(text);
DROP VIEW lethe.org_groups;
DROP VIEW lethe.org_users;
DROP TABLE lethe.organization;
DROP TABLE lethe.role_members;
DROP TABLE lethe.role_scopes;
DROP TABLE lethe.role_permissions;
DROP TABLE lethe.role_licenses;
DROP TABLE lethe.roles;
