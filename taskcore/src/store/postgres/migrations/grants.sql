-- Run after every migration run that applied one (from 0005 on): the
-- application role gets every table again. A database moved with
-- `pg_dump --no-privileges` (a common way to move one) lost its grants,
-- and its first start on a release with a new migration restores them
-- instead of failing on every statement. (0001 and 0004 grant themselves.)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'taskserver_app') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO taskserver_app', current_schema());
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON users, tasks, task_tombstones, sessions, refresh_tokens, api_tokens, meta TO taskserver_app';
        IF NOT pg_has_role(current_user, 'taskserver_app', 'MEMBER') THEN
            EXECUTE format('GRANT taskserver_app TO %I', current_user);
        END IF;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot grant the role taskserver_app; row security applies to the connected user';
END
$$;
