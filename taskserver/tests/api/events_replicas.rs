//! Live changes across replicas: a write through one server process reaches
//! the event streams open on another server on the same database.

use crate::helpers::*;
use std::time::{Duration, Instant};

/// What the SPEC promises for a change to reach every replica's streams.
const FAN_OUT: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_replica_reaches_a_stream_on_the_other_within_a_second() {
    let one = spawn_app().await;
    let two = one.replica().await;
    let u = one.register().await;
    let mut events = two.events(&u.token, "", &[]).await;
    for round in 0..3 {
        let written = Instant::now();
        let task = one.task(&u, &format!("written through one, round {round}")).await;
        let (_, _, data) = events.event_within(FAN_OUT).await;
        assert_eq!(data["task"], task);
        assert!(written.elapsed() <= FAN_OUT, "{:?}", written.elapsed());
    }
    // And the other way round.
    let mut back = one.events(&u.token, "", &[]).await;
    let task = two.task(&u, "written through two").await;
    let (_, _, data) = back.event_within(FAN_OUT).await;
    assert_eq!(data["task"], task);
}
