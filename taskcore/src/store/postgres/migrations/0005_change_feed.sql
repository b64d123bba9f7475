-- The change feed (contract v4). Every task write takes its owner's next
-- change number, `users.last_change + 1`, by an UPDATE of the owner's row
-- in the writing transaction: the row lock is held to the commit, so one
-- owner's numbers commit in order and a reader that saw a number has seen
-- every lower one. A task row carries the number of its latest change, a
-- tombstone the number of the deletion (NULL: not in the feed, because it
-- was pruned or written before this release).
ALTER TABLE users ADD COLUMN last_change bigint NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN change_seq bigint;
ALTER TABLE task_tombstones ADD COLUMN change_seq bigint;

-- Existing tasks get the numbers 1..n of their owner and the counter moves
-- past them; existing tombstones stay out of the feed (no cursor can be
-- older than this release, and a full sync shows live tasks only). Row
-- security would hide the rows from the tables' owner, so it is lifted
-- for these statements.
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
UPDATE tasks t
   SET change_seq = numbered.seq
  FROM (SELECT owner, id, row_number() OVER (PARTITION BY owner ORDER BY id) AS seq
          FROM tasks) numbered
 WHERE t.owner = numbered.owner AND t.id = numbered.id;
UPDATE users u
   SET last_change = counted.n
  FROM (SELECT owner, count(*) AS n FROM tasks GROUP BY owner) counted
 WHERE u.id = counted.owner;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
ALTER TABLE tasks ALTER COLUMN change_seq SET NOT NULL;

-- A feed read is a range of each, from the reader's position.
CREATE UNIQUE INDEX tasks_by_change ON tasks (owner, change_seq);
CREATE UNIQUE INDEX task_tombstones_by_change ON task_tombstones (owner, change_seq)
    WHERE change_seq IS NOT NULL;
-- Pruning reads only the deletions it takes out of the feed.
CREATE INDEX task_tombstones_in_feed_by_time ON task_tombstones (deleted_at)
    WHERE change_seq IS NOT NULL;

-- Pruning takes old deletions of every user out of the feed at once: a
-- transaction that sets `taskserver.prune_before` (the store's pruning
-- does, nothing else) sees the tombstones deleted before that time, and
-- may only clear their place in the feed. The ids stay, still refused.
-- (An UPDATE that reads columns needs the SELECT policies for the old and
-- the new row, hence the two.)
CREATE POLICY task_tombstones_pruned_read ON task_tombstones FOR SELECT
    USING (deleted_at < nullif(current_setting('taskserver.prune_before', true), '')::bigint);
CREATE POLICY task_tombstones_pruned ON task_tombstones FOR UPDATE
    USING (deleted_at < nullif(current_setting('taskserver.prune_before', true), '')::bigint)
    WITH CHECK (change_seq IS NULL);

-- The grants are restored after it by `grants.sql`, as after every
-- migration from this one on.
