//! The SDK against a real server started in-process on port 0.

use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use taskclient::{Change, ChangesResponse, Client, Error, LiveChange, StatusCode, TokenPair};
use taskcore::{
    Description, ListQuery, Priority, Sort, SortField, StatusFilter, Tags, TaskPatch, TaskRef,
    Timestamp, Title,
};

mod common;
use common::{PASSWORD, TestServer, at, draft};
use taskserver::config::Switch;

#[tokio::test]
async fn accounts_sessions_and_me() {
    let server = TestServer::start().await;
    let pairs = Arc::new(Mutex::new(Vec::<TokenPair>::new()));
    let seen = pairs.clone();
    let client = Client::builder()
        .base_url(&server.url)
        .on_token_refresh(move |pair| seen.lock().expect("lock").push(pair.clone()))
        .build()
        .expect("client");

    let session = client
        .register("  Ada@Example.com ", PASSWORD)
        .await
        .expect("register");
    assert_eq!(session.user.email.as_deref(), Some("ada@example.com"));
    assert_eq!(session.token_type, "Bearer");
    assert!(session.expires_in > 0);
    assert_eq!(
        pairs.lock().expect("lock").len(),
        1,
        "register hands the pair to the callback"
    );
    let me = client.me().await.expect("me");
    assert_eq!(me, session.user);

    // The same email again is a conflict.
    match server.client().register("ada@example.com", PASSWORD).await {
        Err(Error::Conflict { problem }) => {
            assert_eq!(problem.code.as_deref(), Some("email_taken"))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // A malformed email is a validation error naming the field.
    match server.client().register("not-an-email", PASSWORD).await {
        Err(Error::Validation { errors }) => {
            assert!(errors.iter().any(|e| e.field == "email"), "{errors:?}")
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    // Wrong password and unknown email are the same 401.
    for (email, password) in [
        ("ada@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
    ] {
        let error = server
            .client()
            .login(email, password)
            .await
            .expect_err("refused");
        assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
        assert_eq!(error.code(), Some("invalid_credentials"));
    }
    // No token at all.
    let error = server.client().me().await.expect_err("no token");
    assert!(matches!(error, Error::Unauthorized { .. }));
    assert_eq!(error.code(), Some("missing_token"));

    // A second login is a second session; explicit refresh rotates its tokens.
    let other = server.client();
    let login = other
        .login("ada@example.com", PASSWORD)
        .await
        .expect("login");
    let refreshed = other.refresh().await.expect("refresh");
    assert_ne!(refreshed.refresh_token, login.refresh_token);
    assert_eq!(
        other.tokens().and_then(|t| t.refresh_token),
        Some(refreshed.refresh_token.clone())
    );
    // The used refresh token is refused.
    let error = server
        .client()
        .refresh_with(&login.refresh_token)
        .await
        .expect_err("reused");
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");

    // Logout ends that session only, and the client forgets its tokens.
    let old_access = other.tokens().expect("tokens").access_token;
    other.logout().await.expect("logout");
    assert!(other.tokens().is_none());
    let stale = Client::builder()
        .base_url(&server.url)
        .access_token(old_access)
        .build()
        .expect("client");
    assert!(matches!(stale.me().await, Err(Error::Unauthorized { .. })));
    let stale_refresh = server.client().refresh_with(&refreshed.refresh_token).await;
    assert!(matches!(stale_refresh, Err(Error::Unauthorized { .. })));
    client.me().await.expect("the first session lives on");

    // Refresh without a refresh token is refused before any request.
    let bare = server.client();
    assert!(matches!(
        bare.refresh().await,
        Err(Error::Unauthorized { problem: None })
    ));
    server.stop().await;
}

#[tokio::test]
async fn task_crud_with_versions() {
    let server = TestServer::start().await;
    let client = server.user("crud@example.com").await;

    let mut new = draft("  Buy oat milk ");
    new.description = Description::parse("two litres\nunsweetened").expect("valid");
    new.priority = Priority::High;
    new.tags = Tags::parse(["shopping", "home", "shopping"]).expect("valid");
    new.due = Timestamp::parse_rfc3339("2030-01-01T12:00:00+02:00");
    let task = client.create_task(&new).await.expect("create");
    assert_eq!(task.number, 1);
    assert_eq!(task.title, "Buy oat milk");
    assert_eq!(task.tags, ["shopping", "home"]);
    assert_eq!(
        task.due.map(|d| d.to_string()).as_deref(),
        Some("2030-01-01T10:00:00Z")
    );
    assert_eq!(
        (task.version, task.completed, task.completed_at),
        (1, false, None)
    );

    // By number and by UUID.
    assert_eq!(
        client
            .get_task(TaskRef::Number(1))
            .await
            .expect("by number"),
        task
    );
    assert_eq!(
        client.get_task(TaskRef::Id(task.id)).await.expect("by id"),
        task
    );

    // PATCH: only the given fields; due cleared; completed sets completed_at.
    let patch = TaskPatch {
        completed: Some(true),
        due: Some(None),
        ..TaskPatch::default()
    };
    let done = client
        .update_task(TaskRef::Number(1), &patch, Some(1))
        .await
        .expect("patch");
    assert_eq!((done.version, done.completed, done.due), (2, true, None));
    assert!(done.completed_at.is_some());
    assert_eq!(done.title, task.title);
    // A stale version is refused and changes nothing.
    let retitle = TaskPatch {
        title: Some(Title::parse("Other").expect("valid")),
        ..TaskPatch::default()
    };
    assert!(matches!(
        client
            .update_task(TaskRef::Number(1), &retitle, Some(1))
            .await,
        Err(Error::VersionMismatch)
    ));
    // A PATCH that changes nothing keeps the version.
    let same = client
        .update_task(TaskRef::Number(1), &TaskPatch::default(), None)
        .await
        .expect("no-op");
    assert_eq!(same.version, 2);

    // PUT: every field replaced, absent ones back to defaults.
    assert!(matches!(
        client
            .replace_task(TaskRef::Id(task.id), &draft("Replaced"), Some(1))
            .await,
        Err(Error::VersionMismatch)
    ));
    let replaced = client
        .replace_task(TaskRef::Id(task.id), &draft("Replaced"), Some(2))
        .await
        .expect("put");
    assert_eq!(replaced.title, "Replaced");
    assert_eq!(
        (replaced.priority, replaced.completed, replaced.version),
        (Priority::None, false, 3)
    );
    assert!(replaced.tags.is_empty() && replaced.description.is_empty());

    // DELETE with a stale version is refused; then deleted, it is gone.
    assert!(matches!(
        client.delete_task(TaskRef::Number(1), Some(2)).await,
        Err(Error::VersionMismatch)
    ));
    client
        .delete_task(TaskRef::Number(1), Some(3))
        .await
        .expect("delete");
    assert!(matches!(
        client.get_task(TaskRef::Number(1)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        client.delete_task(TaskRef::Id(task.id), None).await,
        Err(Error::NotFound)
    ));
    // Numbers are never reused.
    assert_eq!(
        client
            .create_task(&draft("Next"))
            .await
            .expect("create")
            .number,
        2
    );

    // Another user's task is not found, by number or by id.
    let mallory = server.user("mallory@example.com").await;
    assert!(matches!(
        mallory.get_task(TaskRef::Number(2)).await,
        Err(Error::NotFound)
    ));
    let error = mallory
        .get_task(TaskRef::Id(task.id))
        .await
        .expect_err("isolated");
    assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
    server.stop().await;
}

#[tokio::test]
async fn listing_filters_and_pagination() {
    let server = TestServer::start().await;
    let client = server.user("pages@example.com").await;
    for i in 1..=23 {
        let mut new = draft(&format!("Task {i:02}"));
        if i % 3 == 0 {
            new.tags = Tags::parse(["three"]).expect("valid");
        }
        if i % 5 == 0 {
            new.priority = Priority::High;
        }
        client.create_task(&new).await.expect("create");
    }
    let done = TaskPatch {
        completed: Some(true),
        ..TaskPatch::default()
    };
    for n in [2, 4, 6] {
        client
            .update_task(TaskRef::Number(n), &done, None)
            .await
            .expect("complete");
    }

    // One page at a time.
    let first = client
        .list_tasks(&ListQuery {
            limit: 10,
            ..ListQuery::default()
        })
        .await
        .expect("page");
    assert_eq!(first.tasks.len(), 10);
    let cursor = first.next_cursor.clone().expect("more pages");
    let second = client
        .list_tasks(&ListQuery {
            limit: 10,
            cursor: Some(cursor),
            ..ListQuery::default()
        })
        .await
        .expect("page 2");
    assert_eq!(second.tasks[0].number, 11);

    // Every page, every task once, in order.
    let query = ListQuery {
        limit: 4,
        ..ListQuery::default()
    };
    let pages: Vec<_> = client
        .pages(query.clone())
        .try_collect()
        .await
        .expect("pages");
    assert_eq!(pages.len(), 6);
    let all: Vec<_> = client
        .all_tasks(query.clone())
        .try_collect()
        .await
        .expect("all");
    let numbers: Vec<u64> = all.iter().map(|t| t.number).collect();
    assert_eq!(numbers, (1..=23).collect::<Vec<_>>());
    assert_eq!(all.iter().map(|t| t.id).collect::<HashSet<_>>().len(), 23);
    assert_eq!(
        client.collect_tasks(query).await.expect("collect").len(),
        23
    );

    // Filters and sorts.
    let pending = ListQuery {
        status: StatusFilter::Pending,
        limit: 3,
        ..ListQuery::default()
    };
    assert_eq!(
        client.collect_tasks(pending).await.expect("pending").len(),
        20
    );
    let completed = ListQuery {
        status: StatusFilter::Completed,
        ..ListQuery::default()
    };
    let completed = client.collect_tasks(completed).await.expect("completed");
    assert_eq!(
        completed.iter().map(|t| t.number).collect::<Vec<_>>(),
        [2, 4, 6]
    );
    let tagged = ListQuery {
        tag: Some("three".into()),
        limit: 2,
        ..ListQuery::default()
    };
    assert_eq!(client.collect_tasks(tagged).await.expect("tag").len(), 7);
    let high = ListQuery {
        priority: Some(Priority::High),
        ..ListQuery::default()
    };
    assert_eq!(client.collect_tasks(high).await.expect("priority").len(), 4);
    let search = ListQuery {
        q: Some("TASK 1".into()),
        ..ListQuery::default()
    };
    assert_eq!(client.collect_tasks(search).await.expect("q").len(), 10);
    let newest_first = ListQuery {
        sort: Sort {
            field: SortField::Created,
            descending: true,
        },
        limit: 5,
        ..ListQuery::default()
    };
    let newest: Vec<_> = client
        .all_tasks(newest_first)
        .try_collect()
        .await
        .expect("sorted");
    assert_eq!(newest.first().map(|t| t.number), Some(23));
    assert_eq!(newest.last().map(|t| t.number), Some(1));

    // Bad queries are 400s with the server's problem details.
    match client
        .list_tasks(&ListQuery {
            limit: 0,
            ..ListQuery::default()
        })
        .await
    {
        Err(Error::Other { status, problem }) => {
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(
                problem.and_then(|p| p.code).as_deref(),
                Some("invalid_query")
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    let forged = ListQuery {
        cursor: Some("not-a-cursor".into()),
        ..ListQuery::default()
    };
    assert_eq!(
        client
            .list_tasks(&forged)
            .await
            .expect_err("bad cursor")
            .code(),
        Some("invalid_query")
    );
    server.stop().await;
}

#[tokio::test]
async fn api_tokens() {
    let server = TestServer::start().await;
    let client = server.user("tokens@example.com").await;
    let created = client
        .create_api_token("ci job", Some(7))
        .await
        .expect("create");
    assert!(created.token.starts_with("tsk_"));
    assert_eq!(created.name, "ci job");
    let days = created.expires_at.as_secs() - created.created_at.as_secs();
    assert!((7 * 86_400 - 5..=7 * 86_400 + 5).contains(&days), "{days}");
    let default = client
        .create_api_token("default expiry", None)
        .await
        .expect("create");

    let listed = client.list_api_tokens().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ci job", "default expiry"]);
    assert_eq!(listed[0].id, created.id);

    // The token acts as its user...
    let script = Client::builder()
        .base_url(&server.url)
        .access_token(&created.token)
        .build()
        .expect("client");
    assert_eq!(
        script.me().await.expect("me").email.as_deref(),
        Some("tokens@example.com")
    );
    script
        .create_task(&draft("from a script"))
        .await
        .expect("create task");
    // ...but cannot manage tokens or log out.
    for result in [
        script.list_api_tokens().await.map(|_| ()),
        script.create_api_token("nested", None).await.map(|_| ()),
        script.revoke_api_token(default.id).await,
        script.logout().await,
    ] {
        match result {
            Err(Error::Forbidden { code, .. }) => assert_eq!(code, "api_token_not_allowed"),
            other => panic!("expected 403 api_token_not_allowed, got {other:?}"),
        }
    }
    // Invalid names are validation errors.
    assert!(matches!(
        client.create_api_token("", None).await,
        Err(Error::Validation { .. })
    ));
    assert!(matches!(
        client.create_api_token("x", Some(366)).await,
        Err(Error::Validation { .. })
    ));

    // Revoked: unusable, gone from the list, and a second revoke is 404.
    client.revoke_api_token(created.id).await.expect("revoke");
    assert!(matches!(script.me().await, Err(Error::Unauthorized { .. })));
    assert!(matches!(
        client.revoke_api_token(created.id).await,
        Err(Error::NotFound)
    ));
    assert_eq!(client.list_api_tokens().await.expect("list").len(), 1);
    // Another user cannot revoke it.
    let other = server.user("other@example.com").await;
    assert!(matches!(
        other.revoke_api_token(default.id).await,
        Err(Error::NotFound)
    ));
    server.stop().await;
}

#[tokio::test]
async fn forbidden_and_rate_limited() {
    let closed = TestServer::with(|c| c.no_registration = true).await;
    match closed.client().register("new@example.com", PASSWORD).await {
        Err(Error::Forbidden { code, problem }) => {
            assert_eq!(code, "registration_closed");
            assert_eq!(problem.status, Some(403));
        }
        other => panic!("expected 403, got {other:?}"),
    }
    closed.stop().await;

    let limited = TestServer::with(|c| c.max_tasks_per_user = 2).await;
    let client = limited.user("limit@example.com").await;
    client.create_task(&draft("one")).await.expect("one");
    client.create_task(&draft("two")).await.expect("two");
    let error = client
        .create_task(&draft("three"))
        .await
        .expect_err("limit");
    assert!(
        matches!(&error, Error::Forbidden { code, .. } if code == "task_limit_reached"),
        "{error:?}"
    );
    client
        .delete_task(TaskRef::Number(1), None)
        .await
        .expect("delete frees a slot");
    client.create_task(&draft("three")).await.expect("three");
    limited.stop().await;

    let guarded = TestServer::with(|c| c.auth_rate_limit = Switch::On).await;
    guarded.user("guarded@example.com").await;
    let client = guarded.client();
    let mut outcome = None;
    for _ in 0..12 {
        match client.login("guarded@example.com", "wrong password").await {
            Err(Error::Unauthorized { .. }) => continue,
            other => {
                outcome = Some(other);
                break;
            }
        }
    }
    match outcome {
        Some(Err(Error::RateLimited { retry_after })) => {
            assert!(
                retry_after.is_some_and(|d| d > Duration::ZERO),
                "{retry_after:?}"
            )
        }
        other => panic!("expected 429 after 10 failures, got {other:?}"),
    }
    // Even the right password is refused now.
    assert!(matches!(
        client.login("guarded@example.com", PASSWORD).await,
        Err(Error::RateLimited { .. })
    ));
    guarded.stop().await;
}

#[tokio::test]
async fn expired_access_tokens_are_refreshed_once_and_shared() {
    let server = TestServer::with(|c| c.token_ttl = Duration::from_secs(1)).await;
    server.user("refresh@example.com").await;

    let calls = Arc::new(AtomicUsize::new(0));
    let latest = Arc::new(Mutex::new(None::<TokenPair>));
    let (counter, store) = (calls.clone(), latest.clone());
    let client = Client::builder()
        .base_url(&server.url)
        .on_token_refresh(move |pair| {
            counter.fetch_add(1, Ordering::SeqCst);
            *store.lock().expect("lock") = Some(pair.clone());
        })
        .build()
        .expect("client");
    let session = client
        .login("refresh@example.com", PASSWORD)
        .await
        .expect("login");
    assert_eq!(session.expires_in, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    client
        .create_task(&draft("before expiry"))
        .await
        .expect("create");

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(client.tokens().expect("tokens").is_expired());
    // Eight requests at once find the token expired: one refresh serves them all.
    let requests = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.list_tasks(&ListQuery::default()).await })
    });
    for request in requests {
        let page = request.await.expect("join").expect("list after expiry");
        assert_eq!(page.tasks.len(), 1);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "exactly one refresh");
    let persisted = latest.lock().expect("lock").clone().expect("pair");
    assert_eq!(Some(persisted.clone()), client.tokens());
    assert_ne!(
        persisted.refresh_token.as_deref(),
        Some(session.refresh_token.as_str())
    );

    // A client started from persisted tokens whose access token the server
    // rejects (401) refreshes once and retries: the reactive path.
    let restored = Client::builder()
        .base_url(&server.url)
        .access_token("not-a-valid-token")
        .refresh_token(persisted.refresh_token.clone().expect("refresh token"))
        .build()
        .expect("client");
    assert_eq!(
        restored.me().await.expect("me").email.as_deref(),
        Some("refresh@example.com")
    );
    assert_ne!(
        restored.tokens().expect("tokens").access_token,
        "not-a-valid-token"
    );

    // A refresh token that no longer works ends in Unauthorized, not a loop.
    let hopeless = Client::builder()
        .base_url(&server.url)
        .access_token("not-a-valid-token")
        .refresh_token("not-a-refresh-token")
        .build()
        .expect("client");
    let error = hopeless.me().await.expect_err("refused");
    assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
    assert_eq!(error.code(), Some("invalid_refresh_token"));
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    let client = server.client();
    assert_eq!(client.health().await.expect("health").status, "ok");
    assert!(client.ready().await.expect("ready"));
    server.stop().await;
}

#[tokio::test]
async fn transport_errors_are_reported_with_their_cause() {
    // A port nobody listens on: bind, read the port, close.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client = Client::builder()
        .base_url(format!("http://{addr}"))
        .retry_policy(taskclient::RetryPolicy {
            base_delay: Duration::from_millis(10),
            ..Default::default()
        })
        .build()
        .expect("client");
    let error = client.health().await.expect_err("nobody listens");
    match &error {
        Error::Transport(cause) => assert!(cause.is_connect(), "{cause:?}"),
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(
        error.to_string().starts_with("could not reach the server"),
        "{error}"
    );
    assert!(std::error::Error::source(&error).is_some());
}

fn project(name: &str) -> taskclient::Project {
    taskclient::Project::parse(name).expect("valid project")
}

#[tokio::test]
async fn projects_recurrence_and_tag_edits_through_the_builders() {
    let server = TestServer::start().await;
    let client = server.user("fields@example.com").await;

    // Create: the typed fields go out and come back; a rule starts a series.
    let plants = client
        .create(Title::parse("Water plants").expect("valid"))
        .project(project("Home.Garden"))
        .due(at("2026-12-07T18:00:00Z"))
        .recur(taskclient::Recur::from_friendly("every mon,thu").expect("a rule"))
        .tags(Tags::parse(["green", "someday"]).expect("valid"))
        .send()
        .await
        .expect("create");
    assert_eq!(plants.project, Some(project("Home.Garden")));
    assert_eq!(
        plants.recur.as_ref().map(ToString::to_string).as_deref(),
        Some("FREQ=WEEKLY;BYDAY=MO,TH")
    );
    assert_eq!(plants.series, Some(plants.id));
    let plain = client
        .create_task(&draft("Buy oat milk"))
        .await
        .expect("create");
    assert_eq!(
        (plain.project, plain.recur, plain.series),
        (None, None, None)
    );

    // Tag edits name just the tags they change.
    let updated = client
        .update(TaskRef::Id(plants.id))
        .add_tags(Tags::parse(["garden", "green"]).expect("valid"))
        .remove_tags(Tags::parse(["someday", "absent"]).expect("valid"))
        .if_match(plants.version)
        .send()
        .await
        .expect("tags");
    assert_eq!(updated.task.tags, ["green", "garden"]);
    assert_eq!(updated.next, None, "not completed: nothing follows");
    // `tags` with either of them is refused by the server.
    let both = client
        .update(TaskRef::Id(plants.id))
        .tags(Tags::parse(["x"]).expect("valid"))
        .add_tags(Tags::parse(["y"]).expect("valid"))
        .send()
        .await;
    assert!(
        matches!(&both, Err(Error::Validation { errors }) if errors.iter().any(|e| e.field == "tags")),
        "{both:?}"
    );

    // A stale version is refused.
    assert!(matches!(
        client
            .update(TaskRef::Id(plants.id))
            .project(None)
            .if_match(plants.version)
            .send()
            .await,
        Err(Error::VersionMismatch)
    ));

    // `None` clears: out of the project, no longer repeating, still in its series.
    let cleared = client
        .update(TaskRef::Id(plants.id))
        .project(None)
        .recur(None)
        .send()
        .await
        .expect("clear")
        .task;
    assert_eq!((cleared.project, cleared.recur), (None, None));
    assert_eq!(cleared.series, Some(plants.id));

    // The old way takes the new fields too.
    let patch = TaskPatch {
        project: Some(Some(project("Errands"))),
        add_tags: Some(Tags::parse(["shopping"]).expect("valid")),
        ..TaskPatch::default()
    };
    let milk = client
        .update_task(TaskRef::Id(plain.id), &patch, None)
        .await
        .expect("patch");
    assert_eq!(milk.project, Some(project("Errands")));
    assert_eq!(milk.tags, ["shopping"]);

    // A rule needs a due date: 422 on recur, and nothing created.
    let no_due = client
        .create(Title::parse("Stretch").expect("valid"))
        .recur(taskclient::Recur::from_friendly("daily").expect("a rule"))
        .send()
        .await;
    assert!(
        matches!(&no_due, Err(Error::Validation { errors }) if errors.iter().any(|e| e.field == "recur")),
        "{no_due:?}"
    );
    let weekly = client
        .update(TaskRef::Id(plain.id))
        .recur(taskclient::Recur::from_friendly("weekly").expect("a rule"))
        .send()
        .await;
    assert!(
        matches!(&weekly, Err(Error::Validation { .. })),
        "{weekly:?}"
    );
    assert_eq!(
        client
            .collect_tasks(ListQuery::default())
            .await
            .expect("list")
            .len(),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn listing_by_project() {
    let server = TestServer::start().await;
    let client = server.user("by-project@example.com").await;
    for (title, name) in [
        ("Mow", Some("Home.Garden")),
        ("Nothing", None),
        ("Essay", Some("Homework")),
        ("Dishes", Some("Home")),
        ("Fence", Some("Home-x")),
    ] {
        let mut new = draft(title);
        new.project = name.map(project);
        client.create_task(&new).await.expect("create");
    }
    let titles = |tasks: Vec<taskclient::Task>| -> Vec<String> {
        tasks.into_iter().map(|t| t.title).collect()
    };
    let within = |name: &str| ListQuery {
        project: Some(taskclient::ProjectFilter::Within(project(name))),
        ..ListQuery::default()
    };
    assert_eq!(
        titles(client.collect_tasks(within("Home")).await.expect("Home")),
        ["Mow", "Dishes"]
    );
    assert_eq!(
        titles(
            client
                .collect_tasks(within("Home.Garden"))
                .await
                .expect("Home.Garden")
        ),
        ["Mow"]
    );
    let none = ListQuery {
        project: Some(taskclient::ProjectFilter::None),
        ..ListQuery::default()
    };
    assert_eq!(
        titles(client.collect_tasks(none).await.expect("none")),
        ["Nothing"]
    );
    // By project, name order (byte order), tasks without one last both ways.
    let by = |descending| ListQuery {
        sort: Sort {
            field: SortField::Project,
            descending,
        },
        limit: 2,
        ..ListQuery::default()
    };
    assert_eq!(
        titles(client.collect_tasks(by(false)).await.expect("sorted")),
        ["Dishes", "Fence", "Mow", "Essay", "Nothing"]
    );
    assert_eq!(
        titles(client.collect_tasks(by(true)).await.expect("sorted")),
        ["Essay", "Mow", "Fence", "Dishes", "Nothing"]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_projects_endpoint_counts_with_parents() {
    let server = TestServer::start().await;
    let client = server.user("projects@example.com").await;
    let other = server.user("other@example.com").await;
    assert!(client.projects().await.expect("none yet").is_empty());
    for (name, completed) in [
        ("Home.Garden", false),
        ("Home.Garden", true),
        ("Home", false),
        ("Work.Q3.Plan", true),
    ] {
        let mut new = draft("x");
        new.project = Some(project(name));
        new.completed = completed;
        client.create_task(&new).await.expect("create");
    }
    let mut theirs = draft("theirs");
    theirs.project = Some(project("Secret"));
    other.create_task(&theirs).await.expect("create");
    let counts: Vec<(String, u64, u64)> = client
        .projects()
        .await
        .expect("projects")
        .into_iter()
        .map(|p| (p.name.to_string(), p.pending, p.completed))
        .collect();
    assert_eq!(
        counts,
        [
            ("Home".to_string(), 2, 1),
            ("Home.Garden".to_string(), 1, 1),
            ("Work".to_string(), 0, 1),
            ("Work.Q3".to_string(), 0, 1),
            ("Work.Q3.Plan".to_string(), 0, 1),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn completing_a_recurring_task_names_its_successor_once() {
    let server = TestServer::start().await;
    let client = server.user("recur@example.com").await;
    let first = client
        .create(Title::parse("Water plants").expect("valid"))
        .project(project("Home"))
        .due(at("2026-12-07T18:00:00Z"))
        .recur(taskclient::Recur::from_friendly("weekly").expect("a rule"))
        .send()
        .await
        .expect("create");

    let done = client
        .update(TaskRef::Id(first.id))
        .completed(true)
        .if_match(first.version)
        .send()
        .await
        .expect("complete");
    assert!(done.task.completed);
    let next_id = done.next.expect("a Link rel=next to the successor");
    let next = client
        .get_task(TaskRef::Id(next_id))
        .await
        .expect("the successor");
    assert_eq!(next.number, first.number + 1);
    assert_eq!(next.due, Some(at("2026-12-14T18:00:00Z")));
    assert_eq!(
        (&next.title, &next.project, &next.recur, next.series),
        (&first.title, &first.project, &first.recur, Some(first.id))
    );
    assert!(!next.completed);

    // Uncompleting keeps it; completing again makes no second one.
    let reopened = client
        .update(TaskRef::Id(first.id))
        .completed(false)
        .send()
        .await
        .expect("reopen");
    assert_eq!(reopened.next, None);
    let again = client
        .update(TaskRef::Id(first.id))
        .completed(true)
        .send()
        .await
        .expect("complete again");
    assert!(
        again.next.is_none() || again.next == Some(next_id),
        "{again:?}"
    );
    assert_eq!(
        client
            .collect_tasks(ListQuery::default())
            .await
            .expect("list")
            .len(),
        2
    );

    // A rule that has run out: nothing follows.
    let twice = client
        .create(Title::parse("Twice").expect("valid"))
        .due(at("2026-12-07T18:00:00Z"))
        .recur(taskclient::Recur::parse("FREQ=DAILY;COUNT=2").expect("a rule"))
        .send()
        .await
        .expect("create");
    let second = client
        .update(TaskRef::Id(twice.id))
        .completed(true)
        .send()
        .await
        .expect("complete")
        .next
        .expect("a second date");
    let last = client
        .update(TaskRef::Id(second))
        .completed(true)
        .send()
        .await
        .expect("complete the last");
    assert!(last.task.completed);
    assert_eq!(last.next, None, "COUNT=2 has no third date");
    server.stop().await;
}

#[tokio::test]
async fn creating_with_a_chosen_id_is_safe_to_retry() {
    let server = TestServer::start().await;
    let client = server.user("chosen@example.com").await;
    let id = taskcore::TaskId::generate();
    let task = client
        .create_task_with_id(id, &draft("Chosen"))
        .await
        .expect("creates");
    assert_eq!((task.id, task.number, task.version), (id, 1, 1));
    // A retry is told that the first try got through, and changes nothing.
    let retry = client.create_task_with_id(id, &draft("Chosen")).await;
    assert!(matches!(retry, Err(Error::AlreadyExists)), "{retry:?}");
    let error = retry.expect_err("refused");
    assert_eq!(error.code(), Some("already_exists"));
    assert_eq!(error.status(), Some(StatusCode::PRECONDITION_FAILED));
    assert_eq!(client.get_task(TaskRef::Id(id)).await.expect("reads"), task);
    // The builder takes an id too; a deleted id stays taken.
    let other = taskcore::TaskId::generate();
    let built = client
        .create(Title::parse("Built").expect("valid"))
        .priority(Priority::High)
        .with_id(other)
        .send()
        .await
        .expect("creates");
    assert_eq!((built.id, built.number), (other, 2));
    client
        .delete_task(TaskRef::Id(other), None)
        .await
        .expect("deletes");
    assert!(matches!(
        client
            .create(Title::parse("Built").expect("valid"))
            .with_id(other)
            .send()
            .await,
        Err(Error::AlreadyExists)
    ));
    // An If-Match mismatch is still VersionMismatch, not AlreadyExists.
    assert!(matches!(
        client
            .replace_task(TaskRef::Id(id), &draft("Other"), Some(9))
            .await,
        Err(Error::VersionMismatch)
    ));
    server.stop().await;
}

/// One line per change, to compare what a reader saw with what was written.
fn seen(change: &Change) -> String {
    match change {
        Change::Task { task } => format!(
            "task #{} {} done={}",
            task.number, task.title, task.completed
        ),
        Change::TaskDeleted { number, .. } => format!("deleted #{number}"),
    }
}

/// Walks the feed from `since` in pages of `limit`: the pages' sizes and
/// `more` flags, every change, and the last cursor.
async fn walk(
    client: &Client,
    since: Option<&str>,
    limit: usize,
) -> (Vec<(usize, bool)>, Vec<String>, String) {
    let pages: Vec<ChangesResponse> = client
        .changes_with_limit(since, limit)
        .try_collect()
        .await
        .expect("the feed walks");
    let shape = pages.iter().map(|p| (p.changes.len(), p.more)).collect();
    let changes = pages.iter().flat_map(|p| &p.changes).map(seen).collect();
    let cursor = pages.last().expect("at least one page").cursor.clone();
    (shape, changes, cursor)
}

/// The next change of an event stream, within 10 s.
async fn next_live(
    events: &mut (impl futures_util::Stream<Item = taskclient::Result<LiveChange>> + Unpin),
) -> LiveChange {
    tokio::time::timeout(Duration::from_secs(10), events.try_next())
        .await
        .expect("a change within 10 s")
        .expect("the stream goes on")
        .expect("the stream has not ended")
}

#[tokio::test]
async fn the_change_feed_walks_its_pages_then_continues_from_its_cursor() {
    let server = TestServer::start().await;
    let client = server.user("feed@example.com").await;
    let mut tasks = Vec::new();
    for title in ["one", "two", "three", "four", "five"] {
        tasks.push(client.create_task(&draft(title)).await.expect("create"));
    }

    // A full sync in pages of two: it goes on while `more`, and stops after
    // the first page without.
    let (shape, changes, cursor) = walk(&client, None, 2).await;
    assert_eq!(shape, [(2, true), (2, true), (1, false)]);
    assert_eq!(
        changes,
        [
            "task #1 one done=false",
            "task #2 two done=false",
            "task #3 three done=false",
            "task #4 four done=false",
            "task #5 five done=false",
        ]
    );

    // Incremental: just what changed since, each task once, in its latest
    // state, in the order of its latest change.
    client
        .update(TaskRef::Number(1))
        .completed(true)
        .send()
        .await
        .expect("complete");
    client
        .delete_task(TaskRef::Number(2), None)
        .await
        .expect("delete");
    client.create_task(&draft("six")).await.expect("create");
    client
        .update(TaskRef::Number(1))
        .title(Title::parse("one, done").expect("valid"))
        .send()
        .await
        .expect("rename");
    let (shape, changes, next) = walk(&client, Some(&cursor), 2).await;
    assert_eq!(shape, [(2, true), (1, false)]);
    assert_eq!(
        changes,
        [
            "deleted #2",
            "task #6 six done=false",
            "task #1 one, done done=true"
        ]
    );
    // Nothing since: one empty page, and the cursor still works.
    let (shape, changes, _) = walk(&client, Some(&next), 2).await;
    assert_eq!((shape, changes), (vec![(0, false)], Vec::<String>::new()));

    // The one-call form, in the default page size through `changes`.
    let page = client.changes_page(None, 3).await.expect("a page");
    assert_eq!((page.changes.len(), page.more), (3, true));
    let full: Vec<ChangesResponse> = client.changes(None).try_collect().await.expect("walks");
    assert_eq!(full.len(), 1, "five live tasks fit a default page");
    assert_eq!(full[0].changes.len(), 5, "a full sync shows no deletions");

    // Another user's cursor is refused, and their feed is their own.
    let other = server.user("other-feed@example.com").await;
    let error = other
        .changes_page(Some(&cursor), 10)
        .await
        .expect_err("not theirs");
    assert_eq!(error.code(), Some("invalid_query"), "{error:?}");
    let (_, changes, _) = walk(&other, None, 10).await;
    assert!(changes.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn events_replay_from_a_cursor_then_go_live() {
    let server = TestServer::start().await;
    let client = server.user("live@example.com").await;
    let (_, _, cursor) = walk(&client, None, 10).await;
    client.create_task(&draft("before")).await.expect("create");

    let mut events = std::pin::pin!(client.events(Some(cursor)));
    let replayed = next_live(&mut events).await;
    assert_eq!(seen(&replayed.change), "task #1 before done=false");

    let writer = client.clone();
    tokio::spawn(async move { writer.create_task(&draft("live")).await });
    let live = next_live(&mut events).await;
    assert_eq!(seen(&live.change), "task #2 live done=false");
    // Its cursor is a feed cursor that continues right after it.
    let page = client
        .changes_page(Some(&live.cursor), 10)
        .await
        .expect("the event's cursor reads the feed");
    assert!(page.changes.is_empty(), "{page:?}");
    client
        .delete_task(TaskRef::Number(1), None)
        .await
        .expect("delete");
    let deleted = next_live(&mut events).await;
    assert_eq!(seen(&deleted.change), "deleted #1");

    // A client whose token is refused, with nothing to refresh it with: the
    // stream ends with the 401.
    let stranger = Client::builder()
        .base_url(&server.url)
        .access_token("not-a-token")
        .build()
        .expect("client");
    let mut refused = std::pin::pin!(stranger.events(None));
    let first = refused.next().await.expect("an item");
    assert!(
        matches!(first, Err(Error::Unauthorized { .. })),
        "{first:?}"
    );
    assert!(refused.next().await.is_none(), "the stream has ended");
    server.stop().await;
}

#[tokio::test]
async fn events_reconnect_when_the_token_expires_with_no_gap_and_no_duplicate() {
    // Tokens of one second: the server ends each stream a second after it
    // opened, and the stream reconnects with a refreshed one.
    let server = TestServer::with(|c| c.token_ttl = Duration::from_secs(1)).await;
    server.user("expiry@example.com").await;
    let (refreshed, mut refreshes) = tokio::sync::watch::channel(0u32);
    let reader = Client::builder()
        .base_url(&server.url)
        .on_token_refresh(move |_| refreshed.send_modify(|n| *n += 1))
        .build()
        .expect("client");
    reader
        .login("expiry@example.com", PASSWORD)
        .await
        .expect("login");
    let writer = server.client();
    writer
        .login("expiry@example.com", PASSWORD)
        .await
        .expect("login");

    let (_, _, cursor) = walk(&reader, None, 10).await;
    let events = reader.events(Some(cursor));
    let (sent, mut received) = tokio::sync::mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(item) = events.next().await {
            if sent.send(item).is_err() {
                break;
            }
        }
    });

    // Three tasks at a time, and after each batch wait for the reader to
    // refresh: its stream was cut at the token's expiry and is coming back,
    // so later writes meet a stream that is down or just reconnecting.
    let rounds = 4;
    let mut written = Vec::new();
    for round in 0..rounds {
        for i in 0..3 {
            let title = format!("round {round} task {i}");
            let task = writer.create_task(&draft(&title)).await.expect("create");
            written.push(format!("task #{} {title} done=false", task.number));
        }
        if round + 1 < rounds {
            let before = *refreshes.borrow_and_update();
            tokio::time::timeout(Duration::from_secs(10), refreshes.wait_for(|n| *n > before))
                .await
                .expect("the reader refreshes its token within 10 s")
                .expect("the reader is alive");
        }
    }

    let mut got = Vec::new();
    while got.len() < written.len() {
        let item = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .unwrap_or_else(|_| panic!("only {got:?} within 10 s of the last write"))
            .expect("the reader goes on");
        got.push(seen(&item.expect("no error while reconnecting").change));
    }
    assert_eq!(
        got, written,
        "every change once, in order, across reconnects"
    );
    // And no duplicate trails behind the last one: the stream, caught up,
    // stays quiet until the next change.
    writer.create_task(&draft("last")).await.expect("create");
    let last = tokio::time::timeout(Duration::from_secs(10), received.recv())
        .await
        .expect("the last change within 10 s")
        .expect("the reader goes on")
        .expect("no error");
    assert_eq!(
        seen(&last.change),
        format!("task #{} last done=false", written.len() + 1)
    );
    assert!(
        *refreshes.borrow() >= 3,
        "the stream reconnected with fresh tokens"
    );
    reading.abort();
    server.stop().await;
}

#[tokio::test]
async fn an_expired_cursor_is_cursor_expired_for_the_feed_and_the_stream() {
    let server = TestServer::with(|c| c.tombstone_retention = Duration::from_secs(1)).await;
    let client = server.user("expired@example.com").await;
    let (_, _, cursor) = walk(&client, None, 10).await;
    // The cursor must age past the retention (whole seconds on the server):
    // only time does that.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let error = client
        .changes_page(Some(&cursor), 10)
        .await
        .expect_err("too old");
    assert!(matches!(error, Error::CursorExpired), "{error:?}");
    assert_eq!(error.status(), Some(StatusCode::GONE));

    let mut events = std::pin::pin!(client.events(Some(cursor)));
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an answer within 10 s")
        .expect("an item");
    assert!(matches!(first, Err(Error::CursorExpired)), "{first:?}");
    assert!(
        events.next().await.is_none(),
        "the stream has ended: sync everything again"
    );

    // A full sync works, and its cursor is fresh.
    let (_, _, fresh) = walk(&client, None, 10).await;
    client.changes_page(Some(&fresh), 10).await.expect("fresh");
    server.stop().await;
}

#[tokio::test]
async fn events_wait_out_the_stream_limit() {
    // Heartbeats every second, so the server soon notices a dropped stream.
    let server = TestServer::with(|c| c.events_heartbeat = Duration::from_secs(1)).await;
    let client = server.user("streams@example.com").await;
    let (_, _, cursor) = walk(&client, None, 10).await;
    client
        .create_task(&draft("replayed"))
        .await
        .expect("create");

    // Ten streams, each open (it has replayed the task).
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut events = Box::pin(client.events(Some(cursor.clone())));
        assert_eq!(
            seen(&next_live(&mut events).await.change),
            "task #1 replayed done=false"
        );
        open.push(events);
    }
    // The eleventh is refused with 429 too_many_streams, which the stream
    // waits out (Retry-After) instead of ending: while the ten stay open it
    // yields nothing; once one of them is closed, it gets its turn.
    let mut eleventh = Box::pin(client.events(Some(cursor)));
    let early = tokio::time::timeout(Duration::from_millis(1500), eleventh.try_next()).await;
    assert!(
        early.is_err(),
        "the eleventh stream waits while ten are open: {early:?}"
    );
    open.truncate(9);
    let live = tokio::time::timeout(Duration::from_secs(20), eleventh.try_next())
        .await
        .expect("the eleventh stream gets a place within 20 s")
        .expect("no error: the limit is waited out")
        .expect("a change");
    assert_eq!(seen(&live.change), "task #1 replayed done=false");
    server.stop().await;
}
