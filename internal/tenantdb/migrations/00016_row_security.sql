-- Row-level security from data scopes: the functions Lethe's policies call,
-- once per statement each (as uncorrelated subqueries), to learn which
-- owners the session's user sees in an area; and the tables the policies
-- are kept on.
--
-- A session identifies its user with SET lethe.user_id = '...' (or
-- set_config('lethe.user_id', '...', true) per transaction behind a
-- transaction-pooling pooler). Without a user, or for an inactive one,
-- nothing is visible.

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
    SELECT CASE WHEN pg_catalog.current_setting('lethe.user_id', true) OPERATOR(pg_catalog.<>) ''
        THEN pg_catalog.current_setting('lethe.user_id', true) END
$$;
-- +goose StatementEnd

-- The owners whose rows the session's user sees in an area (p_permission
-- empty: through every role of theirs with a scope in the area) or through
-- one permission (roles holding it: the permission's own scope, otherwise
-- its area's): NULL when a scope is Company (every row); otherwise the
-- user's own id and those of their scopes' teams and groups; empty without
-- an active user. The policies call it once per statement. PL/pgSQL keeps
-- its plans for the session, where a SQL function's would be made again at
-- every call, and force_generic_plan keeps it from planning its queries
-- anew for each user, which would cost more than running them; SECURITY
-- DEFINER, so the application's roles need no privilege on the lethe
-- schema.
-- +goose StatementBegin
CREATE FUNCTION lethe.visible_owners(p_area text, p_permission text) RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    u text := lethe.session_user_id();
    v_scopes text[];
    v_groups text[];
BEGIN
    IF u IS NULL OR EXISTS (SELECT 1 FROM lethe.org_users o WHERE o.user_id = u AND o.active IS FALSE) THEN
        RETURN '{}';
    END IF;
    IF p_permission = '' THEN
        SELECT array_agg(s.scope), array_agg(DISTINCT g.name) FILTER (WHERE g.name IS NOT NULL)
        INTO v_scopes, v_groups
        FROM lethe.role_members m
        JOIN lethe.role_scopes s ON s.role_key = m.role_key AND s.kind = 'area' AND s.name = p_area
        LEFT JOIN LATERAL unnest(CASE WHEN s.scope = 'SpecificGroups' THEN s.groups END) AS g (name) ON true
        WHERE m.user_id = u;
    ELSE
        SELECT array_agg(s.scope), array_agg(DISTINCT g.name) FILTER (WHERE g.name IS NOT NULL)
        INTO v_scopes, v_groups
        FROM lethe.role_members m
        JOIN lethe.role_permissions p ON p.role_key = m.role_key AND p.permission = p_permission
        JOIN LATERAL (
            SELECT a.scope, a.groups
            FROM lethe.role_scopes a
            WHERE a.role_key = m.role_key
              AND ((a.kind = 'permission' AND a.name = p_permission) OR (a.kind = 'area' AND a.name = p.area))
            ORDER BY a.kind DESC  -- 'permission' before 'area'
            LIMIT 1
        ) s ON true
        LEFT JOIN LATERAL unnest(CASE WHEN s.scope = 'SpecificGroups' THEN s.groups END) AS g (name) ON true
        WHERE m.user_id = u;
    END IF;
    IF 'Company' = ANY (v_scopes) THEN
        RETURN NULL;
    END IF;
    IF NOT ('OwnTeam' = ANY (v_scopes) OR 'OwnGroup' = ANY (v_scopes) OR v_groups IS NOT NULL) THEN
        RETURN ARRAY[u];
    END IF;
    RETURN ARRAY(
        SELECT u
        UNION
        SELECT o.user_id FROM lethe.org_users me JOIN lethe.org_users o ON o.team = me.team
        WHERE 'OwnTeam' = ANY (v_scopes) AND me.user_id = u
        UNION
        SELECT g.user_id FROM lethe.org_groups mine JOIN lethe.org_groups g ON g.group_name = mine.group_name
        WHERE 'OwnGroup' = ANY (v_scopes) AND mine.user_id = u
        UNION
        SELECT g.user_id FROM lethe.org_groups g WHERE g.group_name = ANY (v_groups));
END
$$;
-- +goose StatementEnd

-- Whether the session's active user sees every row of an area (a Company
-- scope): what visible_owners returns NULL for, without computing the
-- owners. The policies ask it first.
-- +goose StatementBegin
CREATE FUNCTION lethe.sees_all(p_area text, p_permission text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    u text := lethe.session_user_id();
BEGIN
    IF u IS NULL THEN
        RETURN false;
    END IF;
    RETURN NOT EXISTS (SELECT 1 FROM lethe.org_users o WHERE o.user_id = u AND o.active IS FALSE)
       AND EXISTS (
        SELECT 1
        FROM lethe.role_members m
        JOIN LATERAL (
            SELECT a.scope
            FROM lethe.role_scopes a
            WHERE p_permission = '' AND a.role_key = m.role_key AND a.kind = 'area' AND a.name = p_area
            UNION ALL
            (SELECT a.scope
             FROM lethe.role_permissions p
             JOIN lethe.role_scopes a ON a.role_key = p.role_key
              AND ((a.kind = 'permission' AND a.name = p_permission) OR (a.kind = 'area' AND a.name = p.area))
             WHERE p_permission <> '' AND p.role_key = m.role_key AND p.permission = p_permission
             ORDER BY a.kind DESC
             LIMIT 1)
        ) s ON true
        WHERE m.user_id = u AND s.scope = 'Company');
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lethe.sees_all(text, text);
DROP FUNCTION lethe.visible_owners(text, text);
DROP FUNCTION lethe.session_user_id();
DROP TABLE lethe.row_security;
