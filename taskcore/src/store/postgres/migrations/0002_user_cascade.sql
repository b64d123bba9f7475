-- Every per-user row goes with its user: deleting a `users` row deletes the
-- user's sessions (and with them their refresh tokens, already cascading
-- from `sessions`), API tokens and tasks in the same statement, and no row
-- can name a user that does not exist. `tasks` already cascades (0001);
-- `sessions` and `api_tokens` had no foreign key, so rows of a user that
-- was removed by hand may exist: they are removed first (they could never
-- authenticate anyone), or adding the keys would fail.

DELETE FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id);
DELETE FROM api_tokens t WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.user_id);

ALTER TABLE sessions
    ADD CONSTRAINT sessions_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE api_tokens
    ADD CONSTRAINT api_tokens_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
-- The existing indexes `sessions_of_user` and `api_tokens_of_user` lead with
-- `user_id`, so the cascades find the rows without a scan.
