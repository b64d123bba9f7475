//! Deleting accounts, and the cap on API tokens.

use crate::support::{Fixture, user};
use crate::tasks::draft;
use crate::transfer::export;
use std::time::Duration;
use taskcore::store::{ExportRecord, NewApiToken, NewSession, RefreshOutcome, RefreshRequest};
use taskcore::{
    ApiTokenId, Email, ExternalIdentity, ListQuery, Precondition, SessionId, StoreError, TaskRef,
    TaskStore, Timestamp, UserId,
};

const DAY: Duration = Duration::from_secs(86_400);

/// A token hash no other test token has.
fn hash(n: u64, salt: u8) -> [u8; 32] {
    let mut hash = [salt; 32];
    hash[..8].copy_from_slice(&n.to_be_bytes());
    hash
}

fn api_token(user: UserId, hash: [u8; 32], created_at: Timestamp, ttl: Duration) -> NewApiToken {
    NewApiToken {
        id: ApiTokenId::generate(),
        user_id: user,
        name: "t".into(),
        hash,
        created_at,
        expires_at: created_at.plus(ttl),
    }
}

fn session(user: UserId, refresh_hash: [u8; 32]) -> NewSession {
    let now = Timestamp::now();
    NewSession {
        id: SessionId::generate(),
        user_id: user,
        created_at: now,
        expires_at: now.plus(90 * DAY),
        refresh_hash,
        refresh_expires_at: now.plus(30 * DAY),
    }
}

fn refresh(presented: [u8; 32], replacement: [u8; 32]) -> RefreshRequest {
    RefreshRequest {
        presented,
        replacement,
        now: Timestamp::now(),
        refresh_ttl: 30 * DAY,
        reuse_grace: Duration::from_secs(10),
    }
}

/// What one user has: tasks (the highest one deleted, so the counter is
/// written), two sessions (one rotated) and an API token.
struct Owned {
    sessions: Vec<SessionId>,
    refresh: [u8; 32],
    api_token: [u8; 32],
}

async fn populate(store: &dyn TaskStore, owner: UserId, salt: u8) -> Owned {
    for title in ["one", "two", "three"] {
        store
            .create_task(owner, draft(title), 100)
            .await
            .expect("creates");
    }
    store
        .delete_task(owner, TaskRef::Number(3), &Precondition::None)
        .await
        .expect("deletes");
    let first = session(owner, hash(1, salt));
    let second = session(owner, hash(2, salt));
    let sessions = vec![first.id, second.id];
    store.create_session(first, 100).await.expect("logs in");
    store.create_session(second, 100).await.expect("logs in");
    let rotated = store
        .refresh(refresh(hash(2, salt), hash(3, salt)))
        .await
        .expect("refreshes");
    assert!(matches!(rotated, RefreshOutcome::Rotated { .. }));
    let token = hash(4, salt);
    store
        .create_api_token(api_token(owner, token, Timestamp::now(), DAY), 100)
        .await
        .expect("creates");
    Owned {
        sessions,
        refresh: hash(3, salt),
        api_token: token,
    }
}

/// Asserts `owner` is gone with every trace of them.
async fn assert_gone(store: &dyn TaskStore, owner: UserId, owned: &Owned) {
    let now = Timestamp::now();
    assert_eq!(store.user(owner).await.expect("reads"), None);
    for sid in &owned.sessions {
        assert_eq!(store.session(*sid, now).await.expect("reads"), None);
    }
    assert_eq!(
        store
            .session_of_refresh(&owned.refresh)
            .await
            .expect("reads"),
        None
    );
    assert_eq!(
        store
            .refresh(refresh(owned.refresh, hash(99, 0)))
            .await
            .expect("refreshes"),
        RefreshOutcome::Invalid
    );
    assert_eq!(
        store
            .api_token_owner(&owned.api_token, now)
            .await
            .expect("reads"),
        None
    );
    assert!(
        store
            .api_tokens(owner, now)
            .await
            .expect("lists")
            .is_empty()
    );
    assert_eq!(
        store.task(owner, TaskRef::Number(1)).await.expect("reads"),
        None
    );
    let page = store
        .list_tasks(owner, &ListQuery::default(), None)
        .await
        .expect("lists");
    assert!(page.tasks.is_empty(), "{:?}", page.tasks);
    assert_eq!(store.live_task_count(owner).await.expect("counts"), 0);
    // Nothing can be made for them any more: no orphans.
    assert!(matches!(
        store.create_task(owner, draft("late"), 100).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.create_session(session(owner, hash(98, 0)), 100).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .create_api_token(api_token(owner, hash(97, 0), now, DAY), 100)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn deleting_a_user_removes_everything_of_theirs(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let adas = populate(store, ada.id, 1).await;
    let bobs = populate(store, bob.id, 2).await;
    let (before, _) = export(store).await;

    assert!(store.delete_user(ada.id).await.expect("deletes"));
    assert_gone(store, ada.id, &adas).await;
    let email = Email::parse("ada@example.com").expect("valid");
    assert!(store.credentials(&email).await.expect("reads").is_none());
    assert!(!store.delete_user(ada.id).await.expect("deletes"), "twice");

    // Bob keeps everything, exactly.
    let (after, counts) = export(store).await;
    let of_bob = |records: &[ExportRecord]| -> Vec<ExportRecord> {
        records
            .iter()
            .filter(|r| match r {
                ExportRecord::User(u) => u.id == bob.id,
                ExportRecord::Task(t) => t.owner == bob.id,
                ExportRecord::ApiToken(t) => t.user_id == bob.id,
            })
            .cloned()
            .collect()
    };
    assert_eq!(of_bob(&after), of_bob(&before));
    assert_eq!(of_bob(&after), after, "only bob's records are left");
    assert_eq!((counts.users, counts.tasks, counts.api_tokens), (1, 2, 1));
    let now = Timestamp::now();
    for sid in &bobs.sessions {
        assert!(store.session(*sid, now).await.expect("reads").is_some());
    }
    assert!(
        store
            .api_token_owner(&bobs.api_token, now)
            .await
            .expect("reads")
            .is_some()
    );

    // The email registers again: a new user, with nothing of the old one.
    let again = store
        .create_user(&email, "$argon2id$new")
        .await
        .expect("the email is free");
    assert_ne!(again.id, ada.id);
    let page = store
        .list_tasks(again.id, &ListQuery::default(), None)
        .await
        .expect("lists");
    assert!(page.tasks.is_empty());
    let first = store
        .create_task(again.id, draft("fresh"), 100)
        .await
        .expect("creates");
    assert_eq!(first.number, 1);
}

pub async fn deleting_an_external_user_keeps_the_local_account_of_their_email(f: Fixture) {
    let store = &*f.store;
    let local = user(store, "ada").await;
    let identity = ExternalIdentity {
        issuer: "https://idp.example".into(),
        subject: "ada".into(),
    };
    let external = store
        .external_user(&identity, Some("ada@example.com"))
        .await
        .expect("creates");
    store
        .create_task(external.id, draft("external"), 10)
        .await
        .expect("creates");
    assert!(store.delete_user(external.id).await.expect("deletes"));
    assert_eq!(store.user(external.id).await.expect("reads"), None);
    let email = Email::parse("ada@example.com").expect("valid");
    let credentials = store.credentials(&email).await.expect("reads");
    assert_eq!(credentials.map(|c| c.user), Some(local.clone()));
    // The identity is free: its next request is a new, empty user.
    let back = store.external_user(&identity, None).await.expect("creates");
    assert_ne!(back.id, external.id);
    assert_eq!(store.live_task_count(back.id).await.expect("counts"), 0);
    // Deleting the local account leaves the new external user.
    assert!(store.delete_user(local.id).await.expect("deletes"));
    assert!(store.credentials(&email).await.expect("reads").is_none());
    assert_eq!(
        store
            .external_user(&identity, None)
            .await
            .expect("finds")
            .id,
        back.id
    );
}

pub async fn deleting_a_user_while_their_tasks_are_created_leaves_none(f: Fixture) {
    let ada = user(&*f.store, "ada").await;
    let creates: Vec<_> = (0..40)
        .map(|i| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .create_task(ada.id, draft(&format!("t{i}")), 1_000)
                    .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    assert!(f.store.delete_user(ada.id).await.expect("deletes"));
    for create in creates {
        match create.await.expect("joins") {
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    let (records, _) = export(&*f.store).await;
    assert!(records.is_empty(), "left behind: {records:?}");
    assert_eq!(f.store.live_task_count(ada.id).await.expect("counts"), 0);
}

pub async fn live_api_tokens_are_capped_per_user(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let start = Timestamp::now();
    // Two that expire within the hour do not count once they have.
    for n in 0..2 {
        store
            .create_api_token(
                api_token(ada.id, hash(n, 1), start, Duration::from_secs(60)),
                100,
            )
            .await
            .expect("creates");
    }
    let later = start.plus(Duration::from_secs(3600));
    let mut ids = Vec::new();
    for n in 2..102 {
        let info = store
            .create_api_token(api_token(ada.id, hash(n, 1), later, DAY), 100)
            .await
            .unwrap_or_else(|e| panic!("token {n}: {e}"));
        ids.push(info.id);
    }
    assert!(matches!(
        store
            .create_api_token(api_token(ada.id, hash(102, 1), later, DAY), 100)
            .await,
        Err(StoreError::ApiTokenLimitReached)
    ));
    assert_eq!(
        store.api_tokens(ada.id, later).await.expect("lists").len(),
        100
    );
    assert_eq!(
        store
            .api_token_owner(&hash(102, 1), later)
            .await
            .expect("reads"),
        None,
        "the refused token was not stored"
    );
    // Per user.
    store
        .create_api_token(api_token(bob.id, hash(0, 2), later, DAY), 100)
        .await
        .expect("bob has room");
    // Revoking one makes room for one.
    store
        .revoke_api_token(ada.id, ids[0], later)
        .await
        .expect("revokes");
    store
        .create_api_token(api_token(ada.id, hash(103, 1), later, DAY), 100)
        .await
        .expect("room again");
    assert!(matches!(
        store
            .create_api_token(api_token(ada.id, hash(104, 1), later, DAY), 100)
            .await,
        Err(StoreError::ApiTokenLimitReached)
    ));
}

pub async fn concurrent_api_token_creates_stop_at_the_cap(f: Fixture) {
    let ada = user(&*f.store, "ada").await;
    let now = Timestamp::now();
    for n in 0..98 {
        f.store
            .create_api_token(api_token(ada.id, hash(n, 3), now, DAY), 100)
            .await
            .expect("creates");
    }
    let creates: Vec<_> = (98..110)
        .map(|n| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .create_api_token(api_token(ada.id, hash(n, 3), now, DAY), 100)
                    .await
            })
        })
        .collect();
    let mut created = 0;
    for create in creates {
        match create.await.expect("joins") {
            Ok(_) => created += 1,
            Err(StoreError::ApiTokenLimitReached) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 2);
    assert_eq!(
        f.store.api_tokens(ada.id, now).await.expect("lists").len(),
        100
    );
}
