//! praxia-deploy's benchmarks, run by `bash scripts/bench` (`cargo bench --bench praxia`):
//! whole processes timed from spawn to exit against a throwaway PostgreSQL and a
//! real sshd, side by side with drizzle's own migrator and the floors (process
//! start, a bare connection). Prints a table and writes target/bench/praxia.json.
//! Targets are checked here and reported, never asserted in a test.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::corpus::sql_files;
use support::project::{TestProject, repo_root};
use support::sshd::TestDokku;
use support::test_postgres;

const NO_OP_RUNS: usize = 30;
const SLOW_RUNS: usize = 5;
/// Runs of each migration in the writer-stall scenario (each on a freshly filled table).
const STALL_RUNS: usize = 3;

/// One measured scenario.
struct Measurement {
    name: String,
    unit: &'static str,
    samples: Vec<f64>,
    target: Option<(f64, &'static str)>,
    note: String,
}

impl Measurement {
    fn sorted(&self) -> Vec<f64> {
        let mut samples = self.samples.clone();
        samples.sort_by(f64::total_cmp);
        samples
    }

    fn median(&self) -> f64 {
        let sorted = self.sorted();
        let middle = sorted.len() / 2;
        if sorted.len().is_multiple_of(2) { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] }
    }

    fn min(&self) -> f64 {
        self.sorted()[0]
    }

    fn max(&self) -> f64 {
        *self.sorted().last().unwrap()
    }

    /// Targets are upper bounds, except for throughput (`req/s`) and shares (`%`), which are floors.
    fn meets(&self) -> Option<bool> {
        let (target, _) = self.target?;
        Some(if matches!(self.unit, "req/s" | "%") { self.median() >= target } else { self.median() <= target })
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name, "unit": self.unit, "runs": self.samples.len(),
            "median": round(self.median()), "min": round(self.min()), "max": round(self.max()),
            "target": self.target.map(|(value, text)| json!({"value": value, "text": text})),
            "meets_target": self.meets(), "note": self.note,
        })
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn main() {
    let mut results: Vec<Measurement> = Vec::new();
    let mut ratios: Vec<(String, f64)> = Vec::new();
    eprintln!("praxia-deploy benchmarks: binary {}", binary().display());
    // PRAXIA_BENCH_ONLY=lock-safe runs only issue 26's two scenarios, =expand-contract
    // only issue 27's deploy under traffic, =rehearse only the rehearsal against
    // the real run, =no-op only the no-op release against sqlx-cli, run by run
    // interleaved; unset, everything runs.
    let only = std::env::var("PRAXIA_BENCH_ONLY").ok().filter(|only| !only.is_empty());
    match only.as_deref() {
        None => {}
        Some("lock-safe") => {
            results.extend(writer_stall_measurements(&mut ratios));
            results.extend(corpus_fix_measurements(&mut ratios));
            report(&results, &ratios);
            return;
        }
        Some("expand-contract") => {
            results.extend(expand_contract_measurements());
            report(&results, &ratios);
            return;
        }
        Some("rehearse") => {
            results.extend(rehearsal_measurements(&mut ratios));
            report(&results, &ratios);
            return;
        }
        Some("no-op") => {
            results.extend(no_op_against_sqlx(&mut ratios));
            report(&results, &ratios);
            return;
        }
        Some(other) => panic!("PRAXIA_BENCH_ONLY={other}: it knows lock-safe, expand-contract, rehearse and no-op"),
    }

    let floor_true = timed("process start floor: /bin/true", NO_OP_RUNS, || run(&mut Command::new("/bin/true")));
    let database = test_postgres().fresh_database();
    let floor_psql = timed("connect floor: psql -c 'select 1'", NO_OP_RUNS, || {
        run(Command::new("psql").args(["-X", "-q", "-t", "-c", "select 1", &database.url]))
    });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let floor_connect = timed("connect floor in-process: sqlx connect + SELECT 1", NO_OP_RUNS, || {
        runtime.block_on(async {
            use sqlx::Connection;
            let started = Instant::now();
            let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
            sqlx::query("SELECT 1").execute(&mut connection).await.unwrap();
            connection.close().await.unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        })
    });

    for applied in [50usize, 1000] {
        let database = test_postgres().fresh_database();
        let project = generated_project(applied);
        assert_success(project.on(&database).args(["--env", "bench", "release"]).output().unwrap(), "release (setup)");
        let release = timed(&format!("no-op release, {applied} applied"), NO_OP_RUNS, || {
            run(project.on(&database).args(["--env", "bench", "release"]))
        })
        .with_target(
            if applied == 50 { 8.0 } else { 12.0 },
            if applied == 50 { "<= 8 ms median" } else { "<= 12 ms median" },
        );
        let drizzle =
            timed(&format!("no-op drizzle-orm migrator (node), {applied} applied"), NO_OP_RUNS.min(15), || {
                run(Command::new("node")
                    .arg(interop("drizzle-migrate.mjs"))
                    .arg(&database.url)
                    .arg(project.path().join("migrations")))
            });
        // sqlx-cli's no-op `migrate run` on the same migrations in its own layout and table.
        let sqlx_dir = sqlx_migrations(&project, applied);
        let sqlx_run = |database: &support::TestDatabase| {
            let mut command = Command::new(sqlx_cli());
            command.args(["migrate", "run", "--source"]).arg(&sqlx_dir).args(["--database-url", &database.url]);
            command
        };
        assert_success(sqlx_run(&database).output().unwrap(), "sqlx migrate run (setup)");
        let sqlx = timed(&format!("no-op sqlx-cli `migrate run`, {applied} applied"), NO_OP_RUNS, || {
            run(&mut sqlx_run(&database))
        });
        ratios.push((
            format!("praxia release / sqlx-cli migrate run ({applied} applied; goal <= 0.8)"),
            release.median() / sqlx.median(),
        ));
        results.push(sqlx);
        ratios.push((
            format!("drizzle migrator / praxia release ({applied} applied)"),
            drizzle.median() / release.median(),
        ));
        ratios.push((
            format!("praxia release / process start ({applied} applied)"),
            release.median() / floor_true.median(),
        ));
        ratios.push((
            format!("praxia release / psql select 1 ({applied} applied)"),
            release.median() / floor_psql.median(),
        ));
        ratios.push((
            format!("praxia release / (process start + in-process connect) ({applied} applied)"),
            release.median() / (floor_true.median() + floor_connect.median()),
        ));
        results.push(release);
        results.push(drizzle);
    }

    let project = generated_project(1000);
    let apply = timed("apply 1,000 one-statement migrations", SLOW_RUNS, || {
        let database = test_postgres().fresh_database();
        run(project.on(&database).args(["--env", "bench", "migrate"]))
    })
    .with_target(1200.0, "< 1.2 s");
    let apply_median = apply.median();
    results.push(apply);

    // A very large migration: reading and numbering it must stay linear.
    let mut large = Vec::new();
    for megabytes in [10usize, 50] {
        let database = test_postgres().fresh_database();
        let statement = "INSERT INTO big (id, note) VALUES (1, 'a row of a large data migration');\n";
        let count = megabytes * 1_000_000 / statement.len();
        let sql = format!("CREATE TABLE big (id int, note text);\n{}", statement.repeat(count));
        let project = TestProject::with_migrations(&[("0000_big", 1_700_000_000_000, &sql)]);
        project.file("environments/bench.toml", "kind = \"production\"\n[database]\nwait = \"10s\"\n");
        let status =
            timed(&format!("status with a pending {megabytes} MB migration ({count} statements)"), SLOW_RUNS, || {
                run(project.on(&database).args(["--env", "bench", "status"]))
            });
        large.push(status);
    }
    ratios.push(("status time 50 MB / 10 MB (linear: about 5)".to_owned(), large[1].median() / large[0].median()));
    results.extend(large);

    let lint_project = generated_project(1000);
    let lint = timed("lint 1,000 migrations offline", SLOW_RUNS, || {
        run(lint_project.command().args(["--env", "bench", "lint"]))
    })
    .with_target(1000.0, "well under 1 s");
    results.push(lint);

    let seed_project = TestProject::from_repo();
    let seed = timed("seed --scale 1000 (10,000 users, 1,000 organizations)", SLOW_RUNS, || {
        let database = test_postgres().fresh_database();
        assert_success(seed_project.on(&database).arg("migrate").output().unwrap(), "migrate before seed");
        run(seed_project.on(&database).args(["seed", "--scale", "1000"]))
    })
    .with_target(3000.0, "< 3 s");
    results.push(seed);

    results.extend(backup_measurements(&mut ratios));
    results.extend(writer_stall_measurements(&mut ratios));
    results.extend(corpus_fix_measurements(&mut ratios));

    // Drift: the replay into a scratch database on the same server dominates.
    let shipped = TestProject::from_repo();
    let shipped_database = test_postgres().fresh_database();
    assert_success(shipped.on(&shipped_database).arg("migrate").output().unwrap(), "migrate before drift");
    let drift_shipped = timed("drift on the shipped schema (2 migrations replayed)", SLOW_RUNS, || {
        run(shipped.on(&shipped_database).args(["drift", "--shadow-url", &test_postgres().shadow_url()]))
    });
    let thousand = generated_project(1000);
    let thousand_database = test_postgres().fresh_database();
    assert_success(
        thousand.on(&thousand_database).args(["--env", "bench", "migrate"]).output().unwrap(),
        "migrate before drift",
    );
    // A test-kind environment: a production database's own server is never a shadow.
    thousand.file("environments/bench_drift.toml", "kind = \"test\"\n[database]\nwait = \"10s\"\n");
    let drift_thousand = timed("drift on 1,000 applied migrations", SLOW_RUNS, || {
        run(thousand.on(&thousand_database).args([
            "--env",
            "bench_drift",
            "drift",
            "--shadow-url",
            &test_postgres().shadow_url(),
        ]))
    });
    ratios.push((
        "drift 1,000 migrations / apply 1,000 migrations (the replay's share)".to_owned(),
        drift_thousand.median() / apply_median,
    ));
    results.push(drift_shipped);
    results.push(drift_thousand);

    // What `[drift] on_release = "warn"` adds to the no-op release Dokku runs on
    // every config:set: the expected schema recorded by `drift --record` and kept
    // by the first release, the catalog unchanged since (its fingerprint read).
    let environment = |drift: &str| {
        format!("kind = \"production\"\n[backup]\nbefore_migrate = false\n[drift]\non_release = \"{drift}\"\n")
    };
    let noop_database = test_postgres().fresh_database();
    shipped.file("environments/bench_noop.toml", &environment("warn"));
    assert_success(
        shipped
            .on(&noop_database)
            .args(["--env", "bench_noop", "drift", "--record", "--shadow-url", &test_postgres().shadow_url()])
            .output()
            .unwrap(),
        "drift --record",
    );
    assert_success(
        shipped.on(&noop_database).args(["--env", "bench_noop", "release"]).output().unwrap(),
        "first release",
    );
    let quiet = timed("no-op release of the shipped schema, [drift] off", NO_OP_RUNS, || {
        shipped.file("environments/bench_noop.toml", &environment("off"));
        run(shipped.on(&noop_database).args(["--env", "bench_noop", "release"]))
    });
    let checked = timed("no-op release of the shipped schema, [drift] on_release = warn", NO_OP_RUNS, || {
        shipped.file("environments/bench_noop.toml", &environment("warn"));
        run(shipped.on(&noop_database).args(["--env", "bench_noop", "release"]))
    });
    ratios.push(("no-op release with drift warn - without (ms)".to_owned(), checked.median() - quiet.median()));
    results.push(quiet);
    results.push(checked);

    results.extend(expand_contract_measurements());
    results.extend(rehearsal_measurements(&mut ratios));
    results.extend(studio_measurements(&mut ratios));
    results.extend(serve_measurements());
    let (remote, plain) = ssh_measurements();
    ratios.push(("remote status - plain ssh run (ms)".to_owned(), remote.median() - plain.median()));
    results.push(remote);
    results.push(plain);
    results.push(floor_true);
    results.push(floor_psql);
    results.push(floor_connect);

    report(&results, &ratios);
}

/// `backup` (pg_dump, then verified by pg_restore twice and renamed) and the
/// restore drill of a `seed --scale 1000` database, each against the bare tool
/// it wraps in the same run: `pg_dump -Fc` to a file, `pg_restore` into a new database.
fn backup_measurements(ratios: &mut Vec<(String, f64)>) -> Vec<Measurement> {
    let project = TestProject::from_repo();
    let database = test_postgres().fresh_database();
    assert_success(project.on(&database).arg("migrate").output().unwrap(), "migrate before backup");
    assert_success(project.on(&database).args(["seed", "--scale", "1000"]).output().unwrap(), "seed before backup");
    let backup = timed("backup of the seed --scale 1000 database (pg_dump + verify)", SLOW_RUNS, || {
        run(project.on(&database).args(["backup"]))
    });
    let scratch = tempfile::tempdir().unwrap();
    let dump = scratch.path().join("peer.dump");
    let pg_dump = timed("peer: pg_dump -Fc of the same database to a file", SLOW_RUNS, || {
        run(Command::new("pg_dump").args(["-Fc", "--no-owner", "--no-acl", "-f"]).arg(&dump).arg(&database.url))
    });
    let file = std::fs::read_dir(project.path().join("backups"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "dump"))
        .expect("a backup");
    let drill = timed("backup verify (restore drill into a scratch database)", SLOW_RUNS, || {
        run(project.command().args(["--env", "test", "backup", "verify"]).arg(&file))
    });
    let pg_restore = timed("peer: pg_restore of the same dump into a new database", SLOW_RUNS, || {
        let target = test_postgres().fresh_database();
        run(Command::new("pg_restore")
            .args(["--no-owner", "--no-acl", "--single-transaction", "--dbname", &target.url])
            .arg(&file))
    });
    ratios.push(("backup / pg_dump -Fc".to_owned(), backup.median() / pg_dump.median()));
    ratios.push(("backup verify / pg_restore".to_owned(), drill.median() / pg_restore.median()));
    vec![backup, pg_dump, drill, pg_restore]
}

/// The tables the lock-safe scenario's migration changes, as drizzle-kit makes
/// them (the same as tests/it/lock_safe.rs's); the rows are the app's, filled later.
const STALL_TABLES: &str = concat!(
    "CREATE TABLE \"organization\" (\"id\" integer PRIMARY KEY);--> statement-breakpoint\n",
    "CREATE TABLE \"profile\" (\"id\" integer PRIMARY KEY, \"organization_id\" integer, \"nick\" text, \"age\" integer);--> statement-breakpoint\n",
    "CREATE INDEX \"profile_old_idx\" ON \"profile\" USING btree (\"age\");--> statement-breakpoint\n",
    "INSERT INTO \"organization\" VALUES (1);",
);

/// drizzle-kit 0.31's output for one change of every lock-safe recipe
/// (tests/it/lock_safe.rs's CHANGE).
const STALL_CHANGE: &str = concat!(
    "ALTER TABLE \"profile\" ALTER COLUMN \"nick\" SET NOT NULL;--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_nick_unique\" UNIQUE(\"nick\");--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_org_age_unique\" UNIQUE NULLS NOT DISTINCT(\"organization_id\",\"age\");--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_organization_id_organization_id_fk\" FOREIGN KEY (\"organization_id\") REFERENCES \"public\".\"organization\"(\"id\") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint\n",
    "ALTER TABLE \"public\".\"profile\" ADD CONSTRAINT \"profile_age_check\" CHECK (\"profile\".\"age\" > 0);--> statement-breakpoint\n",
    "CREATE INDEX \"profile_nick_idx\" ON \"profile\" USING btree (\"nick\");--> statement-breakpoint\n",
    "DROP INDEX \"profile_old_idx\";",
);

/// Production's limits (lock_timeout 5 s, the concurrent ones), the review gate
/// off (it would refuse the original migration on a 1,000,000-row table), no backup.
const STALL_ENVIRONMENT: &str =
    "kind = \"production\"\n[database]\nwait = \"10s\"\n[review]\ngate = false\n[backup]\nbefore_migrate = false\n";

/// Issue 26: the longest stall of a writer committing continuously into a
/// 1,000,000-row table while `migrate` applies drizzle-kit's migration, as
/// written and as `lint --fix --write` rewrote it; each run on a freshly filled
/// database, the two alternating.
fn writer_stall_measurements(ratios: &mut Vec<(String, f64)>) -> Vec<Measurement> {
    eprintln!("  lock-safe: writer stall on a 1,000,000-row table ...");
    let tables = TestProject::with_migrations(&[("0000_tables", 1_700_000_000_000, STALL_TABLES)]);
    let migrations =
        [("0000_tables", 1_700_000_000_000, STALL_TABLES), ("0001_change", 1_700_000_001_000, STALL_CHANGE)];
    let original = TestProject::with_migrations(&migrations);
    let fixed = TestProject::with_migrations(&migrations);
    for project in [&tables, &original, &fixed] {
        project.file("environments/bench.toml", STALL_ENVIRONMENT);
    }
    // As a user would: the rewrite written once the replay shows the same schema (embedded cluster).
    assert_success(
        fixed.command().args(["--env", "test", "lint", "--fix", "0001_change", "--write"]).output().unwrap(),
        "lint --fix 0001_change --write",
    );
    let _ = fixed.command().args(["--env", "test", "db", "stop"]).output();
    let rewritten = std::fs::read_to_string(fixed.path().join("migrations/0001_change.sql")).unwrap();
    assert!(rewritten.contains("CONCURRENTLY"), "lint --fix --write rewrote nothing:\n{rewritten}");

    let mut stalls = [Vec::new(), Vec::new()];
    let mut durations = [Vec::new(), Vec::new()];
    let mut idle = Vec::new();
    for round in 0..STALL_RUNS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let project = if which == 0 { &original } else { &fixed };
            let database = filled_profile_database(&tables);
            let writer = Writer::start(&database.url);
            std::thread::sleep(Duration::from_millis(1000));
            let from = Instant::now();
            durations[which].push(run(project.on(&database).args(["--env", "bench", "migrate"])));
            let to = Instant::now();
            std::thread::sleep(Duration::from_millis(500));
            let commits = writer.stop();
            let stall = longest_gap(&commits, from, to);
            idle.push(longest_gap(&commits, commits[0] + Duration::from_millis(200), from));
            eprintln!(
                "    run {round}, {}: migrate {:.0} ms, longest writer stall {stall:.1} ms",
                ["original", "fixed"][which],
                durations[which].last().unwrap()
            );
            stalls[which].push(stall);
            drop_database(&database);
        }
    }
    let [original_stall, fixed_stall] = stalls;
    let [original_time, fixed_time] = durations;
    let measurement = |name: &str, samples: Vec<f64>, target: Option<(f64, &'static str)>| Measurement {
        name: name.to_owned(),
        unit: "ms",
        samples,
        target,
        note: "a writer doing single-row INSERT transactions on profile (1,000,000 rows) throughout".to_owned(),
    };
    let results = vec![
        measurement("writer's longest stall: drizzle-kit's migration as written", original_stall, None),
        measurement(
            "writer's longest stall: the same after lint --fix --write",
            fixed_stall,
            Some((100.0, "< 100 ms")),
        ),
        measurement("writer's longest stall with no migration running (floor)", idle, None),
        measurement("migrate time: drizzle-kit's migration as written", original_time, None),
        measurement("migrate time: the same after lint --fix --write", fixed_time, None),
    ];
    ratios.push((
        "writer stall: fixed / original (same runs, %)".to_owned(),
        100.0 * results[1].median() / results[0].median(),
    ));
    ratios.push(("migrate time: fixed / original (same runs)".to_owned(), results[4].median() / results[3].median()));
    results
}

/// A fresh database with the tables migrated (production's bookkeeping) and
/// 1,000,000 rows in profile, vacuumed and analysed as an old table would be.
fn filled_profile_database(tables: &TestProject) -> support::TestDatabase {
    let database = test_postgres().fresh_database();
    assert_success(tables.on(&database).args(["--env", "bench", "migrate"]).output().unwrap(), "migrate the tables");
    let fill = "INSERT INTO profile SELECT g, 1, 'n' || g, g FROM generate_series(1, 1000000) g";
    assert_success(
        Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &database.url, "-c", fill])
            .args(["-c", "VACUUM ANALYZE profile", "-c", "VACUUM ANALYZE organization"])
            .output()
            .unwrap(),
        "fill profile",
    );
    database
}

fn drop_database(database: &support::TestDatabase) {
    let server = test_postgres().cluster.url("postgres").unwrap();
    let drop = format!("DROP DATABASE \"{}\" WITH (FORCE)", database.name);
    assert_success(Command::new("psql").args(["-X", "-q", &server, "-c", &drop]).output().unwrap(), "drop database");
}

/// A client of the app committing continuously: single-row INSERTs into profile
/// (each its own transaction, rows every constraint of the migration accepts),
/// the time of each commit kept.
const DEPLOY_BASE: &str = "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" text);\n--> statement-breakpoint\nINSERT INTO \"note\" VALUES (1, 'b', 'l');\n";
const DEPLOY_CHANGE: &str = "ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"title\" text;";

/// Issue 27: the old release's failed queries during a deploy that drops a
/// column it reads. A stand-in for the old release (`app@rev0`) reads the
/// column every 5 ms on its own connection; the change deploys as praxia-deploy
/// runs it (`release` of rev1 expands, the post-deploy step `contract` waits for
/// the old release to retire, which it does a second later) and as the
/// backend's `migrate.js` runs it (drizzle's migrator, the whole file at once,
/// the old release retiring a second later).
fn expand_contract_measurements() -> Vec<Measurement> {
    eprintln!("  expand-contract: a column dropped while the old release reads it ...");
    let environment = "kind = \"production\"\n[database]\nwait = \"10s\"\n[backup]\nbefore_migrate = false\n[contract]\napp_sessions = \"app@\"\nretire_wait = \"30s\"\n";
    let base = [("0000_base", 1_700_000_000_000, DEPLOY_BASE)];
    let both = [("0000_base", 1_700_000_000_000, DEPLOY_BASE), ("0001_drop_legacy", 1_700_000_001_000, DEPLOY_CHANGE)];
    let at = |project: &TestProject, database: &support::TestDatabase, revision: &str, command: &str| {
        let mut run = project.on(database);
        run.env("GIT_REV", revision).args(["--env", "bench", command]);
        run
    };
    let (mut praxia, mut drizzle, mut waited) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let project = TestProject::with_migrations(&base);
        project.file("environments/bench.toml", environment);
        let database = test_postgres().fresh_database();
        assert_success(at(&project, &database, "rev0", "release").output().unwrap(), "release rev0");
        let old = OldReader::start(&database.url, "app@rev0", true);
        project.set_migrations(&both);
        assert_success(at(&project, &database, "rev1", "release").output().unwrap(), "release rev1");
        let new = OldReader::start(&database.url, "app@rev1", false);
        let started = Instant::now();
        let post_deploy = at(&project, &database, "rev1", "contract").stdout(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        let (queries, errors) = old.stop();
        assert_success(post_deploy.wait_with_output().unwrap(), "contract");
        waited.push(started.elapsed().as_secs_f64() * 1000.0);
        new.stop();
        assert!(queries > 50, "the old release queried throughout ({queries})");
        praxia.push(errors as f64);
        drop_database(&database);

        let database = test_postgres().fresh_database();
        project.set_migrations(&base);
        assert_success(project.on(&database).arg("migrate").output().unwrap(), "migrate base");
        let old = OldReader::start(&database.url, "app@rev0", true);
        project.set_migrations(&both);
        std::thread::sleep(Duration::from_millis(200));
        let output = Command::new("node")
            .arg(interop("drizzle-migrate.mjs"))
            .arg(&database.url)
            .arg(project.path().join("migrations"))
            .output()
            .unwrap();
        assert_success(output, "drizzle's migrator");
        std::thread::sleep(Duration::from_millis(1000));
        drizzle.push(old.stop().1 as f64);
        drop_database(&database);
    }
    let count = |name: &str, samples: Vec<f64>, target: Option<(f64, &'static str)>| Measurement {
        name: name.to_owned(),
        unit: "errors",
        samples,
        target,
        note: "the old release reading the dropped column every 5 ms until it retires, a second after the switch"
            .to_owned(),
    };
    vec![
        count("old release's failed queries: release + post-deploy contract", praxia, Some((0.5, "0"))),
        count("old release's failed queries: drizzle's migrator (migrate.js)", drizzle, None),
        Measurement {
            name: "post-deploy contract: time until the drop ran".to_owned(),
            unit: "ms",
            samples: waited,
            target: None,
            note: "the old release retires 1 s after the step starts".to_owned(),
        },
    ]
}

/// A stand-in for a release's connection (`application_name` as its
/// containers set it): with `reads`, it reads note.legacy every 5 ms, counting
/// queries and errors, until stopped.
struct OldReader {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl OldReader {
    fn start(url: &str, application_name: &str, reads: bool) -> OldReader {
        let stop = Arc::new(AtomicBool::new(false));
        let (url, name, stopped) = (url.to_owned(), application_name.to_owned(), stop.clone());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                use sqlx::Connection;
                let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
                let mut connection = sqlx::PgConnection::connect_with(&options.application_name(&name)).await.unwrap();
                ready_tx.send(()).unwrap();
                let (mut queries, mut errors) = (0u64, 0u64);
                while !stopped.load(Ordering::Relaxed) {
                    if reads {
                        queries += 1;
                        let read = sqlx::query("SELECT \"legacy\" FROM \"note\" WHERE \"id\" = 1");
                        if read.fetch_optional(&mut connection).await.is_err() {
                            errors += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = connection.close().await;
                (queries, errors)
            })
        });
        ready.recv().expect("the stand-in connected");
        OldReader { stop, thread }
    }

    /// Retires it: (queries, errors).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the stand-in ran to the end")
    }
}

struct Writer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Instant>>,
}

impl Writer {
    fn start(url: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (url, stopped) = (url.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
                let mut commits = Vec::new();
                let mut id: i32 = 1_000_000;
                while !stopped.load(Ordering::Relaxed) {
                    id += 1;
                    sqlx::query("INSERT INTO profile VALUES ($1, 1, $2, $1)")
                        .bind(id)
                        .bind(format!("n{id}"))
                        .execute(&mut connection)
                        .await
                        .unwrap_or_else(|err| panic!("the writer's INSERT failed: {err}"));
                    commits.push(Instant::now());
                }
                commits
            })
        });
        Writer { stop, thread }
    }

    /// Stops it: the time of every commit, in order.
    fn stop(self) -> Vec<Instant> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the writer ran to the end")
    }
}

/// The longest gap between consecutive commits around `[from, to]` (from the
/// last commit before `from` to the first after `to`), in milliseconds.
fn longest_gap(commits: &[Instant], from: Instant, to: Instant) -> f64 {
    let first = commits.iter().rposition(|commit| *commit <= from).unwrap_or(0);
    let last = commits.iter().position(|commit| *commit >= to).expect("the writer committed after the window");
    commits[first..=last].windows(2).map(|pair| (pair[1] - pair[0]).as_secs_f64() * 1000.0).fold(0.0, f64::max)
}

/// The pending migration of the rehearsal scenario: ten statements on the
/// `seed --scale` tables (1,000,000 rows each), as drizzle-kit writes them, one
/// transaction, each statement its own message. Rewrites, index builds, a
/// whole-table UPDATE and validating scans.
const REHEARSED_CHANGE: &str = concat!(
    "ALTER TABLE \"profile\" ADD COLUMN \"external_id\" uuid DEFAULT gen_random_uuid() NOT NULL;--> statement-breakpoint\n",
    "ALTER TABLE \"organization_user\" ALTER COLUMN \"role\" SET DATA TYPE varchar(32);--> statement-breakpoint\n",
    "CREATE INDEX \"user_name_idx\" ON \"user\" USING btree (\"name\");--> statement-breakpoint\n",
    "CREATE UNIQUE INDEX \"account_provider_id_account_id_idx\" ON \"account\" USING btree (\"provider_id\",\"account_id\");--> statement-breakpoint\n",
    "UPDATE \"user\" SET \"email_verified\" = true;--> statement-breakpoint\n",
    "ALTER TABLE \"organization_user\" ADD CONSTRAINT \"organization_user_created_at_check\" CHECK (\"organization_user\".\"created_at\" > '2020-01-01');--> statement-breakpoint\n",
    "ALTER TABLE \"account\" ADD CONSTRAINT \"account_account_id_user_id_fk\" FOREIGN KEY (\"account_id\") REFERENCES \"public\".\"user\"(\"id\") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint\n",
    "ALTER TABLE \"account\" ALTER COLUMN \"password\" SET NOT NULL;--> statement-breakpoint\n",
    "CREATE INDEX \"profile_role_idx\" ON \"profile\" USING btree (\"role\") WHERE \"profile\".\"role\" <> 'teacher';--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_external_id_unique\" UNIQUE(\"external_id\");",
);

/// What each of REHEARSED_CHANGE's statements does, in the table.
const REHEARSED_LABELS: [&str; 10] = [
    "ADD COLUMN, volatile default (profile rewritten)",
    "SET DATA TYPE varchar(32) (organization_user rewritten)",
    "CREATE INDEX (user.name)",
    "CREATE UNIQUE INDEX (account, 2 columns)",
    "UPDATE of every row (user)",
    "ADD CHECK (organization_user scanned)",
    "ADD FOREIGN KEY (account -> user validated)",
    "SET NOT NULL (account scanned)",
    "CREATE INDEX, partial (profile.role)",
    "ADD UNIQUE (profile.external_id)",
];

/// Pairs of (rehearsal, real run) in the rehearsal scenario.
const REHEARSE_RUNS: usize = 3;
/// `seed --scale`: about 10 users an organization, so 1,000,000 users,
/// accounts, profiles and memberships.
const REHEARSE_SCALE: &str = "100000";

/// The settings production's server and the development cluster run with (the
/// test server's are fsync, full_page_writes and synchronous_commit off).
const DURABLE_SETTINGS: [&str; 3] = ["fsync", "full_page_writes", "synchronous_commit"];

/// Issue 27's rehearsal against the real run: a project with the repository's
/// migrations, `seed --scale 100000` (1,000,000 rows in each table the
/// migration touches), vacuumed and analysed once and kept as a template. Each
/// run copies it, takes `backup` of the copy, runs `rehearse --output json`
/// (restore into a scratch database on the project's embedded development
/// cluster, the ten statements timed there), then the real `migrate` of the
/// copy on the bench's server, each statement's time read from the server's
/// own log (`log_min_duration_statement = 0`). The real run is taken twice,
/// each on a fresh copy: with the server durable (fsync, full-page writes and
/// synchronous commit on, as production and the development cluster run) and
/// with the test server's throwaway settings.
fn rehearsal_measurements(ratios: &mut Vec<(String, f64)>) -> Vec<Measurement> {
    eprintln!("  rehearse: seed --scale {REHEARSE_SCALE} (1,000,000 users) ...");
    let repo_journal: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("migrations/meta/_journal.json")).unwrap())
            .unwrap();
    let mut migrations: Vec<(String, i64, String)> = repo_journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let tag = entry["tag"].as_str().unwrap().to_owned();
            let sql = std::fs::read_to_string(repo_root().join(format!("migrations/{tag}.sql"))).unwrap();
            (tag, entry["when"].as_i64().unwrap(), sql)
        })
        .collect();
    let base_count = migrations.len();
    let last_when = migrations.last().unwrap().1;
    migrations.push(("0002_rehearsed".to_owned(), last_when + 60_000, REHEARSED_CHANGE.to_owned()));
    let borrowed: Vec<(&str, i64, &str)> =
        migrations.iter().map(|(tag, when, sql)| (tag.as_str(), *when, sql.as_str())).collect();
    // The repository's environments (test: no review gate, no backup before migrate).
    let project = TestProject::from_repo();
    project.set_migrations(&borrowed[..base_count]);
    let seeded = test_postgres().fresh_database();
    assert_success(project.on(&seeded).args(["--env", "test", "migrate"]).output().unwrap(), "migrate the base");
    let seed_took = run(project.on(&seeded).args(["--env", "test", "seed", "--scale", REHEARSE_SCALE]));
    psql(&seeded.url, &["VACUUM ANALYZE"]);
    let rows: i64 = psql(&seeded.url, &["SELECT count(*) FROM \"user\""]).trim().parse().unwrap();
    assert!(rows >= 1_000_000, "seed --scale {REHEARSE_SCALE} wrote {rows} users");
    eprintln!("    seeded {rows} users in {:.0} s", seed_took / 1000.0);
    project.set_migrations(&borrowed);
    let statements: Vec<String> =
        REHEARSED_CHANGE.split("--> statement-breakpoint").map(|statement| statement.trim().to_owned()).collect();
    assert_eq!(statements.len(), REHEARSED_LABELS.len());

    let server = test_postgres().cluster.url("postgres").unwrap();
    let copy = |name: String| {
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\" STRATEGY FILE_COPY", seeded.name);
        psql(&server, &[&sql, "CHECKPOINT"]);
        support::TestDatabase { url: test_postgres().cluster.url(&name).unwrap(), name }
    };
    let durable = |on: bool| {
        let mut sql: Vec<String> =
            DURABLE_SETTINGS
                .iter()
                .map(|setting| {
                    if on {
                        format!("ALTER SYSTEM SET {setting} = on")
                    } else {
                        format!("ALTER SYSTEM RESET {setting}")
                    }
                })
                .collect();
        sql.push("SELECT pg_reload_conf()".to_owned());
        psql(&server, &sql.iter().map(String::as_str).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(psql(&server, &["SHOW fsync"]).trim(), if on { "on" } else { "off" });
    };
    // The real run: `migrate` of a fresh copy, its statements' times from the server log.
    let real_run = |database: &support::TestDatabase| -> RealRun {
        psql(&server, &[&format!("ALTER DATABASE \"{}\" SET log_min_duration_statement = 0", database.name)]);
        let log = &test_postgres().cluster.log_file;
        let from = std::fs::metadata(log).unwrap().len();
        let took = run(project.on(database).args(["--env", "test", "migrate"]));
        let text = std::fs::read(log).unwrap();
        let real = RealRun::from_log(&String::from_utf8_lossy(&text[from as usize..]), &statements, took);
        drop_database(database);
        real
    };

    let mut rehearsed: Vec<Vec<f64>> = vec![Vec::new(); statements.len()];
    let mut durable_runs: Vec<RealRun> = Vec::new();
    let mut throwaway_runs: Vec<RealRun> = Vec::new();
    let (mut held, mut rehearse_took, mut backup_took) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..REHEARSE_RUNS {
        let source = copy(format!("{}_run{round}", seeded.name));
        backup_took.push(run(project.on(&source).args(["--env", "test", "backup"])));
        let started = Instant::now();
        let output = project.on(&source).args(["--env", "test", "--output", "json", "rehearse"]).output().unwrap();
        rehearse_took.push(started.elapsed().as_secs_f64() * 1000.0);
        let document: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("rehearse --output json: {err}\n{}", String::from_utf8_lossy(&output.stderr)));
        let migration = &document["result"]["rehearsal"]["migrations"][0];
        assert_eq!(migration["tag"], "0002_rehearsed", "{document:#}");
        let ran = migration["statements"].as_array().unwrap();
        assert_eq!(ran.len(), statements.len(), "{document:#}");
        for (index, statement) in ran.iter().enumerate() {
            rehearsed[index].push(statement["duration_ms"].as_f64().unwrap());
        }
        // The longest ACCESS EXCLUSIVE a release's table saw: profile's, from statement 1 to the commit.
        held.push(
            ran.iter()
                .flat_map(|statement| statement["locks"].as_array().unwrap())
                .filter(|lock| lock["mode"] == "ACCESS EXCLUSIVE" && lock.get("made_by").is_none())
                .map(|lock| lock["held_ms"].as_f64().unwrap())
                .fold(0.0, f64::max),
        );
        drop_database(&source);

        durable(true);
        let target = copy(format!("{}_durable{round}", seeded.name));
        durable_runs.push(real_run(&target));
        durable(false);
        let target = copy(format!("{}_throwaway{round}", seeded.name));
        throwaway_runs.push(real_run(&target));
        let within = |runs: &[RealRun]| {
            let real = &runs.last().unwrap().durations;
            (0..statements.len()).filter(|&index| within_25(*rehearsed[index].last().unwrap(), real[index])).count()
        };
        eprintln!(
            "    run {round}: rehearsal {:.0} ms of statements (ACCESS EXCLUSIVE {:.0} ms); real run durable {:.0} ms ({} of 10 within 25%), throwaway {:.0} ms ({} of 10)",
            rehearsed.iter().map(|samples| samples.last().unwrap()).sum::<f64>(),
            held.last().unwrap(),
            durable_runs.last().unwrap().durations.iter().sum::<f64>(),
            within(&durable_runs),
            throwaway_runs.last().unwrap().durations.iter().sum::<f64>(),
            within(&throwaway_runs),
        );
    }
    drop_database(&seeded);

    let ms = |name: String, samples: Vec<f64>, note: &str| Measurement {
        name,
        unit: "ms",
        samples,
        target: None,
        note: note.to_owned(),
    };
    let median_of = |samples: &[f64]| ms(String::new(), samples.to_vec(), "").median();
    let mut results = Vec::new();
    let mut shares = Vec::new();
    for (label, runs) in [("durable", &durable_runs), ("fsync off", &throwaway_runs)] {
        let mut within = 0;
        for (index, rehearsal) in rehearsed.iter().enumerate() {
            let real: Vec<f64> = runs.iter().map(|run| run.durations[index]).collect();
            within += usize::from(within_25(median_of(rehearsal), median_of(&real)));
            ratios.push((
                format!("rehearsal / real run ({label}), statement {}: {}", index + 1, REHEARSED_LABELS[index]),
                median_of(rehearsal) / median_of(&real),
            ));
        }
        shares.push(Measurement {
            name: format!("rehearse: statements within 25% of the real run ({label})"),
            unit: "%",
            samples: vec![100.0 * within as f64 / statements.len() as f64],
            target: (label == "durable").then_some((90.0, ">= 90% (9 of 10)")),
            note: format!("{within} of {} statements, by the medians of {REHEARSE_RUNS} runs", statements.len()),
        });
        // The same, run by run (each rehearsal against the real run after it).
        let per_run = (0..REHEARSE_RUNS)
            .map(|run| {
                (0..statements.len())
                    .filter(|&index| within_25(rehearsed[index][run], runs[run].durations[index]))
                    .count() as f64
            })
            .collect();
        shares.push(Measurement {
            name: format!("rehearse: statements within 25%, run by run ({label})"),
            unit: "n",
            samples: per_run,
            target: None,
            note: "of 10, each rehearsal against the real run of the same round".to_owned(),
        });
    }
    results.extend(shares);
    for (index, label) in REHEARSED_LABELS.iter().enumerate() {
        let note = "rehearse --output json: duration_ms";
        results.push(ms(format!("rehearse: statement {}, {label}", index + 1), rehearsed[index].clone(), note));
        let real = |runs: &[RealRun]| runs.iter().map(|run| run.durations[index]).collect::<Vec<_>>();
        let note = "the server log's duration";
        results.push(ms(format!("real run (durable): statement {}", index + 1), real(&durable_runs), note));
        results.push(ms(format!("real run (fsync off): statement {}", index + 1), real(&throwaway_runs), note));
    }
    let total = |runs: &[RealRun]| runs.iter().map(|run| run.durations.iter().sum()).collect::<Vec<f64>>();
    let rehearsed_total: Vec<f64> =
        (0..REHEARSE_RUNS).map(|run| rehearsed.iter().map(|samples| samples[run]).sum()).collect();
    results.push(ms("rehearse: the ten statements".to_owned(), rehearsed_total, ""));
    results.push(ms("real run (durable): the ten statements".to_owned(), total(&durable_runs), ""));
    results.push(ms("real run (fsync off): the ten statements".to_owned(), total(&throwaway_runs), ""));
    results.push(ms("rehearse: longest ACCESS EXCLUSIVE hold (profile)".to_owned(), held, "statement 1 to the commit"));
    let transaction = |runs: &[RealRun]| runs.iter().map(|run| run.transaction).collect::<Vec<f64>>();
    let note = "statement 1's start to COMMIT's end, from the server log";
    results.push(ms("real run (durable): statement 1 to commit".to_owned(), transaction(&durable_runs), note));
    results.push(ms("real run (fsync off): statement 1 to commit".to_owned(), transaction(&throwaway_runs), note));
    let whole = |runs: &[RealRun]| runs.iter().map(|run| run.took).collect::<Vec<f64>>();
    results.push(ms("real run (durable): migrate, spawn to exit".to_owned(), whole(&durable_runs), ""));
    results.push(ms("real run (fsync off): migrate, spawn to exit".to_owned(), whole(&throwaway_runs), ""));
    results.push(ms("rehearse, spawn to exit (restore included)".to_owned(), rehearse_took, ""));
    results.push(ms(format!("backup of the seed --scale {REHEARSE_SCALE} database"), backup_took, ""));
    results
}

/// One real run of the rehearsal scenario's migration, as the server logged it.
struct RealRun {
    /// Each statement's `duration:`, in the migration's order.
    durations: Vec<f64>,
    /// From statement 1's start (its log time less its duration) to COMMIT's log time.
    transaction: f64,
    /// `migrate`, spawn to exit.
    took: f64,
}

impl RealRun {
    /// Reads `log` (the server's, `log_min_duration_statement = 0`, the default
    /// `%m [%p] ` prefix): each entry `duration: X ms  statement: SQL`, SQL
    /// possibly over several lines.
    fn from_log(log: &str, statements: &[String], took: f64) -> RealRun {
        let mut entries: Vec<String> = Vec::new();
        for line in log.lines() {
            let starts = line.len() > 24 && line.as_bytes()[4] == b'-' && line[..4].bytes().all(|b| b.is_ascii_digit());
            match entries.last_mut() {
                Some(entry) if !starts => {
                    entry.push('\n');
                    entry.push_str(line);
                }
                _ => entries.push(line.to_owned()),
            }
        }
        // (end of the statement in seconds of the day, duration in ms, the SQL)
        let logged: Vec<(f64, f64, String)> = entries
            .iter()
            .filter_map(|entry| {
                let (head, sql) = entry.split_once(" ms  statement: ")?;
                let duration: f64 = head.rsplit_once("duration: ")?.1.parse().ok()?;
                let clock: Vec<f64> = entry[11..23].split(':').filter_map(|part| part.parse().ok()).collect();
                let at = clock[0] * 3600.0 + clock[1] * 60.0 + clock[2];
                Some((at, duration, sql.trim().to_owned()))
            })
            .collect();
        let find = |sql: &str| {
            logged
                .iter()
                .position(|(_, _, logged)| logged == sql)
                .unwrap_or_else(|| panic!("the server log has no duration for {sql}"))
        };
        let indexes: Vec<usize> = statements.iter().map(|statement| find(statement)).collect();
        let first = &logged[indexes[0]];
        let commit = logged[indexes[indexes.len() - 1]..]
            .iter()
            .find(|(_, _, sql)| sql == "COMMIT")
            .expect("the migration's COMMIT in the server log");
        RealRun {
            durations: indexes.iter().map(|&index| logged[index].1).collect(),
            transaction: (commit.0 - (first.0 - first.1 / 1000.0)).rem_euclid(86_400.0) * 1000.0,
            took,
        }
    }
}

fn within_25(rehearsed: f64, real: f64) -> bool {
    (rehearsed / real - 1.0).abs() <= 0.25
}

/// psql as the server's superuser: each of `sql` its own command (outside a
/// transaction), the output unaligned.
fn psql(url: &str, sql: &[&str]) -> String {
    let mut command = Command::new("psql");
    command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url]);
    for each in sql {
        command.args(["-c", each]);
    }
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_success(output, &format!("psql {sql:?}"));
    text
}

/// Issue 26: how many of the review's lock-duration findings on the corpus
/// (tests/corpus: public projects' drizzle folders, unedited) `lint --fix`'s
/// rewrite resolves. Each migration is taken as the pending one on top of the
/// earlier ones (what `lint --fix TAG` does with one tag: their tables exist);
/// the findings are `lint --output json`'s on a copy of the folder before and
/// after every file was rewritten. The rules counted are the review's own list
/// of rules about lock time (`review::SIZE_BOUND_RULES`), the findings those
/// nothing makes safe (verdict danger), as `lint` fails on them.
fn corpus_fix_measurements(ratios: &mut Vec<(String, f64)>) -> Vec<Measurement> {
    use praxia_deploy::review::{Earlier, Outcome, SIZE_BOUND_RULES, rewrite_lock_safe, tables_created};
    eprintln!("  lock-safe: lint --fix on the corpus ...");
    /// What the rewrite did to one file: the tables it creates, and where each
    /// statement left as written stands in the rewritten text (lines, why, the statement).
    struct Rewritten {
        created: Vec<String>,
        left_alone: Vec<(usize, usize, String, String)>,
    }
    let counted = |finding: &&Value| {
        SIZE_BOUND_RULES.contains(&finding["rule"].as_str().unwrap_or("")) && finding["verdict"] == "danger"
    };
    let (mut migrations, mut tally) = (0usize, CorpusTally::default());
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    let mut replays = Vec::new();
    for support::corpus::Corpus { package, folder } in support::corpus::corpus() {
        let original = corpus_project(&folder);
        let fixed = corpus_project(&folder);
        let mut rewritten: BTreeMap<PathBuf, Rewritten> = BTreeMap::new();
        // What the earlier migrations partition, as `lint --fix` reads it.
        let mut earlier = Earlier::default();
        for file in sql_files(&fixed.path().join("migrations")) {
            let sql = std::fs::read_to_string(&file).unwrap();
            let rewrite = rewrite_lock_safe(&sql, &earlier);
            earlier.shipped(&sql);
            let mut left_alone = Vec::new();
            let mut cursor = 0;
            for statement in &rewrite.statements {
                if let Outcome::LeftAlone(why) = &statement.outcome
                    && let Some(at) = rewrite.sql[cursor..].find(&statement.statement)
                {
                    let start = cursor + at;
                    cursor = start + statement.statement.len();
                    let line = |offset: usize| rewrite.sql[..offset].matches('\n').count() + 1;
                    let why = format!("{why:?}").split('(').next().unwrap().to_owned();
                    left_alone.push((line(start), line(cursor), why, statement.statement.clone()));
                }
            }
            std::fs::write(&file, &rewrite.sql).unwrap();
            let created = tables_created(&sql).into_iter().map(|table| table.name).collect();
            rewritten.insert(file.strip_prefix(fixed.path()).unwrap().to_owned(), Rewritten { created, left_alone });
        }
        let relative = |project: &TestProject, finding: &Value| {
            let file = PathBuf::from(finding["file"].as_str().unwrap());
            file.strip_prefix(project.path()).map_or(file.clone(), Path::to_path_buf)
        };
        // On a table its own migration creates (`CREATE TABLE IF NOT EXISTS`, which offline
        // the review cannot take for new: the table may be there already).
        let on_created = |file: &PathBuf, finding: &Value| {
            let created = rewritten.get(file).map_or(&[][..], |r| &r.created[..]);
            finding["targets"].as_array().and_then(|targets| targets.first()).is_some_and(|target| {
                target["kind"] == "table" && created.iter().any(|name| target["name"] == name.as_str())
            })
        };
        let (count, findings) = lint_findings(&original);
        migrations += count;
        for finding in findings.iter().filter(counted) {
            tally.add(true, finding["rule"].as_str().unwrap(), on_created(&relative(&original, finding), finding));
        }
        for finding in lint_findings(&fixed).1.iter().filter(counted) {
            let rule = finding["rule"].as_str().unwrap();
            let file = relative(&fixed, finding);
            let new_here = on_created(&file, finding);
            tally.add(false, rule, new_here);
            let line = finding["line"].as_u64().unwrap() as usize;
            let (why, statement) = rewritten
                .get(&file)
                .and_then(|r| r.left_alone.iter().find(|(from, to, _, _)| (*from..=*to).contains(&line)))
                .map_or(("in a statement the rewrite wrote", ""), |(_, _, why, statement)| (why, statement));
            let on = if new_here { "table created in the same migration" } else { "table there before" };
            let reason = format!("{rule}, left alone: {why} ({on})");
            *tally.reasons.entry(reason.clone()).or_default() += 1;
            let first_line = statement.trim().lines().next().unwrap_or("").chars().take(140).collect::<String>();
            examples.entry(reason).or_insert_with(|| format!("{}: {first_line}", file.display()));
        }
        // The rewritten folder, applied from scratch, makes the schema the original makes.
        let schemas: Vec<String> = [&original, &fixed]
            .iter()
            .map(|project| {
                let database = test_postgres().fresh_database();
                assert_success(project.on(&database).arg("migrate").output().unwrap(), &format!("migrate {package}"));
                let schema = database.schema_dump();
                drop_database(&database);
                schema
            })
            .collect();
        replays.push(format!("{package}: {}", if schemas[0] == schemas[1] { "same schema" } else { "SCHEMA DIFFERS" }));
    }
    eprintln!("    by rule before: {}", top(&tally.rules_before));
    eprintln!("    by rule after:  {}", top(&tally.rules_after));
    eprintln!("    what remains:");
    for (reason, count) in top_list(&tally.reasons) {
        eprintln!("      {count:>4} {reason}\n           e.g. {}", examples[reason]);
    }
    eprintln!("    rewritten folders replayed: {}", replays.join("; "));
    let count = |name: String, value: usize, note: String| Measurement {
        name,
        unit: "n",
        samples: vec![value as f64],
        target: None,
        note,
    };
    let share = |before: usize, after: usize| 100.0 * before.saturating_sub(after) as f64 / before.max(1) as f64;
    let existing = (tally.before - tally.before_on_created, tally.after - tally.after_on_created);
    ratios.push(("corpus: share resolved on tables there before (%)".to_owned(), share(existing.0, existing.1)));
    ratios.push((
        "corpus: share resolved, rules a recipe answers (%)".to_owned(),
        share(tally.before_answerable, tally.after_answerable),
    ));
    vec![
        count(
            "corpus: lock-duration findings, before --fix".to_owned(),
            tally.before,
            format!("{migrations} migrations; {}", top(&tally.rules_before)),
        ),
        count("corpus: lock-duration findings, after --fix".to_owned(), tally.after, top(&tally.reasons)),
        count(
            "corpus: of them before, on a table its migration creates".to_owned(),
            tally.before_on_created,
            "CREATE TABLE IF NOT EXISTS: offline the review cannot take the table for new".to_owned(),
        ),
        count(
            "corpus: of them after, on a table its migration creates".to_owned(),
            tally.after_on_created,
            String::new(),
        ),
        Measurement {
            name: "corpus: share of them --fix resolves".to_owned(),
            unit: "%",
            samples: vec![share(tally.before, tally.after)],
            target: Some((80.0, ">= 80%")),
            note: replays.join("; "),
        },
    ]
}

/// The corpus's findings counted before and after the rewrite.
#[derive(Default)]
struct CorpusTally {
    before: usize,
    after: usize,
    before_on_created: usize,
    after_on_created: usize,
    before_answerable: usize,
    after_answerable: usize,
    rules_before: BTreeMap<String, usize>,
    rules_after: BTreeMap<String, usize>,
    /// What remains: rule, the engine's reason for leaving it, on what table.
    reasons: BTreeMap<String, usize>,
}

impl CorpusTally {
    fn add(&mut self, before: bool, rule: &str, on_created: bool) {
        let answerable = praxia_deploy::review::Recipe::answers(rule);
        let (total, created, answered, rules) = if before {
            (&mut self.before, &mut self.before_on_created, &mut self.before_answerable, &mut self.rules_before)
        } else {
            (&mut self.after, &mut self.after_on_created, &mut self.after_answerable, &mut self.rules_after)
        };
        *total += 1;
        *created += usize::from(on_created);
        *answered += usize::from(answerable);
        *rules.entry(rule.to_owned()).or_default() += 1;
    }
}

/// Counts, largest first.
fn top_list(counts: &BTreeMap<String, usize>) -> Vec<(&String, usize)> {
    let mut sorted: Vec<(&String, usize)> = counts.iter().map(|(name, count)| (name, *count)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    sorted
}

fn top(counts: &BTreeMap<String, usize>) -> String {
    top_list(counts).iter().map(|(name, count)| format!("{count} {name}")).collect::<Vec<_>>().join("; ")
}

/// A project with a `test` environment and a copy of `folder` as its migrations.
fn corpus_project(folder: &Path) -> TestProject {
    let project = TestProject::empty();
    project.file("environments/test.toml", support::project::TEST_ENVIRONMENT);
    support::project::copy_tree(folder, &project.path().join("migrations"));
    project
}

/// `lint --output json` on the whole folder, offline: (migrations reviewed, findings).
fn lint_findings(project: &TestProject) -> (usize, Vec<Value>) {
    let output = project.command().args(["--env", "test", "--output", "json", "lint"]).output().unwrap();
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "lint --output json: {err}\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report = if document.get("findings").is_some() { &document } else { &document["result"] };
    (report["migrations"].as_u64().unwrap() as usize, report["findings"].as_array().unwrap().clone())
}

/// Runs `body` (which returns its own measured duration in ms) `runs` times after one warm-up.
fn timed(name: &str, runs: usize, mut body: impl FnMut() -> f64) -> Measurement {
    eprintln!("  {name} ...");
    let _ = body();
    let samples = (0..runs).map(|_| body()).collect();
    Measurement { name: name.to_owned(), unit: "ms", samples, target: None, note: String::new() }
}

impl Measurement {
    fn with_target(mut self, value: f64, text: &'static str) -> Measurement {
        self.target = Some((value, text));
        self
    }
}

/// Spawn to exit, in milliseconds; a failing run aborts the benchmark.
fn run(command: &mut Command) -> f64 {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let output = command.output().expect("the command runs");
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    assert_success(output, &format!("{command:?}"));
    elapsed
}

fn assert_success(output: std::process::Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_praxia-deploy"))
}

fn interop(script: &str) -> PathBuf {
    let dir = repo_root().join("tests/interop");
    assert!(
        dir.join("node_modules/drizzle-orm").is_dir(),
        "run `bash scripts/bench`: it installs drizzle-orm into {}",
        dir.display()
    );
    dir.join(script)
}

/// sqlx-cli, installed by scripts/bench into target/bench-tools.
fn sqlx_cli() -> PathBuf {
    let path = repo_root().join("target/bench-tools/bin/sqlx");
    assert!(
        path.is_file(),
        "sqlx-cli is not installed at {}: run `bash scripts/bench` (it installs it)",
        path.display()
    );
    path
}

/// Issue 24's speed point alone: the no-op release and sqlx-cli's no-op
/// `migrate run` on the same database, alternating run by run (so that a busy
/// moment of the machine falls on both), at 50 and 1,000 applied migrations.
fn no_op_against_sqlx(ratios: &mut Vec<(String, f64)>) -> Vec<Measurement> {
    const INTERLEAVED_RUNS: usize = 80;
    let mut results = Vec::new();
    for applied in [50usize, 1000] {
        let database = test_postgres().fresh_database();
        let project = generated_project(applied);
        assert_success(project.on(&database).args(["--env", "bench", "release"]).output().unwrap(), "release (setup)");
        let sqlx_dir = sqlx_migrations(&project, applied);
        let sqlx_run = || {
            let mut command = Command::new(sqlx_cli());
            command.args(["migrate", "run", "--source"]).arg(&sqlx_dir).args(["--database-url", &database.url]);
            command
        };
        assert_success(sqlx_run().output().unwrap(), "sqlx migrate run (setup)");
        eprintln!("  no-op release and sqlx-cli, {applied} applied, {INTERLEAVED_RUNS} runs each, interleaved ...");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..INTERLEAVED_RUNS {
            ours.push(run(project.on(&database).args(["--env", "bench", "release"])));
            theirs.push(run(&mut sqlx_run()));
        }
        let release = Measurement {
            name: format!("no-op release, {applied} applied (interleaved)"),
            unit: "ms",
            samples: ours,
            target: None,
            note: String::new(),
        };
        let sqlx = Measurement {
            name: format!("no-op sqlx-cli `migrate run`, {applied} applied (interleaved)"),
            unit: "ms",
            samples: theirs,
            target: None,
            note: String::new(),
        };
        ratios.push((
            format!("praxia release / sqlx-cli migrate run ({applied} applied; goal <= 0.8)"),
            release.median() / sqlx.median(),
        ));
        results.push(release);
        results.push(sqlx);
    }
    results
}

/// The project's generated migrations again, as sqlx-cli's `<version>_<name>.sql` files.
fn sqlx_migrations(project: &TestProject, count: usize) -> PathBuf {
    let dir = project.path().join("sqlx-migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..count {
        std::fs::write(dir.join(format!("{}_bench_{i}.sql", i + 1)), format!("CREATE TABLE sqlx_bench_{i} (id int);"))
            .unwrap();
    }
    dir
}

/// A project with a production-kind `bench` environment (release migrates and
/// skips fixtures, as on staging and production) and `count` generated migrations.
fn generated_project(count: usize) -> TestProject {
    let migrations: Vec<(String, i64, String)> = (0..count)
        .map(|i| {
            (format!("{i:04}_bench_{i}"), 1_700_000_000_000 + i as i64, format!("CREATE TABLE bench_{i} (id int);"))
        })
        .collect();
    let borrowed: Vec<(&str, i64, &str)> =
        migrations.iter().map(|(tag, when, sql)| (tag.as_str(), *when, sql.as_str())).collect();
    let project = TestProject::with_migrations(&borrowed);
    // The backup production migrations take first is measured on its own (backup_measurements).
    project.file(
        "environments/bench.toml",
        "kind = \"production\"\n[database]\nwait = \"10s\"\n[backup]\nbefore_migrate = false\n",
    );
    project
}

/// The studio's first page of a 1,000,000-row table (keyset by primary key), and
/// sorted by an unindexed column, timed as the page asks for them (one HTTP
/// request on a fresh connection), against the same query run in-process.
fn studio_measurements(ratios: &mut Vec<(String, f64)>) -> Vec<Measurement> {
    use std::io::{BufRead, BufReader, Read, Write};
    eprintln!("  studio: a 1,000,000-row table ...");
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let fill = "CREATE TABLE big (id bigint PRIMARY KEY, note text NOT NULL); \
                INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 1000000) g; ANALYZE big;";
    assert_success(
        Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &database.url, "-c", fill]).output().unwrap(),
        "fill big",
    );
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let mut child = project
        .on(&database)
        .args(["studio", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let token = line.split("token=").nth(1).unwrap().trim().to_owned();
    let get = |path: &str| -> f64 {
        let started = Instant::now();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{}", answer.lines().next().unwrap_or(""));
        started.elapsed().as_secs_f64() * 1000.0
    };
    let first = timed("studio: first page of a 1,000,000-row table (500 rows, by key)", NO_OP_RUNS, || {
        get("/api/tables/public/big/rows")
    })
    .with_target(1000.0, "well under 1 s");
    let sorted = timed("studio: first page sorted by an unindexed column", SLOW_RUNS, || {
        get("/api/tables/public/big/rows?sort=note&order=desc")
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peer = timed("peer: the same first page, in-process sqlx", NO_OP_RUNS, || {
        runtime.block_on(async {
            use sqlx::Connection;
            let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
            let started = Instant::now();
            let _: Vec<String> = sqlx::query_scalar("SELECT to_jsonb(t)::text FROM big t ORDER BY t.id LIMIT 501")
                .fetch_all(&mut connection)
                .await
                .unwrap();
            started.elapsed().as_secs_f64() * 1000.0
        })
    });
    let (export, export_peer) = export_memory(&database, port, &token, child.id());
    let _ = child.kill();
    let _ = child.wait();
    ratios.push(("studio first page / the bare query".to_owned(), first.median() / peer.median()));
    ratios
        .push(("studio export peak RSS / psql's for the same rows".to_owned(), export.median() / export_peer.median()));
    vec![first, sorted, peer, export, export_peer]
}

/// The studio's peak resident memory (VmHWM) while it exports 2,000 rows of
/// 150 kB each (about 300 MB of JSON), read to the end by a client; the peer is
/// psql's own peak (`/usr/bin/time`) for `\copy` of the same rows as JSON to
/// /dev/null. Memory must not grow with the export.
fn export_memory(database: &support::TestDatabase, port: u16, token: &str, studio: u32) -> (Measurement, Measurement) {
    use std::io::{Read, Write};
    eprintln!("  studio: exporting 300 MB ...");
    let fill = "CREATE TABLE wide (id int PRIMARY KEY, payload text NOT NULL); \
                INSERT INTO wide SELECT g, repeat(md5(g::text), 4800) FROM generate_series(1, 2000) g; ANALYZE wide;";
    assert_success(
        Command::new("psql").args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &database.url, "-c", fill]).output().unwrap(),
        "fill wide",
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET /api/tables/public/wide/export?format=json HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut chunk = vec![0u8; 1 << 16];
    let mut received = 0usize;
    loop {
        let read = stream.read(&mut chunk).unwrap();
        if read == 0 {
            break;
        }
        received += read;
    }
    assert!(received > 300_000_000, "the export sent {received} bytes");
    let studio_peak = proc_kb(studio, "VmHWM:") / 1024.0;
    let psql = Command::new("/usr/bin/time")
        .args(["-f", "%M", "psql", "-X", "-q", &database.url, "-c"])
        .arg("\\copy (SELECT to_jsonb(t) FROM wide t ORDER BY id) TO '/dev/null'")
        .output()
        .unwrap();
    let peak_kb: f64 = String::from_utf8_lossy(&psql.stderr)
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .unwrap_or(f64::NAN);
    let measurement = |name: &str, mb: f64, target: Option<(f64, &'static str)>| Measurement {
        name: name.to_owned(),
        unit: "MB",
        samples: vec![mb],
        target,
        note: String::new(),
    };
    (
        measurement(
            "studio: peak RSS exporting 2,000 rows of 150 kB (300 MB of JSON)",
            studio_peak,
            Some((100.0, "< 100 MB")),
        ),
        measurement("peer: psql's peak RSS for \\copy of the same rows", peak_kb / 1024.0, None),
    )
}

/// RSS idle and after load, and status requests per second and latency with wrk.
fn serve_measurements() -> Vec<Measurement> {
    eprintln!("  serve: memory and GET /api/setup/status under wrk -c64 ...");
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    assert_success(project.on(&database).arg("migrate").output().unwrap(), "migrate before serve");
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let mut server = project
        .on(&database)
        .args(["-q", "serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("http://127.0.0.1:{port}/api/setup/status");
    let _ = Command::new("curl").args(["-s", "-o", "/dev/null", &url]).status();
    std::thread::sleep(Duration::from_millis(300));
    let idle = rss_mb(server.id());

    let mut rps = Vec::new();
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut after = Vec::new();
    for _ in 0..3 {
        let output = Command::new("wrk")
            .args(["-t", "1", "-c", "64", "-d", "5s", "--latency", &url])
            .output()
            .expect("wrk runs (scripts/bench installs it)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(!text.contains("Non-2xx"), "status answered errors under load:\n{text}");
        rps.push(wrk_value(&text, "Requests/sec:"));
        p50.push(wrk_latency(&text, "50%"));
        p99.push(wrk_latency(&text, "99%"));
        after.push(rss_mb(server.id()));
    }
    // 1,000 idle connections (closed by the server after its 10 s header timeout):
    // what each costs, and what the health check sees meanwhile.
    let before_idle = rss_mb(server.id());
    let held: Vec<std::net::TcpStream> =
        (0..1000).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let with_idle = rss_mb(server.id());
    let health = format!("http://127.0.0.1:{port}/healthz");
    let mut healthz = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let status =
            Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &health]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&status.stdout), "200", "healthz under 1,000 idle connections");
        healthz.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    drop(held);
    let _ = server.kill();
    let _ = server.wait();
    let note = "wrk -t1 -c64 -d5s: one core for the load, the rest for the server".to_owned();
    vec![
        Measurement {
            name: "serve memory per idle connection (1,000 open)".into(),
            unit: "KB",
            samples: vec![(with_idle - before_idle) * 1024.0 / 1000.0],
            target: None,
            note: String::new(),
        },
        Measurement {
            name: "GET /healthz (curl) with 1,000 idle connections open".into(),
            unit: "ms",
            samples: healthz,
            target: None,
            note: "includes curl's own start".to_owned(),
        },
        Measurement {
            name: "serve resident memory, idle".into(),
            unit: "MB",
            samples: vec![idle],
            target: Some((15.0, "< 15 MB")),
            note: String::new(),
        },
        Measurement {
            name: "serve resident memory, after load".into(),
            unit: "MB",
            samples: after,
            target: None,
            note: String::new(),
        },
        Measurement {
            name: "GET /api/setup/status throughput, 64 connections".into(),
            unit: "req/s",
            samples: rps,
            target: None,
            note: note.clone(),
        },
        Measurement {
            name: "GET /api/setup/status p50 latency, 64 connections".into(),
            unit: "ms",
            samples: p50,
            target: None,
            note: note.clone(),
        },
        Measurement {
            name: "GET /api/setup/status p99 latency, 64 connections".into(),
            unit: "ms",
            samples: p99,
            target: Some((2.0, "< 2 ms")),
            note,
        },
    ]
}

fn rss_mb(pid: u32) -> f64 {
    proc_kb(pid, "VmRSS:") / 1024.0
}

/// A `/proc/<pid>/status` line's kB value.
fn proc_kb(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(f64::NAN)
}

fn wrk_value(text: &str, label: &str) -> f64 {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// wrk's latency distribution line (`99%    1.23ms`), in milliseconds.
fn wrk_latency(text: &str, percentile: &str) -> f64 {
    let value = text.lines().find_map(|line| line.trim().strip_prefix(percentile)).map(str::trim).unwrap_or("");
    let (number, factor) = if let Some(us) = value.strip_suffix("us") {
        (us, 0.001)
    } else if let Some(ms) = value.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = value.strip_suffix('s') {
        (s, 1000.0)
    } else {
        (value, f64::NAN)
    };
    number.parse::<f64>().map_or(f64::NAN, |number| number * factor)
}

/// `status` through SSH and Dokku's forced command, against plain `ssh ... run <app> true`.
fn ssh_measurements() -> (Measurement, Measurement) {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.file("environments/remote.toml", &format!("kind = \"staging\"\n\n{}", dokku.section("praxia-api")));
    dokku.add_app("praxia-api", project.path(), Some(&database.url));
    assert_success(project.command().args(["--env", "remote", "migrate"]).output().unwrap(), "remote migrate");
    let remote = timed("remote status through SSH (one-off container)", 10, || {
        run(project.command().args(["--env", "remote", "status"]))
    });
    let known_hosts = dokku.dir.join("bench_known_hosts");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{} {}\n", dokku.port, dokku.host_key)).unwrap();
    let plain = timed("plain ssh dokku run <app> true (same harness)", 10, || {
        run(Command::new("ssh").args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            &format!("UserKnownHostsFile={}", known_hosts.display()),
            "-i",
            &dokku.client_key.to_string_lossy(),
            "-p",
            &dokku.port.to_string(),
            &format!("{}@127.0.0.1", dokku.user),
            "--",
            "run",
            "praxia-api",
            "true",
        ]))
    });
    (remote, plain)
}

fn report(results: &[Measurement], ratios: &[(String, f64)]) {
    println!();
    println!("{:<58} {:>10} {:>10} {:>10} {:>6}  target", "scenario", "median", "min", "max", "runs");
    for measurement in results {
        let (target, verdict) = match (measurement.target, measurement.meets()) {
            (Some((_, text)), Some(true)) => (text, "ok"),
            (Some((_, text)), _) => (text, "MISSED"),
            _ => ("", ""),
        };
        println!(
            "{:<58} {:>7.2} {:<2} {:>10.2} {:>10.2} {:>6}  {:<16} {}",
            measurement.name,
            measurement.median(),
            measurement.unit,
            measurement.min(),
            measurement.max(),
            measurement.samples.len(),
            target,
            verdict
        );
    }
    println!();
    for (name, ratio) in ratios {
        println!("{name:<58} {ratio:>7.2}");
    }
    let document = json!({
        "machine": { "cores": std::thread::available_parallelism().map_or(0, usize::from) },
        "results": results.iter().map(Measurement::json).collect::<Vec<_>>(),
        "ratios": ratios.iter().map(|(name, ratio)| json!({"name": name, "value": round(*ratio)})).collect::<Vec<_>>(),
    });
    let path = repo_root().join("target/bench/praxia.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&document).unwrap()).unwrap();
    println!("\nwrote {}", path.display());
}
