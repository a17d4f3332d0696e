//! Public drizzle-kit projects' migration folders, unedited (tests/corpus/sources.tsv
//! says which, from where, and how they are fetched): a database praxia-deploy
//! migrated shows no drift, the same answer twenty times in a row.

mod support;

use std::path::{Path, PathBuf};

use support::project::repo_root;
use support::{TestProject, test_postgres};

/// One project of the corpus: its package, version and migration folder.
struct Corpus {
    package: String,
    folder: PathBuf,
}

/// The corpus as sources.tsv lists it; a folder missing says how to fetch it.
fn corpus() -> Vec<Corpus> {
    let sources = std::fs::read_to_string(repo_root().join("tests/corpus/sources.tsv")).expect("sources.tsv");
    sources
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            let (name, version, inside) = (columns[0], columns[1], columns[3]);
            let folder = repo_root()
                .join("tests/corpus/.packages")
                .join(format!("{}@{version}", name.replace('/', "+")))
                .join(inside);
            assert!(
                folder.join("meta/_journal.json").is_file() || folder.is_dir(),
                "{} is missing: run `bash -c 'source scripts/prerequisites.sh && fetch_corpus'` (scripts/test does)",
                folder.display()
            );
            Corpus { package: format!("{name}@{version}"), folder }
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_database_praxia_deploy_migrated_shows_no_drift_twenty_times_in_a_row() {
    for project in corpus() {
        let test = TestProject::empty();
        test.file("environments/test.toml", support::project::TEST_ENVIRONMENT);
        copy_dir(&project.folder, &test.path().join("migrations"));
        let database = test_postgres().fresh_database();
        test.run_on(&database, &["migrate"]).expect_code(0);
        let first = test.run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()]);
        assert_eq!(first.code, 0, "{}: {}{}", project.package, first.stdout, first.stderr);
        for run in 1..20 {
            let again = test.run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()]);
            assert_eq!(again.code, 0, "{} run {run}: {}{}", project.package, again.stdout, again.stderr);
            assert_eq!(again.stdout, first.stdout, "{} run {run}", project.package);
        }
    }
}
