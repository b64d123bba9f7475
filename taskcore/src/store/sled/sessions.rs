//! Login sessions and their refresh tokens: `sessions`, `user_sessions`,
//! `refresh`, `session_refresh`.

use super::records::{RefreshRecord, SessionRecord, encode};
use super::{Inner, backend, damaged, finish, get, keys, lock, tx_decode, tx_encode};
use crate::domain::{SessionId, Timestamp};
use crate::store::{
    NewSession, RefreshOutcome, RefreshRequest, SessionInfo, StoreError, TokenHash,
};
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

/// What ending one session removes, gathered by scans before the transaction.
struct SessionRemoval {
    id: SessionId,
    /// Its `user_sessions` key.
    index_key: Vec<u8>,
    /// Its refresh tokens.
    refresh: Vec<TokenHash>,
}

/// The four session trees inside a transaction.
type SessionTx<'a> = (
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
);

fn remove_in(
    tx: SessionTx<'_>,
    removal: &SessionRemoval,
) -> Result<(), UnabortableTransactionError> {
    let (sessions, user_sessions, refresh, session_refresh) = tx;
    sessions.remove(&removal.id.as_bytes()[..])?;
    user_sessions.remove(removal.index_key.as_slice())?;
    for hash in &removal.refresh {
        refresh.remove(&hash[..])?;
        session_refresh.remove(&keys::session_refresh(removal.id, hash)[..])?;
    }
    Ok(())
}

/// Why a rotation's transaction gave up.
enum RotateAbort {
    Store(StoreError),
    /// The token or its session changed since it was read: look again.
    Raced,
}

impl Inner {
    fn session_record(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        get(&self.trees.sessions, "sessions", id.as_bytes())
    }

    fn refresh_hashes(&self, session: SessionId) -> Result<Vec<TokenHash>, StoreError> {
        self.trees
            .session_refresh
            .scan_prefix(session.as_bytes())
            .keys()
            .map(|key| {
                let key = key.map_err(backend)?;
                keys::hash_of_session_refresh(&key).ok_or_else(|| damaged("session_refresh"))
            })
            .collect()
    }

    fn removal(&self, id: SessionId, index_key: Vec<u8>) -> Result<SessionRemoval, StoreError> {
        Ok(SessionRemoval {
            id,
            index_key,
            refresh: self.refresh_hashes(id)?,
        })
    }

    /// Applies removals (and maybe an insertion) in one transaction over the four trees.
    fn session_transaction<T>(
        &self,
        body: impl Fn(SessionTx<'_>) -> super::TxResult<T>,
    ) -> Result<T, StoreError> {
        let t = &self.trees;
        finish(
            (
                &t.sessions,
                &t.user_sessions,
                &t.refresh,
                &t.session_refresh,
            )
                .transaction(|(a, b, c, d)| body((a, b, c, d))),
        )
    }

    /// Starts a session; ends expired and, past `max_sessions`, the oldest
    /// live sessions of the user.
    pub(super) fn create_session(
        &self,
        new: &NewSession,
        max_sessions: usize,
    ) -> Result<(), StoreError> {
        // Held while scanning and committing (no await): concurrent logins of
        // one user cannot both see room for one more.
        let _serialized = lock(&self.session_lock);
        let now = new.created_at;
        let mut live = Vec::new();
        let mut ended = Vec::new();
        for key in self
            .trees
            .user_sessions
            .scan_prefix(keys::user_prefix(new.user_id))
            .keys()
        {
            let key = key.map_err(backend)?;
            let id = keys::session_of_user_session(&key).ok_or_else(|| damaged("user_sessions"))?;
            match self.session_record(id)? {
                Some(record) if record.expires_at > now => live.push((id, key.to_vec())),
                _ => ended.push((id, key.to_vec())),
            }
        }
        // Keys sort by login time: the front of `live` is the oldest.
        let excess = (live.len() + 1).saturating_sub(max_sessions.max(1));
        ended.extend(live.into_iter().take(excess));
        let removals = ended
            .into_iter()
            .map(|(id, key)| self.removal(id, key))
            .collect::<Result<Vec<_>, _>>()?;
        let record = encode(&SessionRecord {
            user_id: new.user_id,
            created_at: new.created_at,
            expires_at: new.expires_at,
        })?;
        let token = encode(&RefreshRecord {
            session_id: new.id,
            expires_at: new.refresh_expires_at,
            used_at: None,
        })?;
        let index_key = keys::user_session(new.user_id, new.created_at, new.id);
        self.session_transaction(|tx| {
            let (sessions, user_sessions, refresh, session_refresh) = tx;
            for removal in &removals {
                remove_in(tx, removal)?;
            }
            sessions.insert(&new.id.as_bytes()[..], record.clone())?;
            user_sessions.insert(&index_key[..], &[][..])?;
            refresh.insert(&new.refresh_hash[..], token.clone())?;
            session_refresh.insert(
                &keys::session_refresh(new.id, &new.refresh_hash)[..],
                &[][..],
            )?;
            Ok(())
        })
    }

    /// A live session: one lookup.
    pub(super) fn session(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError> {
        Ok(self
            .session_record(id)?
            .filter(|s| s.expires_at > now)
            .map(|s| s.info(id)))
    }

    /// The session of a refresh token, if both still exist.
    pub(super) fn session_of_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionInfo>, StoreError> {
        let Some(token) = get::<RefreshRecord>(&self.trees.refresh, "refresh", hash)? else {
            return Ok(None);
        };
        Ok(self
            .session_record(token.session_id)?
            .map(|s| s.info(token.session_id)))
    }

    /// Ends a session and all its refresh tokens. Returns whether it existed.
    pub(super) fn revoke_session(&self, id: SessionId) -> Result<bool, StoreError> {
        let Some(record) = self.session_record(id)? else {
            return Ok(false);
        };
        let removal = self.removal(
            id,
            keys::user_session(record.user_id, record.created_at, id).to_vec(),
        )?;
        self.session_transaction(|tx| {
            let existed = tx.0.get(id.as_bytes())?.is_some();
            remove_in(tx, &removal)?;
            Ok(existed)
        })
    }

    /// Drops one refresh token (and its index entry).
    fn drop_refresh(&self, hash: &TokenHash, session: SessionId) -> Result<(), StoreError> {
        finish(
            (&self.trees.refresh, &self.trees.session_refresh).transaction(
                |(refresh, session_refresh)| {
                    refresh.remove(&hash[..])?;
                    session_refresh.remove(&keys::session_refresh(session, hash)[..])?;
                    Ok(())
                },
            ),
        )
    }

    /// Rotates a refresh token. Returns the outcome and whether anything was
    /// written (then the caller waits for durability).
    pub(super) fn refresh(
        &self,
        request: &RefreshRequest,
    ) -> Result<(RefreshOutcome, bool), StoreError> {
        let now = request.now;
        // A lost race is seen on the next look: the token is then used (or gone).
        for _ in 0..4 {
            let Some(token) =
                get::<RefreshRecord>(&self.trees.refresh, "refresh", &request.presented)?
            else {
                return Ok((RefreshOutcome::Invalid, false));
            };
            let sid = token.session_id;
            let session = match self.session_record(sid)? {
                Some(session) if session.expires_at > now => session,
                Some(_) => {
                    self.revoke_session(sid)?;
                    return Ok((RefreshOutcome::Invalid, true));
                }
                None => {
                    self.drop_refresh(&request.presented, sid)?;
                    return Ok((RefreshOutcome::Invalid, true));
                }
            };
            if token.expires_at <= now {
                self.drop_refresh(&request.presented, sid)?;
                return Ok((RefreshOutcome::Invalid, true));
            }
            if let Some(used_at) = token.used_at {
                // Measured from when the reuse is seen: a request that waited
                // behind the rotation is a reuse, not one from before it.
                let seen = now.max(Timestamp::now());
                let since = seen.as_micros().saturating_sub(used_at.as_micros());
                let grace = i64::try_from(request.reuse_grace.as_micros()).unwrap_or(i64::MAX);
                if since <= grace {
                    return Ok((RefreshOutcome::ReusedWithinGrace, false));
                }
                self.revoke_session(sid)?;
                return Ok((RefreshOutcome::ReusedSessionRevoked, true));
            }
            let Some(user) = self.user(session.user_id)? else {
                self.revoke_session(sid)?;
                return Ok((RefreshOutcome::Invalid, true));
            };
            let refresh_expires_at = now.plus(request.refresh_ttl).min(session.expires_at);
            let replacement = encode(&RefreshRecord {
                session_id: sid,
                expires_at: refresh_expires_at,
                used_at: None,
            })?;
            let t = &self.trees;
            let rotated = (&t.refresh, &t.session_refresh, &t.sessions).transaction(
                |(refresh, session_refresh, sessions)| {
                    let raced = || Err(ConflictableTransactionError::Abort(RotateAbort::Raced));
                    let Some(current) = refresh.get(&request.presented[..])? else {
                        return raced();
                    };
                    let mut current: RefreshRecord = tx_decode("refresh", &current)
                        .map_err(|e| e.map_abort(RotateAbort::Store))?;
                    if current.used_at.is_some() || sessions.get(sid.as_bytes())?.is_none() {
                        return raced();
                    }
                    current.used_at = Some(now);
                    let used = tx_encode(&current).map_err(|e| e.map_abort(RotateAbort::Store))?;
                    refresh.insert(&request.presented[..], used)?;
                    refresh.insert(&request.replacement[..], replacement.clone())?;
                    session_refresh.insert(
                        &keys::session_refresh(sid, &request.replacement)[..],
                        &[][..],
                    )?;
                    Ok(())
                },
            );
            match rotated {
                Ok(()) => {
                    let outcome = RefreshOutcome::Rotated {
                        user,
                        session: sid,
                        refresh_expires_at,
                    };
                    return Ok((outcome, true));
                }
                Err(TransactionError::Abort(RotateAbort::Raced)) => continue,
                Err(TransactionError::Abort(RotateAbort::Store(e))) => return Err(e),
                Err(TransactionError::Storage(e)) => return Err(backend(e)),
            }
        }
        Err(StoreError::Backend(
            "a refresh token kept changing under rotation".into(),
        ))
    }

    /// Removes ended sessions, refresh tokens that expired or lost their
    /// session, and expired API tokens. Returns how many records went.
    pub(super) fn prune_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.trees.sessions.iter() {
            let (key, value) = item.map_err(backend)?;
            let record: SessionRecord = super::records::decode("sessions", &value)?;
            let id =
                SessionId::from_bytes(keys::id_bytes(&key).ok_or_else(|| damaged("sessions"))?);
            if record.expires_at <= now && self.revoke_session(id)? {
                removed += 1;
            }
        }
        for item in self.trees.refresh.iter() {
            let (key, value) = item.map_err(backend)?;
            let token: RefreshRecord = super::records::decode("refresh", &value)?;
            let hash = keys::hash_bytes(&key).ok_or_else(|| damaged("refresh"))?;
            let session_live = self
                .session_record(token.session_id)?
                .is_some_and(|s| s.expires_at > now);
            if token.expires_at <= now || !session_live {
                self.drop_refresh(&hash, token.session_id)?;
                removed += 1;
            }
        }
        for key in self.trees.user_sessions.iter().keys() {
            let key = key.map_err(backend)?;
            let id = keys::session_of_user_session(&key).ok_or_else(|| damaged("user_sessions"))?;
            if self.session_record(id)?.is_none() {
                self.trees.user_sessions.remove(&key).map_err(backend)?;
                removed += 1;
            }
        }
        removed += self.prune_api_tokens(now)?;
        Ok(removed)
    }
}

/// Maps the abort type of a [`ConflictableTransactionError`].
trait MapAbort<E> {
    fn map_abort<F>(self, f: impl FnOnce(E) -> F) -> ConflictableTransactionError<F>;
}

impl<E> MapAbort<E> for ConflictableTransactionError<E> {
    fn map_abort<F>(self, f: impl FnOnce(E) -> F) -> ConflictableTransactionError<F> {
        match self {
            Self::Abort(e) => ConflictableTransactionError::Abort(f(e)),
            Self::Conflict => ConflictableTransactionError::Conflict,
            Self::Storage(e) => ConflictableTransactionError::Storage(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SledStore;
    use super::super::test_support::{open_temp, user};
    use super::*;
    use crate::domain::{User, UserId};
    use crate::store::TaskStore;
    use std::time::Duration;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + secs * 1_000_000).expect("in range")
    }

    fn hash(n: u8) -> TokenHash {
        [n; 32]
    }

    async fn login(
        store: &SledStore,
        user: &User,
        now: Timestamp,
        token: u8,
        max: usize,
    ) -> SessionId {
        let id = SessionId::generate();
        let session = NewSession {
            id,
            user_id: user.id,
            created_at: now,
            expires_at: now.plus(90 * DAY),
            refresh_hash: hash(token),
            refresh_expires_at: now.plus(30 * DAY),
        };
        store
            .create_session(session, max)
            .await
            .expect("creates the session");
        id
    }

    fn request(presented: u8, replacement: u8, now: Timestamp) -> RefreshRequest {
        RefreshRequest {
            presented: hash(presented),
            replacement: hash(replacement),
            now,
            refresh_ttl: 30 * DAY,
            reuse_grace: Duration::from_secs(10),
        }
    }

    fn session_ids_of(store: &SledStore, user: UserId) -> Vec<SessionId> {
        store
            .inner
            .trees
            .user_sessions
            .scan_prefix(keys::user_prefix(user))
            .keys()
            .filter_map(|k| k.ok().and_then(|k| keys::session_of_user_session(&k)))
            .collect()
    }

    #[tokio::test]
    async fn rotation_then_reuse_within_and_after_grace() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let sid = login(&store, &ada, at(0), 1, 100).await;
        assert_eq!(
            store
                .session(sid, at(1))
                .await
                .expect("reads")
                .map(|s| s.user_id),
            Some(ada.id)
        );

        let rotated = store
            .refresh(request(1, 2, at(100)))
            .await
            .expect("refreshes");
        assert_eq!(
            rotated,
            RefreshOutcome::Rotated {
                user: ada.clone(),
                session: sid,
                refresh_expires_at: at(100).plus(30 * DAY)
            }
        );
        // The old token again, 5 s later: refused, nothing revoked.
        let again = store
            .refresh(request(1, 3, at(105)))
            .await
            .expect("refreshes");
        assert_eq!(again, RefreshOutcome::ReusedWithinGrace);
        assert!(store.session(sid, at(105)).await.expect("reads").is_some());
        // The replacement still works.
        let next = store
            .refresh(request(2, 4, at(106)))
            .await
            .expect("refreshes");
        assert!(matches!(next, RefreshOutcome::Rotated { .. }));
        // The first token after the grace: the whole session goes.
        let reuse = store
            .refresh(request(1, 5, at(200)))
            .await
            .expect("refreshes");
        assert_eq!(reuse, RefreshOutcome::ReusedSessionRevoked);
        assert!(store.session(sid, at(200)).await.expect("reads").is_none());
        assert_eq!(
            store
                .refresh(request(4, 6, at(201)))
                .await
                .expect("refreshes"),
            RefreshOutcome::Invalid
        );
        assert!(
            store
                .session_of_refresh(&hash(4))
                .await
                .expect("reads")
                .is_none()
        );
        assert!(session_ids_of(&store, ada.id).is_empty());
        assert_eq!(store.inner.trees.refresh.len(), 0);
        assert_eq!(store.inner.trees.session_refresh.len(), 0);
    }

    #[tokio::test]
    async fn unknown_and_expired_tokens_are_invalid() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        assert_eq!(
            store.refresh(request(9, 10, at(0))).await.expect("ok"),
            RefreshOutcome::Invalid
        );
        let sid = login(&store, &ada, at(0), 1, 100).await;
        // The token expires after 30 days, the session after 90.
        let late = at(0).plus(31 * DAY);
        assert_eq!(
            store.refresh(request(1, 2, late)).await.expect("ok"),
            RefreshOutcome::Invalid
        );
        assert!(store.session(sid, late).await.expect("reads").is_some());
        // The replacement is capped by the session's end.
        let sid2 = login(&store, &ada, at(0), 3, 100).await;
        for (presented, days) in [(3u8, 29u32), (4, 58)] {
            let r = request(presented, presented + 1, at(0).plus(days * DAY));
            assert!(matches!(
                store.refresh(r).await.expect("ok"),
                RefreshOutcome::Rotated { .. }
            ));
        }
        match store
            .refresh(request(5, 6, at(0).plus(87 * DAY)))
            .await
            .expect("ok")
        {
            RefreshOutcome::Rotated {
                refresh_expires_at, ..
            } => {
                assert_eq!(refresh_expires_at, at(0).plus(90 * DAY));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            store
                .session_of_refresh(&hash(6))
                .await
                .expect("ok")
                .map(|s| s.id),
            Some(sid2)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_concurrent_double_refresh_rotates_once() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let sid = login(&store, &ada, at(0), 1, 100).await;
        let tries: Vec<_> = (0..8u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.refresh(request(1, 100 + i, at(50))).await })
            })
            .collect();
        let mut rotated = 0;
        for t in tries {
            match t.await.expect("joins").expect("refreshes") {
                RefreshOutcome::Rotated { .. } => rotated += 1,
                RefreshOutcome::ReusedWithinGrace => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(rotated, 1);
        assert!(store.session(sid, at(50)).await.expect("reads").is_some());
    }

    #[tokio::test]
    async fn the_session_cap_ends_the_oldest() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let first = login(&store, &ada, at(0), 1, 3).await;
        let second = login(&store, &ada, at(1), 2, 3).await;
        let third = login(&store, &ada, at(2), 3, 3).await;
        let fourth = login(&store, &ada, at(3), 4, 3).await;
        assert_eq!(session_ids_of(&store, ada.id), vec![second, third, fourth]);
        assert!(store.session(first, at(4)).await.expect("reads").is_none());
        // The ended session's refresh token went with it.
        assert_eq!(
            store.refresh(request(1, 9, at(5))).await.expect("ok"),
            RefreshOutcome::Invalid
        );
        assert!(
            store
                .session_of_refresh(&hash(1))
                .await
                .expect("ok")
                .is_none()
        );
        // Another user's sessions do not count.
        let bob = user(&store, "bob@example.com").await;
        login(&store, &bob, at(5), 20, 3).await;
        assert_eq!(session_ids_of(&store, ada.id).len(), 3);
    }

    #[tokio::test]
    async fn expired_sessions_are_pruned() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let old = login(&store, &ada, at(0), 1, 100).await;
        let after_old = at(0).plus(91 * DAY);
        let young = login(&store, &ada, after_old, 2, 100).await;
        // Logging in drops the user's expired sessions.
        assert_eq!(session_ids_of(&store, ada.id), vec![young]);
        assert!(
            store
                .session(old, after_old)
                .await
                .expect("reads")
                .is_none()
        );
        // A background sweep removes the rest once they end.
        let much_later = after_old.plus(91 * DAY);
        assert_eq!(store.prune_expired(much_later).await.expect("prunes"), 1);
        assert!(session_ids_of(&store, ada.id).is_empty());
        assert_eq!(store.inner.trees.sessions.len(), 0);
        assert_eq!(store.inner.trees.refresh.len(), 0);
        assert_eq!(store.inner.trees.session_refresh.len(), 0);
        assert_eq!(store.prune_expired(much_later).await.expect("prunes"), 0);
    }

    #[tokio::test]
    async fn revoking_a_session_removes_its_tokens() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let sid = login(&store, &ada, at(0), 1, 100).await;
        assert!(matches!(
            store.refresh(request(1, 2, at(1))).await.expect("ok"),
            RefreshOutcome::Rotated { .. }
        ));
        assert_eq!(
            store
                .session_of_refresh(&hash(2))
                .await
                .expect("ok")
                .map(|s| s.id),
            Some(sid)
        );
        assert!(store.revoke_session(sid).await.expect("revokes"));
        assert!(!store.revoke_session(sid).await.expect("revokes"));
        assert!(store.session(sid, at(2)).await.expect("reads").is_none());
        assert_eq!(
            store.refresh(request(2, 3, at(3))).await.expect("ok"),
            RefreshOutcome::Invalid
        );
        assert_eq!(store.inner.trees.refresh.len(), 0);
    }
}
