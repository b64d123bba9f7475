//! Lists that read more than their page (an order other than creation or
//! project, a filter other than the project's, or a project filter by
//! creation, which sorts the subtree's ids) run on the blocking pool, at most [`PER_OWNER`] of one owner at
//! a time: a user who searches 100,000 tasks in a loop uses two threads
//! and waits for them, while everyone else's requests keep the async
//! workers. (Measured before: two such searches in flight took another
//! user's `GET` from 1 ms to 245 ms; sixteen took `/healthz` to 2.4 s.)
//!
//! An owner with at most [`SHORT_WALK`] tasks lists on the runtime
//! whatever the query: reading them all takes about a tenth of a
//! millisecond, less than the hand-off to the pool and back costs in
//! thread wake-ups (which took a third of the CPU of such lists).

use super::lock;
use crate::domain::{ListQuery, ProjectFilter, SortField, StatusFilter, UserId};
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Long lists of one owner that may run at once.
pub(super) const PER_OWNER: usize = 2;

/// The most tasks an owner may have for any list of theirs to run on the
/// runtime (see the module docs).
pub(super) const SHORT_WALK: u64 = 100;

/// Owners with a gate in memory before idle gates are dropped.
const OWNERS_KEPT: usize = 10_000;

/// Whether a list walks only as far as its page, stopping after `limit +
/// 1` keys of an index in the list's order: by creation (the `tasks` keys)
/// with no filter, and by project (the project index) with `project=P` and
/// no other filter. Anything else may read the owner's whole range (a
/// filter, `project=-` included, skips what does not match; `sort=project`
/// without `project=P` ends with the tasks without a project, found by
/// walking the `tasks` range) or every id of a project subtree.
pub(super) fn walks_only_its_page(query: &ListQuery) -> bool {
    let only_by_project = query.status == StatusFilter::All
        && query.q.is_none()
        && query.tag.is_none()
        && query.priority.is_none();
    only_by_project
        && match query.sort.field {
            SortField::Created => query.project.is_none(),
            SortField::Project => matches!(query.project, Some(ProjectFilter::Within(_))),
            _ => false,
        }
}

/// One semaphore per owner with long lists in flight.
#[derive(Default)]
pub(super) struct ListGate(Mutex<HashMap<UserId, Arc<Semaphore>>>);

impl ListGate {
    /// Waits for one of the owner's [`PER_OWNER`] slots.
    pub(super) async fn enter(&self, owner: UserId) -> Result<OwnedSemaphorePermit, StoreError> {
        let gate = {
            let mut gates = lock(&self.0);
            if gates.len() >= OWNERS_KEPT && !gates.contains_key(&owner) {
                gates.retain(|_, gate| Arc::strong_count(gate) > 1);
            }
            gates
                .entry(owner)
                .or_insert_with(|| Arc::new(Semaphore::new(PER_OWNER)))
                .clone()
        };
        gate.acquire_owned()
            .await
            .map_err(|_| StoreError::backend("the list gate closed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_walks_in_an_index_order_stay_on_the_runtime() {
        let cheap = |q: &str| walks_only_its_page(&ListQuery::parse(q).expect("valid"));
        for q in [
            "",
            "sort=-created",
            "sort=-project&project=Home",
            "sort=project&project=Home.Garden",
        ] {
            assert!(cheap(q), "{q}");
        }
        for q in [
            // Tasks without a project have no index entry: a filter walk.
            "project=-",
            "sort=-created&project=-",
            "sort=project",
            "sort=project&project=-",
            "project=Home",
            "sort=-created&project=Home.Garden",
            "sort=project&status=pending",
            "tag=a",
            "sort=due",
            "sort=title&project=-",
        ] {
            assert!(!cheap(q), "{q}");
        }
    }

    #[tokio::test]
    async fn an_owner_gets_two_slots_and_others_are_not_held_up() {
        let gate = ListGate::default();
        let (ada, bob) = (UserId::generate(), UserId::generate());
        let first = gate.enter(ada).await.expect("slot");
        let _second = gate.enter(ada).await.expect("slot");
        let third = tokio::time::timeout(Duration::from_millis(50), gate.enter(ada)).await;
        assert!(third.is_err(), "a third long list of one owner waits");
        let _bob = tokio::time::timeout(Duration::from_millis(50), gate.enter(bob))
            .await
            .expect("another owner does not wait")
            .expect("slot");
        drop(first);
        let _freed = tokio::time::timeout(Duration::from_millis(50), gate.enter(ada))
            .await
            .expect("a freed slot is taken at once")
            .expect("slot");
    }
}
