//! The real-project corpus: public drizzle-kit projects' migration folders,
//! unedited, as tests/corpus/sources.tsv lists them (fetched by scripts/test).

use std::path::{Path, PathBuf};

use super::project::repo_root;

/// One project of the corpus: `package@version`, and its migration folder.
pub struct Corpus {
    pub package: String,
    pub folder: PathBuf,
}

/// The corpus as sources.tsv lists it; a folder missing says how to fetch it.
pub fn corpus() -> Vec<Corpus> {
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
                folder.is_dir(),
                "{} is missing: run `bash -c 'source scripts/prerequisites.sh && fetch_corpus'` (scripts/test does)",
                folder.display()
            );
            Corpus { package: format!("{name}@{version}"), folder }
        })
        .collect()
}

/// The `.sql` files under `folder` (a journal folder's files, a drizzle 1.0
/// folder's `migration.sql`s), sorted.
pub fn sql_files(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sql_files(&path));
        } else if path.extension().is_some_and(|extension| extension == "sql") {
            found.push(path);
        }
    }
    found.sort();
    found
}
