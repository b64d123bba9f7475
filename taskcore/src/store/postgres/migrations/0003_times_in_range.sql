-- Releases before the range check accepted due dates outside
-- 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z, which RFC 3339 cannot
-- write, so such a task could not be exported and imported again. Each
-- moves to the nearest end of the range, named in a warning (in the
-- server's log and PostgreSQL's). Row security would hide the rows from
-- the tables' owner, so it is lifted for this one statement.
ALTER TABLE tasks NO FORCE ROW LEVEL SECURITY;
DO $$
DECLARE
    repaired record;
BEGIN
    FOR repaired IN
        UPDATE tasks
           SET due = least(greatest(due, -62135596800000000), 253402300799999999)
         WHERE due < -62135596800000000 OR due > 253402300799999999
     RETURNING owner, id, number
    LOOP
        RAISE WARNING 'task % (number % of user %) had a due date outside 0001..9999; it now holds the nearest time inside',
            repaired.id, repaired.number, repaired.owner;
    END LOOP;
END
$$;
ALTER TABLE tasks FORCE ROW LEVEL SECURITY;
