-- Projects and recurrence (contract v4). Every task written by an earlier
-- release keeps every value and reads as having no project, no rule and
-- no series; nothing is lost.

-- `project` orders by code point (byte order of UTF-8), as the sled store
-- and `sort=project` do, whatever the database's own collation.
-- `recur` is the rule in its canonical text; `series` the id of the
-- series' first task; `anchor` the time (microseconds, like every time
-- here) the rule steps from, kept beside the task and never returned.
ALTER TABLE tasks
    ADD COLUMN project text COLLATE "C",
    ADD COLUMN recur text,
    ADD COLUMN series uuid,
    ADD COLUMN anchor bigint,
    -- Whether the task has no project / has one, as each direction of
    -- `sort=project` orders it: tasks without a project come last in both.
    -- With these leading the project in an index, a keyset row comparison
    -- is decided by them for a task without a project (its NULL project is
    -- never compared), so one index range serves both groups, as
    -- `due_asc`/`due_desc` do for `due` (a text sentinel that sorts after
    -- every name would have to be longer than the longest name).
    ADD COLUMN project_missing boolean GENERATED ALWAYS AS (project IS NULL) STORED,
    ADD COLUMN project_present boolean GENERATED ALWAYS AS (project IS NOT NULL) STORED;

-- `sort=project` scans the first forward, `sort=-project` the second
-- backward; `project=P` is a range of either (`P` up to `P/`, '/' being
-- the character after '.'), and `project=-` the `project_missing` part in
-- id order, so `sort=created` with it is a range scan too.
CREATE INDEX tasks_by_project_asc ON tasks (owner, project_missing, project, id);
CREATE INDEX tasks_by_project_desc ON tasks (owner, project_present, project, id);

-- What is left of a deleted task: its id and number, and when. Written in
-- the transaction that deletes it. A successor is created only when
-- neither a task nor a tombstone holds its id, so an occurrence has at most
-- one successor ever, even after that successor was deleted.
CREATE TABLE task_tombstones (
    owner uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    number bigint NOT NULL,
    deleted_at bigint NOT NULL,
    PRIMARY KEY (owner, id)
);

-- The same defence in depth as `tasks` (0001).
ALTER TABLE task_tombstones ENABLE ROW LEVEL SECURITY;
ALTER TABLE task_tombstones FORCE ROW LEVEL SECURITY;
CREATE POLICY task_tombstones_of_current_user ON task_tombstones
    USING (owner = nullif(current_setting('taskserver.user_id', true), '')::uuid)
    WITH CHECK (owner = nullif(current_setting('taskserver.user_id', true), '')::uuid);

-- The application role gets the new table, and again every other one: a
-- database moved with `pg_dump --no-privileges` (a common way to move one)
-- lost the grants of 0001, and its first start on this release restores
-- them instead of failing on every statement.
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
