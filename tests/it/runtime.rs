//! What the binary needs at run time, as the backend's image (node:20-bookworm-slim,
//! or any glibc image) must provide it: the shared libraries it links against and
//! the newest glibc symbol version it asks for, read from the built ELF file; and
//! the binary run with `chroot` in a minimal Debian bookworm root (minbase: what
//! a Debian slim image holds) with nothing else installed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use object::Endianness;
use object::elf::{DT_NEEDED, FileHeader64, PT_INTERP};
use object::read::elf::{FileHeader, ProgramHeader};
use sqlx::{Connection, PgConnection};

use crate::support::debian_root::{BINARY_IN_ROOT, debian_root_with_binary, in_root, run_in_root};
use crate::support::{TestDatabase, TestProject, test_postgres};

/// The shared libraries the binary may link against: glibc's own and libgcc_s
/// (Rust's unwinder), in every glibc image. Anything else (libssl, libpq,
/// libz, ...) would have to be installed in the image.
const ALLOWED_LIBRARIES: [&str; 4] = ["libc.so.6", "libm.so.6", LOADER, "libgcc_s.so.1"];
/// glibc's program loader, which the binary names as its interpreter.
#[cfg(target_arch = "x86_64")]
const LOADER: &str = "ld-linux-x86-64.so.2";
#[cfg(target_arch = "aarch64")]
const LOADER: &str = "ld-linux-aarch64.so.1";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("name this architecture's glibc program loader (ld-linux-*.so.*) in LOADER");

/// The oldest glibc the README says the binary runs on: 2.34 (RHEL 9, Amazon
/// Linux 2023; Ubuntu 22.04 has 2.35, Debian 12 and node:20-bookworm-slim 2.36).
const GLIBC_FLOOR: (u32, u32) = (2, 34);

/// What the dynamic section and the version needs of an ELF file say.
struct DynamicNeeds {
    /// PT_INTERP: the program loader, a path.
    interpreter: Option<String>,
    /// DT_NEEDED, in order.
    libraries: Vec<String>,
    /// (library, version) of every SHT_GNU_VERNEED entry: ("libc.so.6", "GLIBC_2.34").
    versions: BTreeSet<(String, String)>,
}

fn dynamic_needs(path: &Path) -> DynamicNeeds {
    let data = std::fs::read(path).unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    let data = data.as_slice();
    let header = FileHeader64::<Endianness>::parse(data).expect("the binary is a 64-bit ELF file");
    let endian = header.endian().expect("a known byte order");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();

    let interpreter = header
        .program_headers(endian, data)
        .expect("program headers")
        .iter()
        .find(|segment| segment.p_type(endian) == PT_INTERP)
        .map(|segment| {
            let bytes = segment.data(endian, data).expect("PT_INTERP data");
            text(bytes.split(|byte| *byte == 0).next().unwrap_or_default())
        });

    let sections = header.sections(endian, data).expect("section headers");
    let table = sections.dynamic_table(endian, data).expect("the dynamic section");
    let libraries = table
        .iter()
        .filter(|entry| entry.tag == DT_NEEDED)
        .map(|entry| text(table.string(entry).expect("DT_NEEDED names a string")))
        .collect();

    let mut versions = BTreeSet::new();
    if let Some((needs, link)) = sections.gnu_verneed(endian, data).expect("the version needs") {
        let strings = sections.strings(endian, data, link).expect("the version needs' strings");
        for need in needs {
            let (need, auxiliaries) = need.expect("a version need");
            let library = text(need.file(endian, strings).expect("a version need's library"));
            for auxiliary in auxiliaries {
                let version = auxiliary.expect("a version need entry").name(endian, strings).expect("its name");
                versions.insert((library.clone(), text(version)));
            }
        }
    }
    DynamicNeeds { interpreter, libraries, versions }
}

/// `GLIBC_2.34` -> (2, 34); `GLIBC_2.2.5` -> (2, 2); anything else None.
fn glibc_version(name: &str) -> Option<(u32, u32)> {
    let mut parts = name.strip_prefix("GLIBC_")?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_praxia-deploy"))
}

#[test]
fn the_binary_links_only_glibc_and_libgcc_s_and_needs_no_glibc_newer_than_2_34() {
    let needs = dynamic_needs(&binary());
    let unexpected: Vec<&String> =
        needs.libraries.iter().filter(|library| !ALLOWED_LIBRARIES.contains(&library.as_str())).collect();
    assert!(
        unexpected.is_empty(),
        "the binary now links against {unexpected:?} (all it needs: {:?}). Every shared library it links must be \
         in the backend's image (node:20-bookworm-slim, debian:bookworm-slim), and the README promises only glibc \
         and libgcc_s. A new dependency (or a feature of one) brought it in: `cargo tree -i <its -sys crate>` \
         names which. For TLS use rustls (libssl.so / libcrypto.so: OpenSSL), for PostgreSQL sqlx's own protocol \
         (libpq.so), for compression a pure-Rust crate (libz.so, libzstd.so). If it must stay, install the \
         library in the Dockerfile's runtime stage and update the README's runtime needs.",
        needs.libraries
    );
    assert!(
        needs.libraries.iter().any(|library| library == "libc.so.6"),
        "the binary does not link libc.so.6 ({:?}): a static or musl build? The README says it needs glibc; \
         update it and this test together",
        needs.libraries
    );

    let too_new: Vec<String> = needs
        .versions
        .iter()
        .filter(|(_, version)| glibc_version(version).is_some_and(|version| version > GLIBC_FLOOR))
        .map(|(library, version)| format!("{library} {version}"))
        .collect();
    let newest = needs.versions.iter().filter_map(|(_, version)| glibc_version(version)).max();
    assert!(
        too_new.is_empty(),
        "the binary now needs {too_new:?}, newer than glibc {}.{}, the oldest the README says it runs on: on an \
         image with an older glibc it would not start (`version GLIBC_2.xx not found`). Either keep the floor \
         (build on an older glibc, e.g. the Dockerfile's build stage on an older Debian, or find the dependency \
         that calls the new function) or raise it: update the README's supported base images (glibc {}.{} or \
         newer) and GLIBC_FLOOR here.",
        GLIBC_FLOOR.0,
        GLIBC_FLOOR.1,
        newest.map_or(0, |version| version.0),
        newest.map_or(0, |version| version.1),
    );
    // Only glibc's own public versions and libgcc_s's: GLIBC_PRIVATE would tie the
    // binary to the exact glibc build it was linked against.
    let odd: Vec<&(String, String)> = needs
        .versions
        .iter()
        .filter(|(_, version)| glibc_version(version).is_none() && !version.starts_with("GCC_"))
        .collect();
    assert!(odd.is_empty(), "the binary asks for symbol versions {odd:?}, which no other glibc build has");
    assert_eq!(
        needs.interpreter.as_deref().and_then(|path| Path::new(path).file_name()?.to_str()),
        Some(LOADER),
        "the program loader is glibc's ({:?})",
        needs.interpreter
    );
}

/// Two drizzle-kit migrations, the second depending on the first.
const MIGRATIONS: [(&str, i64, &str); 2] = [
    ("0000_coaches", 1_700_000_000_000, "CREATE TABLE coaches (id serial PRIMARY KEY, name text NOT NULL);"),
    (
        "0001_sessions",
        1_700_000_100_000,
        "CREATE TABLE sessions (id serial PRIMARY KEY, coach_id int NOT NULL REFERENCES coaches (id));",
    ),
];

async fn scalar(database: &TestDatabase, sql: &str) -> i64 {
    let mut connection = PgConnection::connect(&database.url).await.expect("connect to the test database");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut connection).await.unwrap()
}

/// How many of the two migrations' tables exist, and how many migrations are recorded.
async fn migrated(database: &TestDatabase) -> (i64, i64) {
    let tables = scalar(
        database,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('coaches', 'sessions')",
    )
    .await;
    let bookkeeping =
        scalar(database, "SELECT (to_regclass('drizzle.__drizzle_migrations') IS NOT NULL)::int::bigint").await;
    let recorded =
        if bookkeeping == 1 { scalar(database, "SELECT count(*) FROM drizzle.__drizzle_migrations").await } else { 0 };
    (tables, recorded)
}

/// The server's major version (15 for the harness's PostgreSQL 15).
async fn server_major(database: &TestDatabase) -> i64 {
    scalar(database, "SELECT current_setting('server_version_num')::bigint / 10000").await
}

#[tokio::test]
async fn in_a_debian_minbase_root_the_binary_alone_shows_its_version_and_releases_the_migrations() {
    let root = debian_root_with_binary();
    assert!(root.join("bin/bash").exists(), "minbase has bash, which Dokku runs the Procfile's release line with");
    run_in_root(root, BINARY_IN_ROOT, &["--version"], &[])
        .expect_code(0)
        .expect_stdout_contains(&format!("praxia-deploy {}", env!("CARGO_PKG_VERSION")));

    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations_in(&root.join("tmp"), &MIGRATIONS);
    let config_dir = in_root(root, &project.path().join("environments"));
    run_in_root(
        root,
        BINARY_IN_ROOT,
        &["release", "--env", "test", "--config-dir", &config_dir, "--database-url", &database.url],
        &[],
    )
    .expect_code(0)
    .expect_stdout_contains("applied 2 migrations");
    assert_eq!(migrated(&database).await, (2, 2), "both tables made and both migrations recorded");

    // The Procfile's way: DATABASE_URL and PRAXIA_ENV from the environment; nothing pending now.
    run_in_root(
        root,
        BINARY_IN_ROOT,
        &["release", "--config-dir", &config_dir],
        &[("DATABASE_URL", &database.url), ("PRAXIA_ENV", "test")],
    )
    .expect_code(0);
    assert_eq!(migrated(&database).await, (2, 2));
}

#[tokio::test]
async fn a_production_release_in_a_root_without_pg_dump_says_to_install_the_servers_postgresql_client() {
    let root = debian_root_with_binary();
    assert!(
        !root.join("usr/bin/pg_dump").exists() && !root.join("usr/lib/postgresql").exists(),
        "the minbase root has no PostgreSQL client"
    );
    let database = test_postgres().fresh_database();
    let major = server_major(&database).await;
    let project = TestProject::with_migrations_in(&root.join("tmp"), &MIGRATIONS);
    // The release phase's backup into a storage mount, as the README has it.
    project.file(
        "environments/production.toml",
        "kind = \"production\"\n\n[database]\nwait = \"5s\"\nlock_wait = \"20s\"\n\n[backup]\nrelease_dir = \"backups\"\n",
    );
    std::fs::create_dir(project.path().join("backups")).unwrap();
    let config_dir = in_root(root, &project.path().join("environments"));
    let outcome = run_in_root(
        root,
        BINARY_IN_ROOT,
        &["release", "--config-dir", &config_dir],
        &[("DATABASE_URL", &database.url), ("PRAXIA_ENV", "production")],
    );
    outcome
        .expect_code(2)
        .expect_stderr_contains("pg_dump is not installed")
        .expect_stderr_contains(&format!("PostgreSQL {major}"))
        .expect_stderr_contains(&format!("postgresql-client-{major}"))
        .expect_stderr_contains("nothing was migrated");
    assert_eq!(migrated(&database).await, (0, 0), "nothing was migrated");
    assert_eq!(std::fs::read_dir(project.path().join("backups")).unwrap().count(), 0, "no file left behind");
}

/// A root that holds the binary, its program loader and the libraries it links
/// (copied from the Debian root) and nothing else: no shell, no /etc, no /dev, no /proc.
fn bare_root(debian: &Path) -> tempfile::TempDir {
    let bare = tempfile::Builder::new()
        .prefix("praxia-bare-root-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir for the bare root");
    let needs = dynamic_needs(&binary());
    let interpreter = needs.interpreter.expect("the binary names its program loader");
    let library_dir = Path::new("/usr/lib").join(if cfg!(target_arch = "aarch64") {
        "aarch64-linux-gnu"
    } else {
        "x86_64-linux-gnu"
    });
    let mut files: Vec<(PathBuf, PathBuf)> = needs
        .libraries
        .iter()
        .map(|library| {
            (library_dir.join(library), Path::new("/lib").join(library_dir.file_name().unwrap()).join(library))
        })
        .collect();
    files.push((PathBuf::from(&interpreter), PathBuf::from(&interpreter)));
    files.push((PathBuf::from(BINARY_IN_ROOT), PathBuf::from(BINARY_IN_ROOT)));
    for (from, to) in files {
        let source = resolve_in(debian, &from);
        let target = bare.path().join(to.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target)
            .unwrap_or_else(|err| panic!("copy {} from the Debian root: {err}", from.display()));
    }
    bare
}

/// `path` inside `root`, its symbolic links followed inside `root` (an absolute
/// link there means the root's own file, not this machine's).
fn resolve_in(root: &Path, path: &Path) -> PathBuf {
    let mut resolved = root.to_path_buf();
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|part| match part {
            std::path::Component::Normal(name) => Some(name.to_owned()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(name) = pending.pop() {
        let next = resolved.join(&name);
        match std::fs::read_link(&next) {
            Ok(target) => {
                links += 1;
                assert!(links < 40, "too many symbolic links resolving {} in {}", path.display(), root.display());
                if target.is_absolute() {
                    resolved = root.to_path_buf();
                }
                pending.extend(target.components().rev().filter_map(|part| match part {
                    std::path::Component::Normal(name) => Some(name.to_owned()),
                    std::path::Component::ParentDir => Some("..".into()),
                    _ => None,
                }));
            }
            Err(_) if name == ".." => {
                if resolved != root {
                    resolved.pop();
                }
            }
            Err(_) => resolved = next,
        }
    }
    resolved
}

#[tokio::test]
async fn release_needs_nothing_but_the_binary_and_the_libraries_it_links_no_shell_no_etc() {
    let debian = debian_root_with_binary();
    let bare = bare_root(debian);
    let root = bare.path();
    assert!(!root.join("bin").exists() && !root.join("etc").exists(), "no shell and no /etc in the bare root");
    run_in_root(root, BINARY_IN_ROOT, &["--version"], &[]).expect_code(0);

    let database = test_postgres().fresh_database();
    let parent = root.join("app");
    std::fs::create_dir(&parent).unwrap();
    let project = TestProject::with_migrations_in(&parent, &MIGRATIONS);
    let config_dir = in_root(root, &project.path().join("environments"));
    run_in_root(
        root,
        BINARY_IN_ROOT,
        &["release", "--config-dir", &config_dir],
        &[("DATABASE_URL", &database.url), ("PRAXIA_ENV", "test")],
    )
    .expect_code(0)
    .expect_stdout_contains("applied 2 migrations");
    assert_eq!(migrated(&database).await, (2, 2));
}
