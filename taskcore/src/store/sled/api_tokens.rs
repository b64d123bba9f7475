//! API tokens: `api_tokens` (by hash, the per-request lookup) and
//! `user_api_tokens` (a user's tokens, for listing and revoking).

use super::records::{ApiTokenRecord, decode, encode};
use super::{Inner, abort, backend, damaged, finish, get, keys, lock, tx_decode};
use crate::domain::{ApiTokenId, Timestamp, UserId};
use crate::store::{ApiTokenInfo, ApiTokenUse, NewApiToken, StoreError, TokenHash};
use sled::Transactional;

impl Inner {
    /// Stores a new token, unless the user has `max_live` live ones (or is gone).
    pub(super) fn create_api_token(
        &self,
        token: &NewApiToken,
        max_live: usize,
    ) -> Result<ApiTokenInfo, StoreError> {
        // Held while counting and committing (no await): two concurrent
        // creates cannot both see room for one more, and `delete_user`,
        // which holds it too, cannot remove the user in between.
        let _serialized = lock(&self.api_token_lock);
        if !self
            .trees
            .users
            .contains_key(token.user_id.as_bytes())
            .map_err(backend)?
        {
            return Err(StoreError::NotFound);
        }
        if self.api_tokens(token.user_id, token.created_at)?.len() >= max_live {
            return Err(StoreError::ApiTokenLimitReached);
        }
        let record = ApiTokenRecord {
            id: token.id,
            user_id: token.user_id,
            name: token.name.clone(),
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: None,
        };
        let value = encode(&record)?;
        let index_key = keys::user_api_token(token.user_id, token.id);
        finish(
            (&self.trees.api_tokens, &self.trees.user_api_tokens).transaction(|(tokens, index)| {
                tokens.insert(&token.hash[..], value.clone())?;
                index.insert(&index_key[..], &token.hash[..])?;
                Ok(())
            }),
        )?;
        Ok(record.info())
    }

    /// The owner of a live token: one lookup.
    pub(super) fn api_token_owner(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ApiTokenUse>, StoreError> {
        let token = get::<ApiTokenRecord>(&self.trees.api_tokens, "api_tokens", hash)?;
        Ok(token.filter(|t| t.expires_at > now).map(|t| ApiTokenUse {
            id: t.id,
            user: t.user_id,
            last_used_at: t.last_used_at,
        }))
    }

    fn api_token_hash(
        &self,
        user: UserId,
        id: ApiTokenId,
    ) -> Result<Option<TokenHash>, StoreError> {
        let key = keys::user_api_token(user, id);
        match self.trees.user_api_tokens.get(key).map_err(backend)? {
            Some(hash) => keys::hash_bytes(&hash)
                .map(Some)
                .ok_or_else(|| damaged("user_api_tokens")),
            None => Ok(None),
        }
    }

    /// The `user_api_tokens` key and the hash of each of the user's tokens.
    pub(super) fn user_api_token_entries(
        &self,
        user: UserId,
    ) -> Result<Vec<(sled::IVec, TokenHash)>, StoreError> {
        self.trees
            .user_api_tokens
            .scan_prefix(keys::user_prefix(user))
            .map(|item| {
                let (key, hash) = item.map_err(backend)?;
                let hash = keys::hash_bytes(&hash).ok_or_else(|| damaged("user_api_tokens"))?;
                Ok((key, hash))
            })
            .collect()
    }

    /// Records a use. The update never recreates a missing record, so a
    /// token revoked meanwhile stays revoked.
    pub(super) fn touch_api_token(
        &self,
        hash: &TokenHash,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.trees
            .api_tokens
            .update_and_fetch(hash, |old| {
                let old = old?;
                match decode::<ApiTokenRecord>("api_tokens", old) {
                    Ok(mut record) => {
                        record.last_used_at = Some(at);
                        Some(encode(&record).unwrap_or_else(|_| old.to_vec()))
                    }
                    Err(_) => Some(old.to_vec()),
                }
            })
            .map_err(backend)?;
        Ok(())
    }

    /// A user's live tokens, oldest first.
    pub(super) fn api_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let mut tokens = Vec::new();
        for hash in self
            .trees
            .user_api_tokens
            .scan_prefix(keys::user_prefix(user))
            .values()
        {
            let hash = hash.map_err(backend)?;
            let record = get::<ApiTokenRecord>(&self.trees.api_tokens, "api_tokens", &hash)?;
            if let Some(record) = record.filter(|r| r.user_id == user && r.expires_at > now) {
                tokens.push(record.info());
            }
        }
        tokens.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(tokens)
    }

    /// Revokes one of the user's live tokens.
    pub(super) fn revoke_api_token(
        &self,
        user: UserId,
        id: ApiTokenId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(hash) = self.api_token_hash(user, id)? else {
            return Err(StoreError::NotFound);
        };
        let index_key = keys::user_api_token(user, id);
        finish(
            (&self.trees.api_tokens, &self.trees.user_api_tokens).transaction(|(tokens, index)| {
                let Some(value) = tokens.get(&hash[..])? else {
                    return abort(StoreError::NotFound);
                };
                let record: ApiTokenRecord = tx_decode("api_tokens", &value)?;
                if record.user_id != user || record.id != id || record.expires_at <= now {
                    return abort(StoreError::NotFound);
                }
                tokens.remove(&hash[..])?;
                index.remove(&index_key[..])?;
                Ok(())
            }),
        )?;
        // Streams opened with the token end.
        self.signals.notify(user);
        Ok(())
    }

    /// Removes expired tokens. Returns how many.
    pub(super) fn prune_api_tokens(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut removed = 0;
        for item in self.trees.api_tokens.iter() {
            let (hash, value) = item.map_err(backend)?;
            let record: ApiTokenRecord = decode("api_tokens", &value)?;
            if record.expires_at > now {
                continue;
            }
            let index_key = keys::user_api_token(record.user_id, record.id);
            finish(
                (&self.trees.api_tokens, &self.trees.user_api_tokens).transaction(
                    |(tokens, index)| {
                        tokens.remove(&hash)?;
                        index.remove(&index_key[..])?;
                        Ok(())
                    },
                ),
            )?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{open_temp, user};
    use super::*;
    use crate::store::TaskStore;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + secs * 1_000_000).expect("in range")
    }

    fn new_token(user: UserId, n: u8, created: i64, expires: i64) -> NewApiToken {
        NewApiToken {
            id: ApiTokenId::generate(),
            user_id: user,
            name: format!("token {n}"),
            hash: [n; 32],
            created_at: at(created),
            expires_at: at(expires),
        }
    }

    // The behaviour is in the conformance suite; this is the layout.
    #[tokio::test]
    async fn a_swept_token_leaves_no_index_entry() {
        let (_dir, store) = open_temp();
        let ada = user(&store, "ada@example.com").await;
        for (n, expires) in [(1, 1_000), (2, 50)] {
            store
                .create_api_token(new_token(ada.id, n, 0, expires), 100)
                .await
                .expect("creates");
        }
        assert_eq!(store.prune_expired(at(100)).await.expect("prunes"), 1);
        assert_eq!(store.inner.trees.api_tokens.len(), 1);
        assert_eq!(store.inner.trees.user_api_tokens.len(), 1);
    }
}
