//! `Replica` against a real server started in-process on port 0: offline
//! writes, sync, and the merge rules between replicas of one user.

#![cfg(feature = "replica")]

use std::path::Path;
use std::time::Instant;
use taskclient::{
    ChangeKind, Client, DropReason, Identity, ListQuery, LocalRef, LocalTask, Lost, Priority,
    Project, Recur, Replica, ReplicaError, ReplicaView, Sort, SortField, StatusFilter, Tags, Task,
    TaskDraft, TaskPatch, TaskRef, Timestamp, Title, UserId,
};

mod common;
use common::{TestServer, at, draft};

/// A replica of `client`'s user, in a new directory under `dirs`.
async fn replica(client: &Client, dirs: &tempfile::TempDir, name: &str) -> Replica {
    let identity = Identity::of(client).await.expect("who am I");
    Replica::open(dirs.path().join(name), &identity).expect("opens")
}

async fn synced(replica: &Replica, client: &Client) -> taskclient::SyncReport {
    replica.sync(client).await.expect("syncs")
}

fn tags(list: &[&str]) -> Tags {
    Tags::parse(list.iter().copied()).expect("tags")
}

fn get(replica: &Replica, task: LocalRef) -> LocalTask {
    replica
        .get(&task)
        .expect("reads")
        .unwrap_or_else(|| panic!("the replica has task {task}"))
}

/// Every task the server has, in creation order.
async fn server_tasks(client: &Client) -> Vec<Task> {
    client
        .collect_tasks(ListQuery::default())
        .await
        .expect("lists")
}

/// The replica shows exactly the server's tasks, field for field.
/// The replica, just synced, shows what the server holds, and so does its
/// view for readers (written at the end of each sync).
async fn assert_same_as_server(replica: &Replica, client: &Client) {
    let all = ListQuery {
        status: StatusFilter::All,
        ..ListQuery::default()
    };
    let shown = replica.list(&all).expect("lists");
    let local: Vec<Task> = replica
        .list(&ListQuery::default())
        .expect("lists")
        .into_iter()
        .map(|local| local.task)
        .collect();
    assert_eq!(local, server_tasks(client).await);
    let view = ReplicaView::open(replica.path(), replica.identity()).expect("a view after a sync");
    assert_eq!(view.list(&all), shown, "the view for readers lags");
    assert_eq!(view.queued(), replica.queued());
}

#[tokio::test]
async fn offline_writes_get_handles_then_numbers_at_sync() {
    let server = TestServer::start().await;
    let client = server.user("offline@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let replica = replica(&client, &dirs, "r").await;

    // Written with no request to the server: handles, no numbers.
    let milk = replica.create(draft("Buy oat milk")).expect("creates");
    let call = replica.create(draft("Call the bank")).expect("creates");
    assert_eq!((milk.label(), milk.number()), ("~1".to_string(), None));
    assert_eq!(call.label(), "~2");
    let edit = TaskPatch {
        title: Title::parse("Buy oat milk and bread").ok(),
        add_tags: Some(tags(&["shopping"])),
        ..TaskPatch::default()
    };
    let edited = replica.update(&LocalRef::Handle(1), edit).expect("edits");
    assert_eq!(edited.task.title, "Buy oat milk and bread");
    assert_eq!(edited.task.tags, ["shopping"]);
    assert_eq!(get(&replica, LocalRef::Id(milk.task.id)), edited);
    assert_eq!(replica.queued(), 3);
    assert!(server_tasks(&client).await.is_empty(), "nothing sent yet");

    let report = synced(&replica, &client).await;
    assert_eq!(report.sent, 3);
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    assert!(report.full, "a first sync is a full one");
    assert_eq!(replica.queued(), 0);
    let mut numbered: Vec<(u64, u64)> = report
        .numbered
        .iter()
        .map(|n| (n.handle, n.number))
        .collect();
    numbered.sort();
    assert_eq!(numbered, [(1, 1), (2, 2)]);

    // The handles are free; the numbers name the tasks, on both sides.
    assert_eq!(replica.get(&LocalRef::Handle(1)).expect("reads"), None);
    let milk = get(&replica, LocalRef::Number(1));
    assert_eq!((milk.label(), milk.handle), ("1".to_string(), None));
    let on_server = client.get_task(TaskRef::Number(1)).await.expect("there");
    assert_eq!(milk.task, on_server);
    assert_eq!(on_server.tags, ["shopping"]);
    assert_same_as_server(&replica, &client).await;
    assert!(replica.last_sync().expect("reads").is_some());
    server.stop().await;
}

#[tokio::test]
async fn a_sync_that_cannot_reach_the_server_keeps_the_queue() {
    // A port nobody listens on: bound, then released.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    drop(listener);
    let client = Client::builder()
        .base_url(&url)
        .retry_policy(taskclient::RetryPolicy::none())
        .build()
        .expect("client");
    let dirs = tempfile::tempdir().expect("temp dir");
    let identity = Identity::new(&url, UserId::generate());
    let replica = Replica::open(dirs.path().join("r"), &identity).expect("opens");
    replica.create(draft("On a train")).expect("creates");

    let error = replica.sync(&client).await.expect_err("offline");
    assert!(error.is_offline(), "{error:?}");
    assert_eq!(replica.queued(), 1, "the change waits for the next sync");
    assert_eq!(get(&replica, LocalRef::Handle(1)).task.title, "On a train");
}

#[tokio::test]
async fn two_replicas_editing_different_fields_and_tags_both_keep_their_change() {
    let server = TestServer::start().await;
    let laptop = server.user("fields@example.com").await;
    let phone = server.device("fields@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let on_laptop = replica(&laptop, &dirs, "laptop").await;
    let on_phone = replica(&phone, &dirs, "phone").await;
    let mut first = draft("Water plants");
    first.tags = tags(&["home", "someday"]);
    laptop.create_task(&first).await.expect("creates");
    synced(&on_laptop, &laptop).await;
    synced(&on_phone, &phone).await;

    // Both offline: the laptop renames it and adds a tag; the phone raises
    // its priority and replaces its tags (dropping one, adding another).
    let rename = TaskPatch {
        title: Title::parse("Water the plants").ok(),
        add_tags: Some(tags(&["garden"])),
        ..TaskPatch::default()
    };
    on_laptop
        .update(&LocalRef::Number(1), rename)
        .expect("edits");
    let reprioritise = TaskPatch {
        priority: Some(Priority::High),
        tags: Some(tags(&["home", "today"])),
        ..TaskPatch::default()
    };
    on_phone
        .update(&LocalRef::Number(1), reprioritise)
        .expect("edits");

    synced(&on_laptop, &laptop).await;
    synced(&on_phone, &phone).await;
    synced(&on_laptop, &laptop).await;

    let task = laptop.get_task(TaskRef::Number(1)).await.expect("there");
    assert_eq!(task.title, "Water the plants");
    assert_eq!(task.priority, Priority::High);
    let mut kept = task.tags.clone();
    kept.sort();
    assert_eq!(kept, ["garden", "home", "today"], "both tag edits kept");
    assert_same_as_server(&on_laptop, &laptop).await;
    assert_same_as_server(&on_phone, &phone).await;
    server.stop().await;
}

#[tokio::test]
async fn for_one_field_the_change_that_reaches_the_server_last_wins() {
    let server = TestServer::start().await;
    let laptop = server.user("same@example.com").await;
    let phone = server.device("same@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let on_laptop = replica(&laptop, &dirs, "laptop").await;
    let on_phone = replica(&phone, &dirs, "phone").await;
    laptop.create_task(&draft("Draft")).await.expect("creates");
    synced(&on_laptop, &laptop).await;
    synced(&on_phone, &phone).await;

    let title = |text: &str| TaskPatch {
        title: Title::parse(text).ok(),
        ..TaskPatch::default()
    };
    // The phone edits first, the laptop later: the phone reaches the server
    // last, and the server's order decides, not the clocks.
    on_phone
        .update(&LocalRef::Number(1), title("From the phone"))
        .expect("edits");
    on_laptop
        .update(&LocalRef::Number(1), title("From the laptop"))
        .expect("edits");
    synced(&on_laptop, &laptop).await;
    assert_eq!(
        get(&on_laptop, LocalRef::Number(1)).task.title,
        "From the laptop"
    );
    synced(&on_phone, &phone).await;
    synced(&on_laptop, &laptop).await;

    for (replica, client) in [(&on_laptop, &laptop), (&on_phone, &phone)] {
        assert_eq!(
            get(replica, LocalRef::Number(1)).task.title,
            "From the phone"
        );
        assert_same_as_server(replica, client).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn an_edit_of_a_task_deleted_elsewhere_is_dropped_and_reported() {
    let server = TestServer::start().await;
    let laptop = server.user("deleted@example.com").await;
    let phone = server.device("deleted@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let on_laptop = replica(&laptop, &dirs, "laptop").await;
    let on_phone = replica(&phone, &dirs, "phone").await;
    laptop
        .create_task(&draft("Old plan"))
        .await
        .expect("creates");
    laptop
        .create_task(&draft("Keep me"))
        .await
        .expect("creates");
    synced(&on_laptop, &laptop).await;
    synced(&on_phone, &phone).await;

    on_laptop.delete(&LocalRef::Number(1)).expect("deletes");
    assert_eq!(on_laptop.get(&LocalRef::Number(1)).expect("reads"), None);
    let edit = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    on_phone
        .update(&LocalRef::Number(1), edit.clone())
        .expect("edits");
    on_phone.update(&LocalRef::Number(2), edit).expect("edits");

    let report = synced(&on_laptop, &laptop).await;
    assert_eq!((report.sent, report.dropped.len()), (1, 0));
    let report = synced(&on_phone, &phone).await;
    assert_eq!(report.sent, 1, "the other edit went through");
    assert_eq!(report.dropped.len(), 1, "{:?}", report.dropped);
    let dropped = &report.dropped[0];
    assert_eq!(
        (
            dropped.change,
            &dropped.reason,
            dropped.label.as_str(),
            dropped.title.as_str()
        ),
        (
            ChangeKind::Edit,
            &DropReason::DeletedElsewhere,
            "1",
            "Old plan"
        )
    );
    assert!(
        dropped.to_string().contains("deleted elsewhere"),
        "{dropped}"
    );
    assert_eq!(on_phone.get(&LocalRef::Number(1)).expect("reads"), None);
    assert!(get(&on_phone, LocalRef::Number(2)).task.completed);
    assert_eq!(on_phone.queued(), 0);
    assert_same_as_server(&on_phone, &phone).await;
    synced(&on_laptop, &laptop).await;
    assert_same_as_server(&on_laptop, &laptop).await;
    server.stop().await;
}

#[tokio::test]
async fn a_change_the_server_refuses_is_dropped_with_its_message_and_the_rest_goes_on() {
    let server = TestServer::start().await;
    let client = server.user("refused@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let replica = replica(&client, &dirs, "r").await;
    // A series of two: its second task cannot move past the series' end,
    // which only the server can tell (it keeps the series' first date).
    let first = client
        .create(Title::parse("Twice").expect("a title"))
        .due(at("2026-12-07T09:00:00Z"))
        .recur(Recur::parse("FREQ=WEEKLY;COUNT=2").expect("a rule"))
        .send()
        .await
        .expect("creates");
    client
        .update(TaskRef::Id(first.id))
        .completed(true)
        .send()
        .await
        .expect("completes");
    synced(&replica, &client).await;
    let second = get(&replica, LocalRef::Number(2));
    assert_eq!(second.task.due, Some(at("2026-12-14T09:00:00Z")));

    let later = TaskPatch {
        due: Some(Some(at("2026-12-16T09:00:00Z"))),
        ..TaskPatch::default()
    };
    let moved = replica
        .update(&LocalRef::Number(2), later)
        .expect("accepted here");
    assert_eq!(moved.task.due, Some(at("2026-12-16T09:00:00Z")));
    let rename = TaskPatch {
        title: Title::parse("Twice, renamed").ok(),
        ..TaskPatch::default()
    };
    replica.update(&LocalRef::Number(1), rename).expect("edits");

    let report = synced(&replica, &client).await;
    assert_eq!(report.sent, 1, "the edit after the refused one went on");
    assert_eq!(report.dropped.len(), 1, "{:?}", report.dropped);
    let dropped = &report.dropped[0];
    assert_eq!(
        (dropped.change, dropped.label.as_str()),
        (ChangeKind::Edit, "2")
    );
    match &dropped.reason {
        DropReason::Refused(message) => {
            assert!(message.starts_with("due: "), "{message}");
            assert!(message.contains("COUNT"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        get(&replica, LocalRef::Number(2)).task.due,
        Some(at("2026-12-14T09:00:00Z")),
        "the replica shows the server's date again"
    );
    assert_eq!(
        get(&replica, LocalRef::Number(1)).task.title,
        "Twice, renamed"
    );
    assert_eq!(replica.queued(), 0);
    assert_same_as_server(&replica, &client).await;
    server.stop().await;
}

#[tokio::test]
async fn a_recurring_task_completed_on_two_replicas_has_one_successor() {
    let server = TestServer::start().await;
    let laptop = server.user("recur@example.com").await;
    let phone = server.device("recur@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let on_laptop = replica(&laptop, &dirs, "laptop").await;
    let on_phone = replica(&phone, &dirs, "phone").await;
    let mut weekly = draft("Water plants");
    weekly.due = Some(at("2026-12-07T18:00:00Z"));
    weekly.recur = Some(Recur::from_friendly("weekly").expect("a rule"));
    weekly.project = Some(Project::parse("Home.Garden").expect("a project"));
    on_laptop.create(weekly).expect("creates");
    synced(&on_laptop, &laptop).await;
    synced(&on_phone, &phone).await;

    let done = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    for replica in [&on_laptop, &on_phone] {
        let completed = replica
            .update(&LocalRef::Number(1), done.clone())
            .expect("completes");
        assert!(completed.task.completed);
        assert_eq!(replica.list(&ListQuery::default()).expect("lists").len(), 1);
    }
    let first = synced(&on_laptop, &laptop).await;
    let second = synced(&on_phone, &phone).await;
    synced(&on_laptop, &laptop).await;

    let tasks = server_tasks(&laptop).await;
    assert_eq!(tasks.len(), 2, "one successor: {tasks:#?}");
    assert_eq!(
        first.successors,
        vec![taskclient::Successor {
            completed: tasks[0].id,
            next: tasks[1].id
        }],
        "the sync that completed it names the successor"
    );
    // The server names the one successor to the second completion too.
    assert!(
        second.successors.iter().all(|s| s.next == tasks[1].id),
        "{:?}",
        second.successors
    );
    let next = &tasks[1];
    assert_eq!(
        (next.number, next.completed, next.due),
        (2, false, Some(at("2026-12-14T18:00:00Z")))
    );
    assert_eq!(next.series, Some(tasks[0].id));
    assert_same_as_server(&on_laptop, &laptop).await;
    assert_same_as_server(&on_phone, &phone).await;
    server.stop().await;
}

#[tokio::test]
async fn a_queue_of_a_thousand_changes_syncs_in_one_go() {
    let server = TestServer::start().await;
    let client = server.user("thousand@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let replica = replica(&client, &dirs, "r").await;

    // 600 creates, 300 edits, 100 deletes.
    let writing = Instant::now();
    for i in 0..600 {
        replica
            .create(draft(&format!("Task {i}")))
            .expect("creates");
    }
    for handle in 1..=300 {
        let edit = TaskPatch {
            priority: Some(Priority::Medium),
            add_tags: Some(tags(&["batch"])),
            ..TaskPatch::default()
        };
        replica
            .update(&LocalRef::Handle(handle), edit)
            .expect("edits");
    }
    for handle in 501..=600 {
        replica.delete(&LocalRef::Handle(handle)).expect("deletes");
    }
    let written = writing.elapsed();
    assert_eq!(replica.queued(), 1000);

    let syncing = Instant::now();
    let report = synced(&replica, &client).await;
    let took = syncing.elapsed();
    println!(
        "1,000 queued changes: written locally (each durable) in {written:?}, synced in {took:?}"
    );
    assert_eq!(report.sent, 1000);
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    assert_eq!(report.numbered.len(), 500);
    assert_eq!(replica.queued(), 0);
    let tasks = server_tasks(&client).await;
    assert_eq!(tasks.len(), 500);
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t.priority == Priority::Medium)
            .count(),
        300
    );
    assert_same_as_server(&replica, &client).await;
    server.stop().await;
}

#[tokio::test]
async fn lists_have_the_servers_filters_and_order() {
    let server = TestServer::start().await;
    let client = server.user("order@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let replica = replica(&client, &dirs, "r").await;
    let projects = [None, Some("Home"), Some("Home.Garden"), Some("Homework")];
    for i in 0..24usize {
        let mut task = draft(&format!("{} task {i}", ["b", "A", "c"][i % 3]));
        task.priority = Priority::ALL[i % 4];
        task.due = (i % 5 != 0).then(|| at(&format!("2026-12-{:02}T09:00:00Z", 1 + i % 7)));
        task.project = projects[i % 4].map(|p| Project::parse(p).expect("a project"));
        task.tags = tags(if i % 2 == 0 { &["even"] } else { &["odd"] });
        task.completed = i % 3 == 0;
        replica.create(task).expect("creates");
    }
    synced(&replica, &client).await;

    let queries = [
        "",
        "sort=-created",
        "sort=due",
        "sort=-due",
        "sort=priority&status=pending",
        "sort=-title",
        "sort=title&tag=even",
        "sort=project",
        "sort=-project&project=Home",
        "project=-&sort=-priority",
        "q=TASK%201&status=completed",
    ];
    for text in queries {
        let query = ListQuery {
            limit: 7,
            ..ListQuery::parse(text).expect("a query")
        };
        let local: Vec<_> = replica
            .list(&query)
            .expect("lists")
            .into_iter()
            .map(|l| l.task.id)
            .collect();
        let remote: Vec<_> = client
            .collect_tasks(query.clone())
            .await
            .expect("lists")
            .into_iter()
            .map(|t| t.id)
            .collect();
        assert!(!remote.is_empty(), "{text} shows something");
        assert_eq!(local, remote, "{text}");
    }
    let query = ListQuery {
        status: StatusFilter::Pending,
        sort: Sort {
            field: SortField::Due,
            descending: true,
        },
        ..ListQuery::default()
    };
    assert!(
        replica
            .list(&query)
            .expect("lists")
            .iter()
            .all(|l| !l.task.completed)
    );
    assert_eq!(
        replica.projects().expect("counts"),
        client.projects().await.expect("counts")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reopened_replica_keeps_its_queue_and_cursor() {
    let server = TestServer::start().await;
    let client = server.user("reopen@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let first = replica(&client, &dirs, "r").await;
    client
        .create_task(&draft("From the server"))
        .await
        .expect("creates");
    synced(&first, &client).await;
    first
        .create(draft("Queued before closing"))
        .expect("creates");
    let identity = first.identity().clone();
    drop(first);

    client
        .create_task(&draft("Made meanwhile"))
        .await
        .expect("creates");
    let reopened = Replica::open(dirs.path().join("r"), &identity).expect("reopens");
    assert_eq!(reopened.queued(), 1);
    assert_eq!(
        get(&reopened, LocalRef::Handle(1)).task.title,
        "Queued before closing"
    );
    let report = synced(&reopened, &client).await;
    assert!(!report.full, "it went on from its cursor");
    assert_eq!(report.sent, 1);
    // The change made meanwhile, and the queued create coming back numbered.
    assert_eq!(report.received, 2);
    assert_eq!(
        get(&reopened, LocalRef::Number(3)).task.title,
        "Queued before closing"
    );
    assert_same_as_server(&reopened, &client).await;
    server.stop().await;
}

#[tokio::test]
async fn a_cursor_the_server_forgot_means_a_full_sync_that_keeps_the_queue() {
    let server =
        TestServer::with(|c| c.tombstone_retention = std::time::Duration::from_secs(1)).await;
    let laptop = server.user("expired@example.com").await;
    let phone = server.device("expired@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let on_laptop = replica(&laptop, &dirs, "laptop").await;
    for title in ["Deleted elsewhere", "Kept"] {
        laptop.create_task(&draft(title)).await.expect("creates");
    }
    synced(&on_laptop, &laptop).await;
    phone
        .delete_task(TaskRef::Number(1), None)
        .await
        .expect("deletes");
    // The cursor must age past the retention (whole seconds on the
    // server): only time does that.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    on_laptop.create(draft("Queued offline")).expect("creates");

    let report = synced(&on_laptop, &laptop).await;
    assert!(report.full, "the server forgot the cursor");
    assert_eq!(report.sent, 1);
    assert_eq!(on_laptop.get(&LocalRef::Number(1)).expect("reads"), None);
    assert_eq!(
        get(&on_laptop, LocalRef::Number(3)).task.title,
        "Queued offline"
    );
    assert_same_as_server(&on_laptop, &laptop).await;
    // The new cursor is fresh.
    assert!(!synced(&on_laptop, &laptop).await.full);
    server.stop().await;
}

/// Copies a closed replica's directory: the copy is the replica as it was,
/// as if a process had been killed before it recorded what came next.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creates");
    for entry in std::fs::read_dir(from).expect("reads") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copies");
        }
    }
}

#[tokio::test]
async fn a_sync_whose_acknowledgements_were_lost_sends_again_without_doubling() {
    let server = TestServer::start().await;
    let client = server.user("resend@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let original = replica(&client, &dirs, "r").await;
    let identity = original.identity().clone();
    synced(&original, &client).await;
    original.create(draft("Sent twice")).expect("creates");
    let tag = TaskPatch {
        add_tags: Some(tags(&["once"])),
        completed: Some(true),
        ..TaskPatch::default()
    };
    original.update(&LocalRef::Handle(1), tag).expect("edits");
    let doomed = original
        .create(draft("Created then deleted"))
        .expect("creates");
    original.delete(&LocalRef::Handle(2)).expect("deletes");
    drop(original);
    // The replica as it was before its sync: the server will have it all,
    // the copy will not know.
    copy_dir(&dirs.path().join("r"), &dirs.path().join("killed"));

    let original = Replica::open(dirs.path().join("r"), &identity).expect("opens");
    assert_eq!(synced(&original, &client).await.sent, 4);
    drop(original);
    let killed = Replica::open(dirs.path().join("killed"), &identity).expect("opens");
    assert_eq!(killed.queued(), 4);
    let report = synced(&killed, &client).await;
    assert_eq!(report.sent, 4, "each counts as done");
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    assert_eq!(killed.queued(), 0);

    let tasks = server_tasks(&client).await;
    assert_eq!(tasks.len(), 1, "nothing doubled: {tasks:#?}");
    assert_eq!(
        (tasks[0].tags.as_slice(), tasks[0].completed),
        (["once".to_string()].as_slice(), true)
    );
    assert!(
        client.get_task(TaskRef::Id(doomed.task.id)).await.is_err(),
        "the deleted task stays deleted"
    );
    assert_same_as_server(&killed, &client).await;
    server.stop().await;
}

#[tokio::test]
async fn a_replica_opens_for_its_own_user_and_server_only() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let dir = dirs.path().join("r");
    let ada = Identity::new("http://127.0.0.1:8080", UserId::generate());
    let replica = Replica::open(&dir, &ada).expect("opens");
    replica.create(draft("Ada's secret")).expect("creates");
    drop(replica);

    let bob = Identity::new("http://127.0.0.1:8080", UserId::generate());
    let elsewhere = Identity::new("https://tasks.example.com", ada.user);
    for other in [&bob, &elsewhere] {
        match Replica::open(&dir, other) {
            Err(ReplicaError::Foreign { found_user, .. }) => assert_eq!(found_user, ada.user),
            other => panic!("expected Foreign, got {other:?}"),
        }
    }
    // The same identity, written with a trailing slash, is the same.
    let ada_slash = Identity::new("http://127.0.0.1:8080/", ada.user);
    let reopened = Replica::open(&dir, &ada_slash).expect("reopens");
    assert_eq!(reopened.queued(), 1);
    // One process at a time.
    assert!(matches!(
        Replica::open(&dir, &ada),
        Err(ReplicaError::Busy { .. })
    ));
    drop(reopened);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "owner only");
    }

    // A replica from a newer version is refused, readable as such.
    {
        let db = sled::open(&dir).expect("opens");
        db.insert(b"m/format", b"99".as_slice()).expect("writes");
        db.flush().expect("flushes");
    }
    let error = Replica::open(&dir, &ada).expect_err("newer");
    assert!(
        matches!(error, ReplicaError::FutureFormat { found: 99, .. }),
        "{error:?}"
    );
    assert!(error.is_unreadable());
    // So is a sled database that is not a replica.
    let other = dirs.path().join("other");
    {
        let db = sled::open(&other).expect("opens");
        db.insert(b"something", b"else".as_slice()).expect("writes");
        db.flush().expect("flushes");
    }
    let error = Replica::open(&other, &ada).expect_err("not a replica");
    assert!(error.is_unreadable(), "{error:?}");

    // Rebuilding moves the newer replica aside and keeps its queue.
    let (rebuilt, report) = Replica::open_or_rebuild(&dir, &ada).expect("rebuilds");
    let report = report.expect("it was unreadable");
    assert!(
        matches!(report.reason, ReplicaError::FutureFormat { found: 99, .. }),
        "{report:?}"
    );
    assert_eq!((report.kept, report.lost), (1, Lost::Nothing));
    assert!(report.moved_to.is_dir(), "kept for the user: {report:?}");
    assert_eq!(rebuilt.queued(), 1, "the change still goes out");
    let shown = rebuilt.list(&ListQuery::default()).expect("lists");
    assert_eq!(
        shown.iter().map(|t| t.label()).collect::<Vec<_>>(),
        ["~1"],
        "the task created there shows again, with its handle"
    );
    drop(rebuilt);
    let (again, report) = Replica::open_or_rebuild(&dir, &ada).expect("opens");
    assert!(report.is_none(), "a readable replica is opened as it is");
    assert_eq!(again.queued(), 1);
    // Another program's database: moved aside, nothing of it read.
    let (fresh, report) = Replica::open_or_rebuild(&other, &ada).expect("rebuilds");
    let report = report.expect("it was unreadable");
    assert_eq!((report.kept, report.lost), (0, Lost::Unknown));
    assert_eq!(fresh.queued(), 0);
}

/// One step of the property test: a local change on replica `r`, or a sync
/// of it. `pick` chooses among the tasks the replica shows.
#[derive(Clone, Debug)]
enum Step {
    Create { r: usize },
    Retitle { r: usize, pick: usize },
    Toggle { r: usize, pick: usize },
    AddTag { r: usize, pick: usize },
    RemoveTag { r: usize, pick: usize },
    Delete { r: usize, pick: usize },
    Sync { r: usize },
}

const REPLICAS: usize = 3;

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let r = 0..REPLICAS;
    let pick = 0..4usize;
    prop_oneof![
        3 => r.clone().prop_map(|r| Step::Create { r }),
        2 => (r.clone(), pick.clone()).prop_map(|(r, pick)| Step::Retitle { r, pick }),
        2 => (r.clone(), pick.clone()).prop_map(|(r, pick)| Step::Toggle { r, pick }),
        2 => (r.clone(), pick.clone()).prop_map(|(r, pick)| Step::AddTag { r, pick }),
        1 => (r.clone(), pick.clone()).prop_map(|(r, pick)| Step::RemoveTag { r, pick }),
        1 => (r.clone(), pick).prop_map(|(r, pick)| Step::Delete { r, pick }),
        2 => r.prop_map(|r| Step::Sync { r }),
    ]
}

/// A change as the model of the server gets it when its replica syncs.
enum Sent {
    Create(taskcore::TaskId, TaskDraft),
    Edit(taskcore::TaskId, TaskPatch),
    Delete(taskcore::TaskId),
}

/// The merge rules as a model: the server applies each replica's changes
/// in the order that replica made them, replicas in the order they sync;
/// an edit of a task it no longer has, or one it refuses, changes nothing.
#[derive(Default)]
struct Model {
    tasks: std::collections::BTreeMap<taskcore::TaskId, Task>,
    numbers: u64,
}

impl Model {
    fn receive(&mut self, sent: Sent) {
        let now = Timestamp::now();
        match sent {
            Sent::Create(id, draft) => {
                self.numbers += 1;
                self.tasks
                    .insert(id, Task::new(id, self.numbers, draft, now));
            }
            Sent::Edit(id, patch) => {
                if let Some(task) = self.tasks.get_mut(&id) {
                    let _refused = task.apply(patch, &mut None, now);
                }
            }
            Sent::Delete(id) => {
                self.tasks.remove(&id);
            }
        }
    }
}

/// What the property compares of a task: what the merge rules decide.
fn essence(task: &Task) -> (taskcore::TaskId, u64, String, bool, Vec<String>) {
    (
        task.id,
        task.number,
        task.title.clone(),
        task.completed,
        task.tags.clone(),
    )
}

async fn run_steps(steps: Vec<Step>) {
    let server = TestServer::start().await;
    let first = server.user("property@example.com").await;
    let dirs = tempfile::tempdir().expect("temp dir");
    let mut clients = vec![first];
    for _ in 1..REPLICAS {
        clients.push(server.device("property@example.com").await);
    }
    let mut replicas = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        replicas.push(replica(client, &dirs, &format!("r{i}")).await);
    }
    let mut queues: Vec<Vec<Sent>> = (0..REPLICAS).map(|_| Vec::new()).collect();
    let mut model = Model::default();
    let mut fresh = 0u32;
    let mut fresh_name = |prefix: &str| {
        fresh += 1;
        format!("{prefix}{fresh}")
    };
    let target = |replica: &Replica, pick: usize| -> Option<LocalTask> {
        let shown = replica.list(&ListQuery::default()).expect("lists");
        (!shown.is_empty()).then(|| shown[pick % shown.len()].clone())
    };
    // Two tasks every replica has, so that their edits meet.
    for title in ["shared 1", "shared 2"] {
        let created = replicas[0].create(draft(title)).expect("creates");
        queues[0].push(Sent::Create(created.task.id, draft(title)));
    }
    for r in 0..REPLICAS {
        replicas[r].sync(&clients[r]).await.expect("syncs");
        for sent in queues[r].drain(..) {
            model.receive(sent);
        }
    }
    for step in steps {
        match step {
            Step::Create { r } => {
                let draft = draft(&fresh_name("task "));
                let created = replicas[r].create(draft.clone()).expect("creates");
                queues[r].push(Sent::Create(created.task.id, draft));
            }
            Step::Sync { r } => {
                replicas[r].sync(&clients[r]).await.expect("syncs");
                for sent in queues[r].drain(..) {
                    model.receive(sent);
                }
            }
            Step::Retitle { r, pick }
            | Step::Toggle { r, pick }
            | Step::AddTag { r, pick }
            | Step::RemoveTag { r, pick }
            | Step::Delete { r, pick } => {
                let Some(local) = target(&replicas[r], pick) else {
                    continue;
                };
                let id = local.task.id;
                // Each edit changes its field, so the queue carries exactly it.
                let patch = match step {
                    Step::Retitle { .. } => TaskPatch {
                        title: Title::parse(&fresh_name("title ")).ok(),
                        ..TaskPatch::default()
                    },
                    Step::Toggle { .. } => TaskPatch {
                        completed: Some(!local.task.completed),
                        ..TaskPatch::default()
                    },
                    Step::AddTag { .. } => TaskPatch {
                        add_tags: Some(tags(&[&fresh_name("tag")])),
                        ..TaskPatch::default()
                    },
                    Step::RemoveTag { .. } => match local.task.tags.first() {
                        Some(tag) => TaskPatch {
                            remove_tags: Some(tags(&[tag])),
                            ..TaskPatch::default()
                        },
                        None => continue,
                    },
                    _ => {
                        replicas[r].delete(&LocalRef::Id(id)).expect("deletes");
                        queues[r].push(Sent::Delete(id));
                        continue;
                    }
                };
                match replicas[r].update(&LocalRef::Id(id), patch.clone()) {
                    Ok(_) => queues[r].push(Sent::Edit(id, patch)),
                    // More tags than a task may have: refused here, as there.
                    Err(ReplicaError::Invalid(_)) => {}
                    Err(other) => panic!("edit failed: {other}"),
                }
            }
        }
    }
    // Everyone sends, then everyone receives.
    for round in 0..2 {
        for r in 0..REPLICAS {
            replicas[r].sync(&clients[r]).await.expect("syncs");
            if round == 0 {
                for sent in queues[r].drain(..) {
                    model.receive(sent);
                }
            }
        }
    }
    let on_server = server_tasks(&clients[0]).await;
    let expected: Vec<_> = model.tasks.values().map(essence).collect();
    assert_eq!(
        on_server.iter().map(essence).collect::<Vec<_>>(),
        expected,
        "the server follows the merge rules"
    );
    for (replica, client) in replicas.iter().zip(&clients) {
        assert_eq!(replica.queued(), 0);
        assert_same_as_server(replica, client).await;
    }
    server.stop().await;
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 10,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn replicas_synced_in_any_order_agree_with_the_server_and_the_model(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run_steps(steps));
    }
}

#[test]
fn readers_see_what_is_durable_through_the_view() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let dir = dirs.path().join("r");
    let ada = Identity::new("http://127.0.0.1:8080", UserId::generate());
    drop(Replica::open(&dir, &ada).expect("opens"));
    let empty = ReplicaView::open(&dir, &ada).expect("a handle that found none writes one");
    assert_eq!((empty.last_sync(), empty.queued()), (None, 0));
    assert!(empty.list(&ListQuery::default()).is_empty());

    let replica = Replica::open(&dir, &ada).expect("reopens");
    replica.create(draft("Seen by readers")).expect("creates");
    assert!(
        ReplicaView::open(&dir, &ada).is_none(),
        "a write not yet in the view: no view, rather than a stale one"
    );
    drop(replica);
    let replica = Replica::open(&dir, &ada).expect("reopens");
    // The replica is open here: a reader needs neither it nor its lock.
    let view = ReplicaView::open(&dir, &ada).expect("written when the handle was dropped");
    assert_eq!(view.queued(), 1);
    let query = ListQuery {
        q: Some("SEEN".into()),
        ..ListQuery::default()
    };
    assert_eq!(
        view.list(&query),
        replica.list(&query).expect("lists"),
        "the same answer as the replica"
    );
    assert_eq!(
        view.get(&LocalRef::Handle(1)).map(|t| t.task.title),
        Some("Seen by readers".to_string())
    );
    assert_eq!(view.projects(), replica.projects().expect("projects"));

    // Another user's reader gets nothing; nor does anyone from a damaged view.
    assert!(ReplicaView::open(&dir, &Identity::new(&ada.server, UserId::generate())).is_none());
    std::fs::write(dir.join("view.json"), b"{\"format\":").expect("damages");
    assert!(ReplicaView::open(&dir, &ada).is_none());
    // The next write makes it again.
    let retitle = TaskPatch {
        title: Some(Title::parse("Seen again").expect("a title")),
        ..TaskPatch::default()
    };
    replica
        .update(&LocalRef::Handle(1), retitle)
        .expect("updates");
    drop(replica);
    let view = ReplicaView::open(&dir, &ada).expect("written again");
    assert_eq!(
        view.get(&LocalRef::Handle(1)).map(|t| t.task.title),
        Some("Seen again".to_string())
    );
}
