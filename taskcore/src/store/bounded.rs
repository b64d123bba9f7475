//! [`Bounded`]: any store, answering within a time bound or saying it
//! cannot. A database that stops answering, or a disk that stalls, then
//! costs a caller at most the bound and ends in
//! [`StoreError::Unavailable`], never in a request that hangs.

use super::{
    ApiTokenInfo, ApiTokenUse, ExportRecord, ExportReport, ImportReport, NewApiToken, NewSession,
    RefreshOutcome, RefreshRequest, SessionInfo, Signals, StoreError, StoreMetrics, TaskJson,
    TaskPageJson, TaskStore, TokenHash,
};
use crate::domain::{
    ApiTokenId, ChangePage, Credentials, Email, ExternalIdentity, FeedPosition, ListQuery,
    Position, Precondition, ProjectCount, SessionId, Task, TaskDraft, TaskId, TaskPage, TaskPatch,
    TaskRef, Timestamp, User, UserId,
};
use async_trait::async_trait;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A store whose every call, except export and import (tools that take as
/// long as the data), ends within `timeout`.
///
/// A call cut off by the bound is dropped where it stands: a write may or
/// may not have been applied (as with any lost answer), and the stores
/// make that safe (a PostgreSQL transaction rolls back; a sled write that
/// was applied is flushed with the next batch).
#[derive(Clone)]
pub struct Bounded {
    inner: Arc<dyn TaskStore>,
    timeout: Duration,
}

impl Bounded {
    /// Wraps `inner` so every call ends within `timeout`.
    pub fn new(inner: Arc<dyn TaskStore>, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the store did not answer within {} s",
                    self.timeout.as_secs_f64()
                )))
            })
    }
}

#[async_trait]
impl TaskStore for Bounded {
    async fn create_user(&self, email: &Email, password_hash: &str) -> Result<User, StoreError> {
        self.within(self.inner.create_user(email, password_hash))
            .await
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        self.within(self.inner.credentials(email)).await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.within(self.inner.user(id)).await
    }

    async fn external_user(
        &self,
        identity: &ExternalIdentity,
        email: Option<&str>,
    ) -> Result<User, StoreError> {
        self.within(self.inner.external_user(identity, email)).await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.within(self.inner.delete_user(id)).await
    }

    async fn create_session(
        &self,
        session: NewSession,
        max_sessions: usize,
    ) -> Result<(), StoreError> {
        self.within(self.inner.create_session(session, max_sessions))
            .await
    }

    async fn session(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.within(self.inner.session(id, now)).await
    }

    async fn session_of_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<SessionInfo>, StoreError> {
        self.within(self.inner.session_of_refresh(hash)).await
    }

    async fn refresh(&self, request: RefreshRequest) -> Result<RefreshOutcome, StoreError> {
        self.within(self.inner.refresh(request)).await
    }

    async fn revoke_session(&self, id: SessionId) -> Result<bool, StoreError> {
        self.within(self.inner.revoke_session(id)).await
    }

    async fn prune_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.within(self.inner.prune_expired(now)).await
    }

    async fn create_api_token(
        &self,
        token: NewApiToken,
        max_live: usize,
    ) -> Result<ApiTokenInfo, StoreError> {
        self.within(self.inner.create_api_token(token, max_live))
            .await
    }

    async fn api_token_owner(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<ApiTokenUse>, StoreError> {
        self.within(self.inner.api_token_owner(hash, now)).await
    }

    async fn touch_api_token(&self, hash: &TokenHash, at: Timestamp) -> Result<(), StoreError> {
        self.within(self.inner.touch_api_token(hash, at)).await
    }

    async fn api_tokens(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<ApiTokenInfo>, StoreError> {
        self.within(self.inner.api_tokens(user, now)).await
    }

    async fn revoke_api_token(
        &self,
        user: UserId,
        id: ApiTokenId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.within(self.inner.revoke_api_token(user, id, now))
            .await
    }

    async fn create_task(
        &self,
        owner: UserId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.within(self.inner.create_task(owner, draft, max_live))
            .await
    }

    async fn create_task_with_id(
        &self,
        owner: UserId,
        id: TaskId,
        draft: TaskDraft,
        max_live: u64,
    ) -> Result<Task, StoreError> {
        self.within(self.inner.create_task_with_id(owner, id, draft, max_live))
            .await
    }

    async fn task(&self, owner: UserId, task: TaskRef) -> Result<Option<Task>, StoreError> {
        self.within(self.inner.task(owner, task)).await
    }

    async fn task_json(
        &self,
        owner: UserId,
        task: TaskRef,
    ) -> Result<Option<TaskJson>, StoreError> {
        self.within(self.inner.task_json(owner, task)).await
    }

    async fn update_task(
        &self,
        owner: UserId,
        task: TaskRef,
        patch: TaskPatch,
        precondition: &Precondition,
    ) -> Result<Task, StoreError> {
        self.within(self.inner.update_task(owner, task, patch, precondition))
            .await
    }

    async fn delete_task(
        &self,
        owner: UserId,
        task: TaskRef,
        precondition: &Precondition,
    ) -> Result<(), StoreError> {
        self.within(self.inner.delete_task(owner, task, precondition))
            .await
    }

    async fn list_tasks(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPage, StoreError> {
        self.within(self.inner.list_tasks(owner, query, after))
            .await
    }

    async fn list_tasks_json(
        &self,
        owner: UserId,
        query: &ListQuery,
        after: Option<&Position>,
    ) -> Result<TaskPageJson, StoreError> {
        self.within(self.inner.list_tasks_json(owner, query, after))
            .await
    }

    async fn live_task_count(&self, owner: UserId) -> Result<u64, StoreError> {
        self.within(self.inner.live_task_count(owner)).await
    }

    async fn projects(&self, owner: UserId) -> Result<Vec<ProjectCount>, StoreError> {
        self.within(self.inner.projects(owner)).await
    }

    async fn changes(
        &self,
        owner: UserId,
        from: Option<FeedPosition>,
        limit: usize,
    ) -> Result<ChangePage, StoreError> {
        self.within(self.inner.changes(owner, from, limit)).await
    }

    async fn latest_change(&self, owner: UserId) -> Result<u64, StoreError> {
        self.within(self.inner.latest_change(owner)).await
    }

    async fn prune_deletions(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.within(self.inner.prune_deletions(before)).await
    }

    fn signals(&self) -> &Arc<Signals> {
        self.inner.signals()
    }

    async fn export(
        &self,
        out: tokio::sync::mpsc::Sender<ExportRecord>,
    ) -> Result<ExportReport, StoreError> {
        self.inner.export(out).await
    }

    async fn import(&self, records: Vec<ExportRecord>) -> Result<ImportReport, StoreError> {
        self.inner.import(records).await
    }

    async fn jwt_secret(
        &self,
        generate: &(dyn Fn() -> Vec<u8> + Send + Sync),
    ) -> Result<Vec<u8>, StoreError> {
        self.within(self.inner.jwt_secret(generate)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.within(self.inner.ping()).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.within(self.inner.flush()).await
    }

    fn broken(&self) -> Option<String> {
        self.inner.broken()
    }

    fn metrics(&self) -> StoreMetrics {
        self.inner.metrics()
    }

    async fn size_on_disk(&self) -> Result<Option<u64>, StoreError> {
        self.within(self.inner.size_on_disk()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SledConfig, SledStore};

    #[tokio::test]
    async fn a_call_that_does_not_answer_ends_as_unavailable_within_the_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sled = SledStore::open(SledConfig::new(dir.path().join("data"))).expect("opens");
        let store = Bounded::new(Arc::new(sled), Duration::from_millis(100));
        let started = std::time::Instant::now();
        let stalled = std::future::pending::<Result<(), StoreError>>();
        let err = store.within(stalled).await.expect_err("cut off");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
        store
            .ping()
            .await
            .expect("calls that answer in time pass through");
    }
}
