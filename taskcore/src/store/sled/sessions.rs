//! Login sessions and their refresh tokens: `sessions`, `user_sessions`,
//! `refresh`, `session_refresh`.

use super::records::{RefreshRecord, SessionRecord, encode};
use super::{Inner, backend, damaged, finish, get, keys, lock, tx_decode, tx_encode};
use crate::domain::{SessionId, Timestamp, UserId};
use crate::store::{
    NewSession, RefreshOutcome, RefreshRequest, SessionInfo, StoreError, TokenHash,
};
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

/// What ending one session removes, gathered by scans before the transaction.
pub(super) struct SessionRemoval {
    id: SessionId,
    /// Its `user_sessions` key.
    index_key: Vec<u8>,
    /// Its refresh tokens.
    refresh: Vec<TokenHash>,
}

/// The four session trees inside a transaction.
pub(super) type SessionTx<'a> = (
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
    &'a TransactionalTree,
);

/// Removes one session, its index entry and its refresh tokens inside a transaction.
pub(super) fn remove_in(
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

    /// What ending every session of `user` removes. The caller holds
    /// `session_lock`, so no session of the user starts meanwhile.
    pub(super) fn user_session_removals(
        &self,
        user: UserId,
    ) -> Result<Vec<SessionRemoval>, StoreError> {
        self.trees
            .user_sessions
            .scan_prefix(keys::user_prefix(user))
            .keys()
            .map(|key| {
                let key = key.map_err(backend)?;
                let id =
                    keys::session_of_user_session(&key).ok_or_else(|| damaged("user_sessions"))?;
                self.removal(id, key.to_vec())
            })
            .collect()
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
        // A deleted account gets no session: `delete_user` holds the lock too.
        if !self
            .trees
            .users
            .contains_key(new.user_id.as_bytes())
            .map_err(backend)?
        {
            return Err(StoreError::NotFound);
        }
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
        let existed = self.session_transaction(|tx| {
            let existed = tx.0.get(id.as_bytes())?.is_some();
            remove_in(tx, &removal)?;
            Ok(existed)
        })?;
        if existed {
            // The user's live streams check their credentials again.
            self.signals.notify(record.user_id);
        }
        Ok(existed)
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
                if request.reuse_within_grace(used_at) {
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
        Err(StoreError::backend(
            "a refresh token kept changing under rotation",
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

    /// The behaviour is in the conformance suite; this is the layout: every
    /// way a session ends takes its index entries with it.
    #[tokio::test]
    async fn an_ended_session_leaves_no_index_entries() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        let trees = &store.inner.trees;
        let sizes = || {
            (
                trees.sessions.len(),
                trees.refresh.len(),
                trees.session_refresh.len(),
            )
        };

        // Reuse after the grace revokes the session.
        login(&store, &ada, at(0), 1, 100).await;
        let rotated = store.refresh(request(1, 2, at(100))).await.expect("ok");
        assert!(matches!(rotated, RefreshOutcome::Rotated { .. }));
        assert_eq!(
            store.refresh(request(1, 3, at(200))).await.expect("ok"),
            RefreshOutcome::ReusedSessionRevoked
        );
        assert!(session_ids_of(&store, ada.id).is_empty());
        assert_eq!(sizes(), (0, 0, 0));

        // Revoking, after a rotation.
        let sid = login(&store, &ada, at(300), 4, 100).await;
        let rotated = store.refresh(request(4, 5, at(301))).await.expect("ok");
        assert!(matches!(rotated, RefreshOutcome::Rotated { .. }));
        assert!(store.revoke_session(sid).await.expect("revokes"));
        assert!(session_ids_of(&store, ada.id).is_empty());
        assert_eq!(sizes(), (0, 0, 0));

        // The cap ends the oldest; the index keeps login order.
        let mut ids = Vec::new();
        for n in 0..4u8 {
            ids.push(login(&store, &ada, at(400 + i64::from(n)), 10 + n, 3).await);
        }
        assert_eq!(session_ids_of(&store, ada.id), ids[1..]);
        assert_eq!(sizes(), (3, 3, 3));

        // A login drops the user's expired sessions, the sweep the rest.
        let later = at(403).plus(91 * DAY);
        let young = login(&store, &ada, later, 20, 3).await;
        assert_eq!(session_ids_of(&store, ada.id), vec![young]);
        assert_eq!(sizes(), (1, 1, 1));
        assert_eq!(
            store
                .prune_expired(later.plus(91 * DAY))
                .await
                .expect("prunes"),
            1
        );
        assert!(session_ids_of(&store, ada.id).is_empty());
        assert_eq!(sizes(), (0, 0, 0));
    }
}
