// The files of the HTTP suite, listed once for both test binaries: `api`
// (tests/api/main.rs) runs `both` and `sled_only` on the embedded store,
// `api_pg` (tests/api_pg.rs) runs `both` and `postgres_only` on PostgreSQL.
// A new test file goes in `both`; a test fails when a file of tests/api/ is
// in no list. Each binary defines `api_modules!` and includes this file.
api_modules! {
    both: [
        helpers,
        binary,
        accounts,
        auth,
        changes,
        chosen_ids,
        errors_http,
        events,
        external_idp,
        extremes,
        fuzz,
        isolation,
        metrics,
        model,
        operations,
        pagination,
        projects,
        ratelimit,
        recurrence,
        tasks,
        tokens_attacks,
        transfer,
        validation,
    ],
    // The embedded store's own behaviour (its disk, its upgrades), and the
    // process and connection handling, which no store changes.
    sled_only: [connections, faults_disk, metrics_binary, process, startup, tools, upgrade],
    // What needs a shared database: several server processes as one.
    postgres_only: [events_replicas, faults_pg, replicas, transfer_pg, upgrade_pg],
}
