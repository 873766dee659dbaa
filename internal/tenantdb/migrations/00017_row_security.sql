-- Row-level security from data scopes: the functions Lethe's policies call,
-- once per statement each (as uncorrelated subqueries), to learn which
-- owners the session's user sees in an area; and the tables the policies
-- are kept on.
--
-- A session identifies its user with SET lethe.user_id = '...' (or
-- set_config('lethe.user_id', '...', true) per transaction behind a
-- transaction-pooling pooler). Without a user, or for an inactive one,
-- nothing is visible.
--
-- The functions are SECURITY DEFINER: the application's roles need no
-- privilege on the lethe schema.

-- +goose Up
CREATE TABLE lethe.row_security (
    table_name  text    PRIMARY KEY,  -- canonical schema.table
    definition  text    NOT NULL,     -- what the policies were built from
    was_enabled boolean NOT NULL      -- row security was on before Lethe's policies
);

-- The session's user: lethe.user_id, or NULL when it is unset or empty.
-- +goose StatementBegin
CREATE FUNCTION lethe.session_user_id() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT NULLIF(pg_catalog.current_setting('lethe.user_id', true), '')
$$;
-- +goose StatementEnd

-- The effective scopes of p_user for an area (p_permission empty: every
-- role with a scope in the area) or for one permission (roles holding it:
-- the permission's own scope, otherwise its area's).
-- +goose StatementBegin
CREATE FUNCTION lethe.effective_scopes(p_user text, p_area text, p_permission text)
RETURNS TABLE (scope text, groups text[])
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.scope, s.groups
    FROM lethe.role_members m
    JOIN lethe.role_scopes s ON s.role_key = m.role_key AND s.kind = 'area' AND s.name = p_area
    WHERE m.user_id = p_user AND p_permission = ''
    UNION ALL
    SELECT s.scope, s.groups
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
    WHERE m.user_id = p_user AND p_permission <> ''
$$;
-- +goose StatementEnd

-- Whether the session's user sees every row of an area (a Company scope).
-- +goose StatementBegin
CREATE FUNCTION lethe.sees_all(p_area text, p_permission text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.id IS NOT NULL AND lethe.user_active(u.id) AND EXISTS (
        SELECT 1 FROM lethe.effective_scopes(u.id, p_area, p_permission) s WHERE s.scope = 'Company')
    FROM (SELECT lethe.session_user_id() AS id) u
$$;
-- +goose StatementEnd

-- The user ids whose rows the session's user sees in an area: always their
-- own, and those of every scope of theirs; empty without an active user.
-- +goose StatementBegin
CREATE FUNCTION lethe.visible_owners(p_area text, p_permission text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN u.id IS NULL OR NOT lethe.user_active(u.id) THEN '{}'::text[]
        ELSE ARRAY(
            SELECT u.id
            UNION
            SELECT v.user_id
            FROM lethe.effective_scopes(u.id, p_area, p_permission) s
            CROSS JOIN LATERAL lethe.scope_users(u.id, s.scope, s.groups) AS v (user_id)
            WHERE v.user_id IS NOT NULL)
        END
    FROM (SELECT lethe.session_user_id() AS id) u
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lethe.visible_owners(text, text);
DROP FUNCTION lethe.sees_all(text, text);
DROP FUNCTION lethe.effective_scopes(text, text, text);
DROP FUNCTION lethe.session_user_id();
DROP TABLE lethe.row_security;
