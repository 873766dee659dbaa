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

-- The effective scopes of the session's user for an area (p_permission
-- empty: every role of theirs with a scope in the area) or for one
-- permission (roles holding it: the permission's own scope, otherwise its
-- area's). PL/pgSQL, called once per statement: its plans are cached for
-- the session, where a SQL function's would be made again at every call.
-- +goose StatementBegin
CREATE FUNCTION lethe.session_scopes(p_area text, p_permission text)
RETURNS TABLE (scope text, groups text[])
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u text := lethe.session_user_id();
BEGIN
    IF u IS NULL OR EXISTS (SELECT 1 FROM lethe.org_users o WHERE o.user_id = u AND o.active IS FALSE) THEN
        RETURN;
    END IF;
    IF p_permission = '' THEN
        RETURN QUERY
            SELECT s.scope, s.groups
            FROM lethe.role_members m
            JOIN lethe.role_scopes s ON s.role_key = m.role_key AND s.kind = 'area' AND s.name = p_area
            WHERE m.user_id = u;
    ELSE
        RETURN QUERY
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
            WHERE m.user_id = u;
    END IF;
END
$$;
-- +goose StatementEnd

-- Whether the session's active user sees every row of an area (a Company
-- scope).
-- +goose StatementBegin
CREATE FUNCTION lethe.sees_all(p_area text, p_permission text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM lethe.session_scopes(p_area, p_permission) s WHERE s.scope = 'Company');
END
$$;
-- +goose StatementEnd

-- The user ids whose rows the session's user sees in an area: always their
-- own, and those of every scope of theirs; empty without an active user.
-- +goose StatementBegin
CREATE FUNCTION lethe.visible_owners(p_area text, p_permission text) RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u text := lethe.session_user_id();
    v_company boolean;
    v_team boolean;
    v_own_group boolean;
    v_groups text[];
BEGIN
    IF u IS NULL OR EXISTS (SELECT 1 FROM lethe.org_users o WHERE o.user_id = u AND o.active IS FALSE) THEN
        RETURN '{}';
    END IF;
    SELECT bool_or(s.scope = 'Company'), bool_or(s.scope = 'OwnTeam'), bool_or(s.scope = 'OwnGroup'),
           array_agg(g) FILTER (WHERE s.scope = 'SpecificGroups' AND g IS NOT NULL)
    INTO v_company, v_team, v_own_group, v_groups
    FROM lethe.session_scopes(p_area, p_permission) s
    LEFT JOIN LATERAL unnest(s.groups) AS g ON true;
    RETURN ARRAY(
        SELECT u
        UNION
        SELECT o.user_id FROM lethe.org_users o WHERE v_company
        UNION
        SELECT m.user_id FROM lethe.role_members m WHERE v_company
        UNION
        SELECT o.user_id FROM lethe.org_users me JOIN lethe.org_users o ON o.team = me.team
        WHERE v_team AND me.user_id = u
        UNION
        SELECT g.user_id FROM lethe.org_groups mine JOIN lethe.org_groups g ON g.group_name = mine.group_name
        WHERE v_own_group AND mine.user_id = u
        UNION
        SELECT g.user_id FROM lethe.org_groups g WHERE g.group_name = ANY (v_groups));
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lethe.visible_owners(text, text);
DROP FUNCTION lethe.sees_all(text, text);
DROP FUNCTION lethe.session_scopes(text, text);
DROP FUNCTION lethe.session_user_id();
DROP TABLE lethe.row_security;
