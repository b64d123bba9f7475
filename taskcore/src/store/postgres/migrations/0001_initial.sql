-- Initial schema. Times are microseconds since the Unix epoch (bigint), the
-- precision of the domain's Timestamp, so every value round-trips exactly.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text,
    password_hash text,
    issuer text,
    subject text,
    created_at bigint NOT NULL,
    -- The number the next task gets: past every number ever issued.
    next_task_number bigint NOT NULL DEFAULT 1,
    -- Live tasks, kept in the transactions that create and delete them.
    live_tasks bigint NOT NULL DEFAULT 0,
    CHECK ((issuer IS NULL) = (subject IS NULL))
);
-- An email is the key of a local account only; external users may share it.
CREATE UNIQUE INDEX users_local_email ON users (email) WHERE issuer IS NULL;
CREATE UNIQUE INDEX users_external_identity ON users (issuer, subject);

CREATE TABLE tasks (
    owner uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    number bigint NOT NULL,
    title text NOT NULL,
    -- The title lower-cased as Rust lower-cases it, ordered by code point.
    title_key text COLLATE "C" NOT NULL,
    description text NOT NULL,
    -- The description lower-cased, only when that differs from it.
    description_lower text,
    completed boolean NOT NULL,
    -- 0 none, 1 low, 2 medium, 3 high.
    priority smallint NOT NULL,
    due bigint,
    tags text[] NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    completed_at bigint,
    version bigint NOT NULL,
    -- The due date as each direction orders it: tasks without one come
    -- last in both. Plain columns (not index expressions), so a keyset
    -- row comparison on them is an index condition.
    due_asc bigint GENERATED ALWAYS AS (coalesce(due, 9223372036854775807)) STORED,
    due_desc bigint GENERATED ALWAYS AS (coalesce(due, -9223372036854775808)) STORED,
    PRIMARY KEY (owner, id),
    UNIQUE (owner, number)
);
-- One index per sort order, the id breaking ties (creation order is the
-- primary key).
CREATE INDEX tasks_by_updated ON tasks (owner, updated_at, id);
CREATE INDEX tasks_by_priority ON tasks (owner, priority, id);
CREATE INDEX tasks_by_title ON tasks (owner, title_key, id);
CREATE INDEX tasks_by_due_asc ON tasks (owner, due_asc, id);
CREATE INDEX tasks_by_due_desc ON tasks (owner, due_desc, id);

CREATE TABLE sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX sessions_of_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at bigint NOT NULL,
    used_at bigint
);
CREATE INDEX refresh_tokens_of_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE api_tokens (
    hash bytea PRIMARY KEY,
    id uuid NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    last_used_at bigint
);
CREATE INDEX api_tokens_of_user ON api_tokens (user_id, id);
CREATE INDEX api_tokens_by_expiry ON api_tokens (expires_at);

CREATE TABLE meta (
    key text PRIMARY KEY,
    value bytea NOT NULL
);

-- Defence in depth: a task statement sees only the tasks of the user named
-- by `taskserver.user_id`, which the store sets in every task transaction.
-- FORCE makes it hold for the tables' owner too; superusers bypass it,
-- hence the role below, which the store switches to.
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY tasks_of_current_user ON tasks
    USING (owner = nullif(current_setting('taskserver.user_id', true), '')::uuid)
    WITH CHECK (owner = nullif(current_setting('taskserver.user_id', true), '')::uuid);

-- The role the store's connections act as (a superuser would bypass row
-- security). Cluster-wide, so it may exist already; creating it needs
-- CREATEROLE, and without it the store carries on as the connected user.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'taskserver_app') THEN
        CREATE ROLE taskserver_app NOLOGIN;
    END IF;
EXCEPTION
    -- Another database of the cluster created it at the same moment (the
    -- advisory lock is per database).
    WHEN duplicate_object OR unique_violation THEN NULL;
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot create the role taskserver_app; row security applies to the connected user';
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'taskserver_app') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO taskserver_app', current_schema());
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON users, tasks, sessions, refresh_tokens, api_tokens, meta TO taskserver_app';
        -- Let the connected (non-superuser) user switch to it.
        IF NOT pg_has_role(current_user, 'taskserver_app', 'MEMBER') THEN
            EXECUTE format('GRANT taskserver_app TO %I', current_user);
        END IF;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot grant the role taskserver_app; row security applies to the connected user';
END
$$;
