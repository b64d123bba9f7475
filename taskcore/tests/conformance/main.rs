//! The store conformance suite: every test is written once against the
//! `TaskStore` trait and runs against sled and, when
//! `TASKSERVER_TEST_DATABASE_URL` names a server (and the `postgres`
//! feature is on), against PostgreSQL in a database of its own.

mod accounts;
mod api_tokens;
mod changes;
mod chosen_ids;
mod list;
mod metrics;
#[cfg(feature = "postgres")]
mod postgres_feed;
#[cfg(feature = "postgres")]
mod postgres_v4;
mod projects;
mod recurrence;
mod sessions;
mod support;
mod tasks;
mod transfer;
mod users;

/// Declares, for each test function `f(Fixture)`, a module `f` with a
/// `sled` and a `postgres` test.
macro_rules! conformance {
    ($($module:ident :: $name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sled() {
                    crate::$module::$name(crate::support::Fixture::sled()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(fixture) = crate::support::Fixture::postgres().await {
                        crate::$module::$name(fixture).await;
                    }
                }
            }
        )*
    };
}

conformance!(
    users::local_accounts_and_emails,
    users::external_users_are_created_once,
    sessions::the_cap_ends_the_oldest_and_expired_ones_are_pruned,
    sessions::refresh_rotates_and_detects_reuse,
    sessions::unknown_and_expired_refresh_tokens_are_invalid,
    sessions::a_concurrent_double_refresh_rotates_once,
    api_tokens::tokens_are_found_touched_listed_and_revoked,
    tasks::numbers_count_per_user_and_are_never_reused,
    tasks::the_limit_counts_live_tasks,
    tasks::many_concurrent_creates_number_in_creation_order,
    tasks::users_are_isolated,
    tasks::if_match_preconditions,
    tasks::concurrent_conditional_updates_have_one_winner,
    list::every_filter_and_order_matches_the_model,
    list::a_cursor_walk_sees_each_task_once_despite_writes,
    transfer::export_then_import_into_a_fresh_store,
    transfer::importing_twice_changes_nothing,
    transfer::a_conflicting_import_writes_nothing,
    accounts::deleting_a_user_removes_everything_of_theirs,
    accounts::deleting_an_external_user_keeps_the_local_account_of_their_email,
    accounts::deleting_a_user_while_their_tasks_are_created_leaves_none,
    accounts::live_api_tokens_are_capped_per_user,
    accounts::concurrent_api_token_creates_stop_at_the_cap,
    metrics::metrics_tell_the_work_done,
    projects::project_fields_round_trip,
    projects::the_project_filter_takes_a_project_and_what_is_inside_it,
    projects::sort_by_project_pages_both_ways_with_no_project_last,
    projects::project_counts_include_parents_and_are_per_user,
    projects::tag_edits_from_two_writers_both_stay,
    recurrence::completing_creates_the_successor_in_the_same_write,
    recurrence::nothing_is_created_once_the_rule_has_no_later_date,
    recurrence::month_ends_and_last_weekdays_follow_the_rule,
    recurrence::a_rule_whose_next_date_is_too_far_ends_the_series,
    recurrence::an_occurrence_has_one_successor_whatever_happens,
    recurrence::concurrent_completions_create_one_successor,
    recurrence::edits_affect_the_task_and_the_successors_after_it,
    recurrence::rules_that_span_fields_are_checked_against_the_stored_task,
    recurrence::a_successor_is_created_even_at_the_task_limit,
    recurrence::recurring_tasks_move_between_stores_with_their_anchor,
    chosen_ids::a_chosen_id_is_created_once_and_numbered_by_the_server,
    chosen_ids::chosen_ids_are_per_owner,
    chosen_ids::concurrent_creates_of_one_id_have_one_winner,
    chosen_ids::the_limit_holds_but_a_taken_id_answers_first,
    chosen_ids::a_recurring_task_with_a_chosen_id_starts_its_series,
    changes::the_feed_shows_every_kind_of_write_in_order,
    changes::each_task_shows_once_at_its_latest_change,
    changes::a_full_sync_pages_through_live_tasks_only,
    changes::feeds_are_per_owner,
    changes::pruned_deletions_leave_the_feed_and_their_ids_stay_refused,
    changes::a_reader_following_concurrent_writers_misses_nothing,
);

#[cfg(feature = "postgres")]
mod postgres_only {
    use crate::support::Fixture;
    use taskcore::store::postgres::testing::unfiltered_task_ids;
    use taskcore::{TaskDraft, TaskStore};

    /// Sled to sled is a conformance test of its own; this needs both backends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sled_to_postgres_and_back() {
        let Some(fixture) = Fixture::postgres().await else {
            return;
        };
        crate::transfer::sled_to_postgres_and_back(fixture).await;
    }

    /// Passes for a superuser connection (switched to `taskserver_app`) and
    /// for a plain owner of the tables (row security is forced on owners).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn row_security_hides_other_users_tasks_without_an_owner_filter() {
        let Some(fixture) = Fixture::postgres().await else {
            return;
        };
        let store = fixture.pg.clone().expect("a PostgreSQL fixture");
        let ada = crate::support::user(&*fixture.store, "ada").await;
        let bob = crate::support::user(&*fixture.store, "bob").await;
        let mine = store
            .create_task(ada.id, TaskDraft::new("ada's").expect("valid"), 10)
            .await
            .expect("creates");
        store
            .create_task(bob.id, TaskDraft::new("bob's").expect("valid"), 10)
            .await
            .expect("creates");
        let probe = unfiltered_task_ids(&store, ada.id).await.expect("queries");
        // Connected as a superuser (as CI is), this means the store switched
        // to the application role.
        assert!(!probe.bypasses_row_security, "{probe:?}");
        assert_eq!(probe.visible, vec![mine.id], "{probe:?}");
        // And from bob's side, only bob's.
        let probe = unfiltered_task_ids(&store, bob.id).await.expect("queries");
        assert!(!probe.visible.contains(&mine.id), "{probe:?}");
        assert_eq!(probe.visible.len(), 1, "{probe:?}");
    }

    /// A database that a release before the time-range check wrote holds
    /// due dates past 9999 and before year 1; the migration moves them to
    /// the ends of the range, so the task reads and exports again.
    #[tokio::test]
    async fn due_dates_out_of_range_from_an_earlier_release_move_into_the_range() {
        use taskcore::store::postgres::testing::{
            TestDatabase, execute, migrate_up_to, test_database_url,
        };
        use taskcore::{TaskRef, Timestamp};
        if Fixture::postgres().await.is_none() {
            return;
        }
        let base = test_database_url().expect("checked above");
        let database = TestDatabase::create(&base).await.expect("a database");
        migrate_up_to(&database.url, 1)
            .await
            .expect("the first schema");
        let ada = uuid::Uuid::now_v7();
        let (far, early) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        // What that release stored for `9999-12-31T23:59:59.999999999-23:59`
        // and `0000-01-01T00:00:00+23:59`.
        execute(
            &database.url,
            &format!(
                "INSERT INTO users (id, email, created_at, next_task_number, live_tasks)
                     VALUES ('{ada}', 'ada@example.com', 0, 3, 2);
                 INSERT INTO tasks (owner, id, number, title, title_key, description, completed,
                                    priority, due, tags, created_at, updated_at, version)
                     VALUES ('{ada}', '{far}', 1, 'far', 'far', '', false, 0, 253402387139999999,
                             '{{}}', 0, 0, 1),
                            ('{ada}', '{early}', 2, 'early', 'early', '', false, 0, -62167133940000000,
                             '{{}}', 0, 0, 1);"
            ),
        )
        .await
        .expect("rows as the old release wrote them");
        let store = taskcore::PgStore::connect(taskcore::PgConfig::new(&database.url))
            .await
            .expect("connects, upgrading the schema");
        let user = taskcore::UserId(ada);
        let due = |task: Option<taskcore::Task>| task.expect("found").due;
        assert_eq!(
            due(store.task(user, TaskRef::Number(1)).await.expect("reads")),
            Some(Timestamp::MAX)
        );
        assert_eq!(
            due(store.task(user, TaskRef::Number(2)).await.expect("reads")),
            Some(Timestamp::MIN)
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let report = store.export(tx).await.expect("exports");
        assert!(report.unreadable.is_empty(), "{:?}", report.unreadable);
        assert_eq!(report.sent.tasks, 2);
        rx.close();
    }

    #[tokio::test]
    async fn migrations_are_idempotent() {
        let Some(fixture) = Fixture::postgres().await else {
            return;
        };
        let url = fixture.pg_url.clone().expect("a PostgreSQL fixture");
        let config = taskcore::PgConfig::new(url);
        assert_eq!(
            taskcore::PgStore::migrate(&config).await.expect("migrates"),
            0
        );
    }

    /// Migration 0002 adds foreign keys to tables that had none: it must
    /// apply to a database whose rows already name users that are gone.
    #[tokio::test]
    async fn the_cascade_migration_applies_over_orphan_rows() {
        use taskcore::store::postgres::testing::{
            TestDatabase, execute, migrate_up_to, query_i64, test_database_url,
        };
        let Some(base) = test_database_url() else {
            return;
        };
        let database = TestDatabase::create(&base).await.expect("a database");
        let url = database.url.clone();
        assert_eq!(migrate_up_to(&url, 1).await.expect("migrates"), 1);
        execute(
            &url,
            "INSERT INTO users (id, email, password_hash, created_at)
                 VALUES ('00000000-0000-7000-8000-000000000001', 'ada@example.com', 'h', 0);
             INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES
                 ('00000000-0000-7000-8000-0000000000a1', '00000000-0000-7000-8000-000000000001', 0, 9000000000000000),
                 ('00000000-0000-7000-8000-0000000000a2', '00000000-0000-7000-8000-0000000000ff', 0, 9000000000000000);
             INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES
                 ('\\x01', '00000000-0000-7000-8000-0000000000a1', 9000000000000000),
                 ('\\x02', '00000000-0000-7000-8000-0000000000a2', 9000000000000000);
             INSERT INTO api_tokens (hash, id, user_id, name, created_at, expires_at) VALUES
                 ('\\x03', '00000000-0000-7000-8000-0000000000b1', '00000000-0000-7000-8000-000000000001', 'kept', 0, 9000000000000000),
                 ('\\x04', '00000000-0000-7000-8000-0000000000b2', '00000000-0000-7000-8000-0000000000ff', 'orphan', 0, 9000000000000000);",
        )
        .await
        .expect("writes the old schema's rows");

        let store = taskcore::PgStore::connect(taskcore::PgConfig::new(&url))
            .await
            .expect("connects, migrating over the orphans");
        let count = |table: &str| {
            let (url, sql) = (url.clone(), format!("SELECT count(*) FROM {table}"));
            async move { query_i64(&url, &sql).await.expect("counts")[0] }
        };
        assert_eq!(
            (
                count("sessions").await,
                count("refresh_tokens").await,
                count("api_tokens").await
            ),
            (1, 1, 1),
            "the orphans are gone, the user's rows stay"
        );
        // And the keys hold from now on: deleting the user takes the rest.
        execute(&url, "DELETE FROM users").await.expect("deletes");
        assert_eq!(
            (
                count("sessions").await,
                count("refresh_tokens").await,
                count("api_tokens").await
            ),
            (0, 0, 0)
        );
        drop(store);
    }

    #[tokio::test]
    async fn replicas_share_the_jwt_secret() {
        let Some(fixture) = Fixture::postgres().await else {
            return;
        };
        let url = fixture.pg_url.clone().expect("a PostgreSQL fixture");
        let other = taskcore::PgStore::connect(taskcore::PgConfig::new(url))
            .await
            .expect("connects");
        let first = fixture
            .store
            .jwt_secret(&|| vec![1; 32])
            .await
            .expect("secret");
        let second = other.jwt_secret(&|| vec![2; 32]).await.expect("secret");
        assert_eq!((first, second), (vec![1; 32], vec![1; 32]));
        other.ping().await.expect("answers");
        other.flush().await.expect("flushes");
    }
}
