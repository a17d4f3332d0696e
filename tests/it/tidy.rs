//! The crate's shape, checked on its source (in the spirit of rust-analyzer's
//! tidy tests): the layers of ARCHITECTURE.md only point down, no module circle,
//! and the invariants that one module owns a concept hold. Test modules are not
//! read: a test may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules, bottom up: a module may use its own layer's and lower ones'.
const LAYERS: [(&str, &[&str]); 9] = [
    (
        "leaves",
        &[
            "auth",
            "backoff",
            "confirmation",
            "error",
            "json_file",
            "logging",
            "pg_error",
            "provenance",
            "redact",
            "report",
            "roles",
            "rule_names",
            "scratch_database",
            "signals",
            "text",
            "text_position",
        ],
    ),
    ("environment files", &["config"]),
    ("databases and the folder", &["database", "localdb", "migration_folder", "own_schema", "pgserver", "stamp"]),
    ("review and transport", &["dokku", "review"]),
    ("the migration engine", &["migrations"]),
    ("steps of a release", &["backup", "drift", "rehearse", "seed"]),
    ("the release", &["release"]),
    ("servers", &["setup", "studio"]),
    ("the interface", &["cli", "commands", "output"]),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`, with its code before its first `#[cfg(test)]`,
/// comment lines left out.
fn sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code: String = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .map(|line| format!("{line}\n"))
                    .collect();
                found.push((path.strip_prefix(repo()).unwrap().to_path_buf(), code));
            }
        }
    }
    let mut found = Vec::new();
    walk(&repo().join("src"), &mut found);
    found.sort();
    found
}

/// `src/review/judge.rs` -> `review`.
fn top_module(path: &Path) -> String {
    let first = path.components().nth(1).unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The top-level modules each module names through `crate::`, with the files that do.
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>> {
    let mut graph: BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>> = BTreeMap::new();
    for (path, code) in sources() {
        let from = top_module(&path);
        if from == "main" || from == "lib" {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            let to: String =
                code[at + "crate::".len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !to.is_empty() && to != from {
                graph.entry(from.clone()).or_default().entry(to).or_default().insert(path.clone());
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer_and_only_uses_its_own_or_lower_ones() {
    let layer_of: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(rank, (_, modules))| modules.iter().map(move |m| (*m, rank))).collect();
    let modules: BTreeSet<String> = sources()
        .iter()
        .map(|(path, _)| top_module(path))
        .filter(|module| module != "main" && module != "lib")
        .collect();
    let unplaced: Vec<&String> = modules.iter().filter(|module| !layer_of.contains_key(module.as_str())).collect();
    assert!(unplaced.is_empty(), "give these modules a layer in tests/it/tidy.rs and ARCHITECTURE.md: {unplaced:?}");
    let mut upward = Vec::new();
    for (from, targets) in imports() {
        for (to, files) in targets {
            let (Some(low), Some(high)) = (layer_of.get(from.as_str()), layer_of.get(to.as_str())) else { continue };
            if high > low {
                upward.push(format!("{from} ({}) uses {to} ({}) in {files:?}", LAYERS[*low].0, LAYERS[*high].0));
            }
        }
    }
    assert!(upward.is_empty(), "imports that point up a layer:\n{}", upward.join("\n"));
}

#[test]
fn no_modules_form_a_circle() {
    let graph = imports();
    // Tarjan's strongly connected components, on the top-level modules.
    struct Search<'g> {
        graph: &'g BTreeMap<String, BTreeMap<String, BTreeSet<PathBuf>>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        circles: Vec<Vec<&'g str>>,
    }
    impl<'g> Search<'g> {
        fn visit(&mut self, node: &'g str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flat_map(|targets| targets.keys()) {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let at = self.stack.iter().position(|n| *n == node).unwrap();
                let component = self.stack.split_off(at);
                if component.len() > 1 {
                    self.circles.push(component);
                }
            }
        }
    }
    let mut search =
        Search { graph: &graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), circles: Vec::new() };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    assert!(search.circles.is_empty(), "modules that use each other: {:?}", search.circles);
}

/// The files (outside their owner) whose code holds `needle`.
fn offenders(owner: &[&str], needle: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    sources()
        .into_iter()
        .filter(|(path, code)| !owner.iter().any(|owner| path == Path::new(owner)) && needle(code))
        .map(|(path, _)| path)
        .collect()
}

#[test]
fn only_main_exits_the_process() {
    let found = offenders(&["src/main.rs"], |code| code.contains("process::exit"));
    assert!(found.is_empty(), "an exit code is main.rs's to return: {found:?}");
}

#[test]
fn sqlstates_are_named_in_pg_error_only() {
    // A five-character string starting with a digit: "42P01", "23505".
    let is_sqlstate = |code: &str| {
        code.split('"').skip(1).step_by(2).any(|literal| {
            literal.len() == 5
                && literal.starts_with(|c: char| c.is_ascii_digit())
                && literal.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        })
    };
    let found = offenders(&["src/pg_error.rs"], is_sqlstate);
    assert!(found.is_empty(), "name the SQLSTATE in pg_error.rs (sqlstate::...): {found:?}");
}

#[test]
fn the_setup_apis_error_codes_are_spelled_in_its_contract_only() {
    let codes: Vec<String> =
        praxia_deploy::setup::api::ApiError::ALL.iter().map(|error| format!("\"{}\"", error.code())).collect();
    let found = offenders(&["src/setup/api.rs"], |code| codes.iter().any(|quoted| code.contains(quoted.as_str())));
    assert!(found.is_empty(), "use setup::api::ApiError, not its code as text: {found:?}");
}

#[test]
fn only_own_schema_spells_the_tools_tables_in_sql() {
    // A string naming one of our tables beside SQL; prose (an error saying which
    // table could not be read) may name it.
    const SQL: [&str; 9] = ["SELECT", "INSERT", "UPDATE", "DELETE", "FROM", "JOIN", "CREATE", "DROP", "to_regclass"];
    let spells_sql = |code: &str| {
        code.split('"')
            .skip(1)
            .step_by(2)
            .any(|literal| literal.contains("praxia_deploy.") && SQL.iter().any(|keyword| literal.contains(keyword)))
    };
    let found = offenders(&["src/own_schema.rs"], spells_sql);
    assert!(found.is_empty(), "name the tool's tables with own_table!(...) from own_schema.rs: {found:?}");
}
