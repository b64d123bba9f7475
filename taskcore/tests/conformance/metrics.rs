//! What a store tells `/metrics`: the work it did, its pool, its size, and
//! the same through the `Bounded` wrapper the server puts around it.

use crate::support::{Fixture, Kind, user};
use std::sync::Arc;
use std::time::Duration;
use taskcore::store::bounded::Bounded;
use taskcore::{TaskDraft, TaskStore};

pub async fn metrics_tell_the_work_done(fixture: Fixture) {
    let store = &fixture.store;
    let ada = user(&**store, "ada").await;
    let creates = (0..20).map(|i| {
        let store = Arc::clone(store);
        tokio::spawn(async move {
            let draft = TaskDraft::new(&format!("task {i}")).expect("valid");
            store.create_task(ada.id, draft, 100).await
        })
    });
    for create in creates.collect::<Vec<_>>() {
        create.await.expect("joins").expect("creates");
    }

    let bounded = Bounded::new(Arc::clone(store), Duration::from_secs(10));
    let metrics = bounded.metrics();
    assert_eq!(metrics, store.metrics(), "Bounded forwards the snapshot");
    let size = bounded.size_on_disk().await.expect("answers");
    assert!(size.is_some_and(|bytes| bytes > 0), "size {size:?}");
    match fixture.kind {
        Kind::Sled => {
            let flushes = metrics.flushes.expect("sled flushes");
            let count = flushes.seconds.count();
            assert!((1..=21).contains(&count), "{count} flushes");
            assert_eq!(flushes.writes.count(), count);
            // The account and 20 tasks, each acknowledged after a flush
            // that covered it.
            assert!(flushes.writes.sum >= 21.0, "{} writes", flushes.writes.sum);
            assert!(metrics.pool.is_none());
        }
        Kind::Postgres => {
            let pool = metrics.pool.expect("the pool");
            assert_eq!(pool.max, 16, "the default pool size");
            assert_eq!(pool.in_use, 0, "every connection is back: {pool:?}");
            assert!(pool.idle >= 1, "{pool:?}");
            assert!(metrics.flushes.is_none());
        }
    }
}
