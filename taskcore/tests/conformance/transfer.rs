//! Export and import.

use crate::support::{Fixture, user};
use crate::tasks::draft;
use taskcore::store::{ExportRecord, NewApiToken, RecordCounts};
use taskcore::{
    ApiTokenId, Email, ExternalIdentity, Precondition, StoreError, TaskRef, TaskStore, Timestamp,
};

pub async fn export(store: &dyn TaskStore) -> (Vec<ExportRecord>, RecordCounts) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let reader = tokio::spawn(async move {
        let mut records = Vec::new();
        while let Some(r) = rx.recv().await {
            records.push(r);
        }
        records
    });
    let report = store.export(tx).await.expect("exports");
    assert_eq!(
        report.unreadable,
        Vec::<String>::new(),
        "every record reads"
    );
    (reader.await.expect("joins"), report.sent)
}

/// Users of every kind, tasks (one deleted at the top), a token.
async fn populate(store: &dyn TaskStore) {
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let ext = ExternalIdentity {
        issuer: "https://idp.example".into(),
        subject: "s".into(),
    };
    let carol = store
        .external_user(&ext, Some("ada@example.com"))
        .await
        .expect("creates");
    for i in 0..4 {
        let mut d = draft(&format!("ada {i}"));
        d.due = Timestamp::from_micros(1_800_000_000_123_456 + i);
        store.create_task(ada.id, d, 100).await.expect("creates");
    }
    store
        .create_task(bob.id, draft("bob"), 100)
        .await
        .expect("creates");
    store
        .create_task(carol.id, draft("carol"), 100)
        .await
        .expect("creates");
    let patch = taskcore::TaskPatch {
        completed: Some(true),
        ..Default::default()
    };
    store
        .update_task(ada.id, TaskRef::Number(2), patch, &Precondition::None)
        .await
        .expect("updates");
    store
        .delete_task(ada.id, TaskRef::Number(4), &Precondition::None)
        .await
        .expect("deletes");
    let now = Timestamp::now();
    store
        .create_api_token(
            NewApiToken {
                id: ApiTokenId::generate(),
                user_id: ada.id,
                name: "ci".into(),
                hash: [7; 32],
                created_at: now,
                expires_at: now.plus(std::time::Duration::from_secs(86_400)),
            },
            100,
        )
        .await
        .expect("creates");
    store.touch_api_token(&[7; 32], now).await.expect("touches");
}

/// Records in a canonical order, to compare exports of two stores.
fn sorted(mut records: Vec<ExportRecord>) -> Vec<ExportRecord> {
    records.sort_by_key(|r| serde_json::to_string(r).expect("encodes"));
    records
}

async fn check_copy(from: &dyn TaskStore, to: &dyn TaskStore) {
    let (records, counts) = export(from).await;
    assert_eq!(
        counts,
        RecordCounts {
            users: 3,
            tasks: 5,
            api_tokens: 1
        }
    );
    let kinds: Vec<u8> = records
        .iter()
        .map(|r| match r {
            ExportRecord::User(_) => 0,
            ExportRecord::Task(_) => 1,
            ExportRecord::ApiToken(_) => 2,
        })
        .collect();
    assert!(kinds.is_sorted(), "users, then tasks, then tokens");
    let report = to.import(records.clone()).await.expect("imports");
    assert_eq!(
        (report.added, report.unchanged),
        (counts, RecordCounts::default())
    );
    let (copied, _) = export(to).await;
    assert_eq!(sorted(copied), sorted(records.clone()));
    // The same people log in, and numbering continues past every number.
    let email = Email::parse("ada@example.com").expect("valid");
    let creds = to
        .credentials(&email)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(creds.password_hash, "$argon2id$hash-of-ada");
    let next = to
        .create_task(creds.user.id, draft("after the move"), 100)
        .await
        .expect("creates");
    assert_eq!(next.number, 5);
    let owner = to
        .api_token_owner(&[7; 32], Timestamp::now())
        .await
        .expect("ok")
        .expect("live");
    assert_eq!(owner.user, creds.user.id);
    assert_eq!(to.live_task_count(creds.user.id).await.expect("counts"), 4);
}

pub async fn export_then_import_into_a_fresh_store(f: Fixture) {
    populate(&*f.store).await;
    let target = f.fresh().await;
    check_copy(&*f.store, &*target.store).await;
}

pub async fn importing_twice_changes_nothing(f: Fixture) {
    populate(&*f.store).await;
    let (records, counts) = export(&*f.store).await;
    let target = f.fresh().await;
    target.store.import(records.clone()).await.expect("imports");
    let (before, _) = export(&*target.store).await;
    let report = target
        .store
        .import(records.clone())
        .await
        .expect("imports again");
    assert_eq!(
        (report.added, report.unchanged),
        (RecordCounts::default(), counts)
    );
    let (after, _) = export(&*target.store).await;
    assert_eq!(sorted(after), sorted(before));
    // Importing into the store it came from is also a no-op.
    let report = f.store.import(records.clone()).await.expect("imports");
    assert_eq!(report.unchanged, counts);
}

pub async fn a_conflicting_import_writes_nothing(f: Fixture) {
    populate(&*f.store).await;
    let (records, _) = export(&*f.store).await;
    let target = f.fresh().await;
    // The target has its own ada: the email conflicts.
    let own = user(&*target.store, "ada").await;
    let (before, _) = export(&*target.store).await;
    let mut changed = records.clone();
    for r in &mut changed {
        if let ExportRecord::Task(t) = r {
            t.task.title.push('!');
        }
    }
    match target.store.import(records.clone()).await {
        Err(StoreError::ImportConflict(conflicts)) => {
            assert!(
                conflicts.iter().any(|c| c.contains("ada@example.com")),
                "{conflicts:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let (after, _) = export(&*target.store).await;
    assert_eq!(after, before);
    assert_eq!(target.store.user(own.id).await.expect("reads"), Some(own));
    // Into the original store, changed tasks conflict, one by one.
    match f.store.import(changed).await {
        Err(StoreError::ImportConflict(conflicts)) => {
            assert_eq!(conflicts.len(), 5, "{conflicts:?}")
        }
        other => panic!("unexpected {other:?}"),
    }
    let (unchanged, _) = export(&*f.store).await;
    assert_eq!(unchanged, records);
}

/// A sled store copied into `f` (PostgreSQL) and from there into a new
/// sled store: nothing changes on the way.
#[cfg(feature = "postgres")]
pub async fn sled_to_postgres_and_back(f: Fixture) {
    let sled = crate::support::Fixture::sled();
    populate(&*sled.store).await;
    check_copy(&*sled.store, &*f.store).await;
    let back = crate::support::Fixture::sled();
    let (records, _) = export(&*f.store).await;
    back.store.import(records.clone()).await.expect("imports");
    let (round_trip, _) = export(&*back.store).await;
    assert_eq!(sorted(round_trip), sorted(records));
}
