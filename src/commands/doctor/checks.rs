//! doctor's decisions: each check's status and detail from what was found, on
//! the Dokku host and in the app's image. Pure.

use std::collections::BTreeMap;

use serde::Serialize;

use super::probe::{ImageFacts, MigrationFact, PROBE_FORMAT};
use crate::dokku::remote::RunExit;
use crate::error::Result;
use crate::text::plural;

/// Where the README shows how an image gets the binary.
pub const BINARY_FIX: &str =
    "copy the binary into the image (README: \"Deploying to Dokku\", step 3, \"The binary in the backend's image\")";

/// A shell's "not found" is also what it says for a binary on the PATH whose
/// loader the image lacks (glibc's binary in an Alpine, musl, image).
pub const CANNOT_START_NOTE: &str = "if the image does have it, it cannot start it: a shell says \"not found\" too for a binary whose loader is missing, as in an Alpine (musl) image; use a Debian-based image (README: \"What the binary needs at run time\")";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: CheckStatus,
    /// `status == ok`, kept for scripts that read it.
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Fail,
    /// Not run: a check it depends on failed.
    Skipped,
}

impl Check {
    pub fn new(name: &'static str, ok: bool, detail: impl Into<String>) -> Check {
        let status = if ok { CheckStatus::Ok } else { CheckStatus::Fail };
        Check { name, status, ok, detail: detail.into() }
    }

    pub fn skipped(name: &'static str, because: &str) -> Check {
        Check { name, status: CheckStatus::Skipped, ok: false, detail: format!("not checked: {because}") }
    }
}

/// The checks made in the image, in order: the probe ran, then what it found.
pub const IMAGE_CHECKS: [&str; 3] = ["image", "procfile", "migrations"];

/// Whether a Procfile's `release:` line runs `praxia-deploy release` (by name or
/// by path) with its options and nothing else. Pure.
///
/// Nothing else: with the Node images' ENTRYPOINT, Dokku splits the line into
/// words and hands them to the entrypoint, no shell, so `&& node migrate.js`
/// reaches praxia-deploy as stray arguments and fails the deploy; without one
/// it runs under `bash -c`, where `|| true` would hide a failed migration.
pub fn runs_release_phase(procfile: &str) -> bool {
    procfile.lines().filter(|line| !line.trim_start().starts_with('#')).any(|line| {
        line.split_once(':').is_some_and(|(kind, command)| {
            let mut words = command.split_whitespace();
            let program = words.next().unwrap_or_default();
            kind.trim() == "release"
                && (program == "praxia-deploy" || program.ends_with("/praxia-deploy"))
                && words.next() == Some("release")
                && !command.contains(['&', '|', ';', '<', '>', '`', '$', '(', ')'])
        })
    })
}

/// The image defaults PRAXIA_ENV to production (a forgotten setting never seeds
/// fixtures); every other environment must set it on the app.
pub fn praxia_env_check(value: Result<Option<String>>, env_name: &str, app: &str) -> Check {
    let fix = format!("`dokku config:set {app} PRAXIA_ENV={env_name}`");
    match value {
        Ok(Some(value)) if value == env_name => Check::new("praxia_env", true, format!("PRAXIA_ENV is {value}")),
        Ok(Some(value)) => Check::new("praxia_env", false, format!("PRAXIA_ENV is {value}, not {env_name}: {fix}")),
        Ok(None) if env_name == IMAGE_DEFAULT_ENV => Check::new(
            "praxia_env",
            true,
            format!("PRAXIA_ENV unset; the image's default ({IMAGE_DEFAULT_ENV}) applies"),
        ),
        Ok(None) => Check::new(
            "praxia_env",
            false,
            format!("PRAXIA_ENV is not set, so the release would act as {IMAGE_DEFAULT_ENV}: {fix}"),
        ),
        Err(err) => Check::new("praxia_env", false, err.message),
    }
}

/// `ENV PRAXIA_ENV=production` in the Dockerfile.
const IMAGE_DEFAULT_ENV: &str = "production";

/// What `dokku run <app> praxia-deploy doctor --probe` came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAnswer {
    Facts(Box<ImageFacts>),
    /// The container found no `praxia-deploy` to run; what it said.
    NotOnPath(String),
    /// A praxia-deploy that does not know `doctor --probe`; what it said.
    Older(String),
    /// A praxia-deploy whose probe answers in another format.
    OtherFormat {
        version: String,
        format: u64,
    },
    NeverDeployed,
    AppMissing,
    /// Anything else: the exit code (none: killed, or it never ran) and what was said.
    Failed {
        code: Option<i32>,
        said: String,
    },
}

/// Reads the probe's answer: its JSON document, else the container's exit code
/// and stderr. Pure.
pub fn read_answer(exit: RunExit, stdout: &[u8], stderr: &str) -> ProbeAnswer {
    if let Ok(document) = serde_json::from_slice::<serde_json::Value>(stdout) {
        if document["ok"] == true {
            let result = &document["result"];
            let version = result["version"].as_str().unwrap_or("of unknown version").to_owned();
            return match result["probe_format"].as_u64() {
                Some(format) if format == u64::from(PROBE_FORMAT) => {
                    match serde_json::from_value::<ImageFacts>(result.clone()) {
                        Ok(facts) => ProbeAnswer::Facts(Box::new(facts)),
                        Err(_) => ProbeAnswer::OtherFormat { version, format },
                    }
                }
                Some(format) => ProbeAnswer::OtherFormat { version, format },
                None => {
                    ProbeAnswer::Older(format!("`doctor --probe` answered without facts (praxia-deploy {version})"))
                }
            };
        }
        let message = document["error"]["message"].as_str().unwrap_or("no message").to_owned();
        // clap's words for a flag it does not know, from a binary older than `--probe`.
        if message.contains("--probe") {
            return ProbeAnswer::Older(message);
        }
        return ProbeAnswer::Failed { code: exit.code, said: message };
    }
    if exit.never_deployed {
        return ProbeAnswer::NeverDeployed;
    }
    if exit.app_missing {
        return ProbeAnswer::AppMissing;
    }
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    // The official Node images' entrypoint runs an unknown command as a script:
    // `node praxia-deploy ...`, which ends "Cannot find module '/app/praxia-deploy'" (exit 1).
    if let Some(line) = lines.iter().find(|line| line.contains("Cannot find module") && line.contains("praxia-deploy"))
    {
        return ProbeAnswer::NotOnPath(format!("the image's entrypoint ran it with node: {line}"));
    }
    let last = lines.last().map_or_else(|| "nothing".to_owned(), |line| shorten(line));
    // 127: a shell's, or docker's own, "command not found".
    if exit.code == Some(127) || exit.binary_missing {
        return ProbeAnswer::NotOnPath(last);
    }
    ProbeAnswer::Failed { code: exit.code, said: last }
}

fn shorten(line: &str) -> String {
    const LIMIT: usize = 200;
    match line.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_owned(),
    }
}

/// This checkout's side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub env_name: String,
    /// The laptop's migrations, or why its folder could not be read.
    pub migrations: std::result::Result<Vec<MigrationFact>, String>,
    /// This praxia-deploy's version.
    pub version: String,
}

/// The image's three checks from the probe's answer. Pure.
pub fn image_checks(answer: &ProbeAnswer, checkout: &Checkout, app: &str) -> Vec<Check> {
    let failed = |detail: String| {
        let mut checks = vec![Check::new("image", false, detail)];
        checks.extend(IMAGE_CHECKS[1..].iter().map(|name| Check::skipped(name, "the image check failed")));
        checks
    };
    let ours = &checkout.version;
    let facts = match answer {
        ProbeAnswer::Facts(facts) => facts,
        ProbeAnswer::NotOnPath(said) => {
            let cannot_start =
                if said.contains(": not found") { format!("; {CANNOT_START_NOTE}") } else { String::new() };
            return failed(format!("praxia-deploy is not on the image's PATH ({said}): {BINARY_FIX}{cannot_start}"));
        }
        ProbeAnswer::Older(said) => {
            return failed(format!(
                "the image's praxia-deploy is older than this one ({ours}) and has no `doctor --probe` ({said}): redeploy with this version in the image"
            ));
        }
        ProbeAnswer::OtherFormat { version, format } => {
            return failed(format!(
                "the image's praxia-deploy {version} answers doctor's probe in format {format}, this one ({ours}) reads format {PROBE_FORMAT}: run doctor with the version the image carries, or redeploy with this one"
            ));
        }
        ProbeAnswer::NeverDeployed => {
            return failed(format!(
                "{app} has never been deployed, so it has no image to check: deploy it once (`git push dokku main`)"
            ));
        }
        ProbeAnswer::AppMissing => return failed(format!("{app} does not exist: `dokku apps:create {app}`")),
        ProbeAnswer::Failed { code: None, said } => {
            return failed(format!("`praxia-deploy doctor --probe` did not finish in the image: {said}"));
        }
        ProbeAnswer::Failed { code: Some(code), said } => {
            return failed(format!(
                "`praxia-deploy doctor --probe` failed in the image (exit {code}): {said}; `dokku run {app} praxia-deploy doctor --probe` shows it"
            ));
        }
    };
    let mut image = format!("praxia-deploy {} runs in the image", facts.version);
    if &facts.version != ours {
        image.push_str(&format!(" (this one is {ours})"));
    }
    if facts.environments_found {
        image.push_str(&format!("; project root {}", facts.root));
    } else {
        image.push_str(&format!(
            "; no environments/ found, so the project root is its working directory {}",
            facts.root
        ));
    }
    vec![Check::new("image", true, image), procfile_check(facts), migrations_check(facts, checkout)]
}

fn procfile_check(facts: &ImageFacts) -> Check {
    let procfile = &facts.procfile;
    let path = &procfile.path;
    let fix = "`release: praxia-deploy release`";
    match &procfile.release {
        _ if !procfile.found => {
            Check::new("procfile", false, format!("no Procfile at {path} in the image: add one with {fix}"))
        }
        None => Check::new("procfile", false, format!("{path} in the image has no release line: add {fix}")),
        Some(line) if runs_release_phase(line) => {
            Check::new("procfile", true, format!("{path} in the image runs `{line}` in the release phase"))
        }
        Some(line) if line.contains("praxia-deploy") => Check::new(
            "procfile",
            false,
            format!(
                "{path} in the image has `{line}`: make it {fix} alone (its options only): Dokku runs the line without a shell when the image has an ENTRYPOINT, and with one a chained command can hide a failed migration"
            ),
        ),
        Some(line) => Check::new("procfile", false, format!("{path} in the image has `{line}`: make it {fix}")),
    }
}

fn migrations_check(facts: &ImageFacts, checkout: &Checkout) -> Check {
    let environment = &facts.environment;
    let file = environment.file.as_deref().map(|file| relative(file, &facts.root));
    let env_file = file.clone().unwrap_or_else(|| format!("environments/{}.toml", environment.name));
    let elsewhere = |fix: String| match facts.drizzle_folders.as_slice() {
        [] => fix,
        [found, ..] => {
            let others = if facts.drizzle_folders.len() > 1 {
                format!(" (also: {})", facts.drizzle_folders[1..].join(", "))
            } else {
                String::new()
            };
            format!(
                "the image has a drizzle folder at {found}{others}: set [migrations] dir = \"{found}\" in {env_file}"
            )
        }
    };
    let Some(folder) = &environment.migrations else {
        let error = environment.error.as_deref().unwrap_or("not read");
        let found = match facts.drizzle_folders.first() {
            Some(found) => format!(" (its drizzle folder is {found}: name it in [migrations] dir)"),
            None => String::new(),
        };
        return Check::new(
            "migrations",
            false,
            format!(
                "the image's environment {} could not be read ({error}): copy environments/ into the image{found}",
                environment.name
            ),
        );
    };
    let dir = &folder.dir;
    if !folder.exists {
        let fix = elsewhere(format!("copy the folder into the image, or fix [migrations] dir in {env_file}"));
        return Check::new(
            "migrations",
            false,
            format!("{dir} ([migrations] dir of {env_file}) is not in the image (no {}): {fix}", folder.path),
        );
    }
    if let Some(error) = &folder.error {
        return Check::new(
            "migrations",
            false,
            format!("{dir} in the image is not a folder drizzle would apply: {error}"),
        );
    }
    let layout = folder.layout.map_or_else(String::new, |layout| format!(", {layout}"));
    let count = plural(folder.migrations.len(), "migration");
    let summary = format!("{dir} in the image: {count}{layout}");
    let local = match &checkout.migrations {
        Ok(local) => local,
        Err(why) => {
            return Check::new("migrations", true, format!("{summary}; not compared with this checkout: {why}"));
        }
    };
    let comparison = compare(&folder.migrations, local);
    if !comparison.edited.is_empty() {
        return Check::new(
            "migrations",
            false,
            format!(
                "{summary}; the image's {} {} from this checkout's: a migration must never change once applied; restore the edited one from version control (`praxia-deploy status --env {}` shows whether it was applied), then deploy",
                comparison.edited.join(", "),
                if comparison.edited.len() == 1 { "differs" } else { "differ" },
                checkout.env_name
            ),
        );
    }
    let mut detail = summary;
    if comparison.behind.is_empty() && comparison.ahead.is_empty() {
        detail.push_str(", the same as this checkout's");
    }
    if !comparison.behind.is_empty() {
        detail.push_str(&format!(
            "; the image lacks {} (in this checkout): deploy to apply {}",
            comparison.behind.join(", "),
            if comparison.behind.len() == 1 { "it" } else { "them" }
        ));
    }
    if !comparison.ahead.is_empty() {
        detail.push_str(&format!(
            "; this checkout lacks {} (in the image): pull before generating the next migration",
            comparison.ahead.join(", ")
        ));
    }
    Check::new("migrations", true, detail)
}

/// Tags on one side only, and tags on both sides with different contents.
#[derive(Debug, Default, PartialEq, Eq)]
struct Comparison {
    /// In this checkout, not in the image.
    behind: Vec<String>,
    /// In the image, not in this checkout.
    ahead: Vec<String>,
    edited: Vec<String>,
}

/// Matched by drizzle 1.0's name, which both layouts share, so a folder
/// converted by `drizzle-kit up` on one side still matches the other.
fn compare(image: &[MigrationFact], local: &[MigrationFact]) -> Comparison {
    let in_image: BTreeMap<&str, &MigrationFact> = image.iter().map(|fact| (fact.name.as_str(), fact)).collect();
    let in_checkout: BTreeMap<&str, &MigrationFact> = local.iter().map(|fact| (fact.name.as_str(), fact)).collect();
    let mut comparison = Comparison::default();
    for fact in image {
        match in_checkout.get(fact.name.as_str()) {
            None => comparison.ahead.push(fact.tag.clone()),
            Some(ours) if ours.hash != fact.hash => comparison.edited.push(fact.tag.clone()),
            Some(_) => {}
        }
    }
    comparison.behind =
        local.iter().filter(|fact| !in_image.contains_key(fact.name.as_str())).map(|fact| fact.tag.clone()).collect();
    comparison
}

/// `path` relative to `root` when it is under it.
fn relative(path: &str, root: &str) -> String {
    std::path::Path::new(path)
        .strip_prefix(root)
        .map_or_else(|_| path.to_owned(), |relative| relative.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::super::probe::{EnvironmentFacts, FolderFacts, ProcfileFacts};
    use super::*;
    use crate::migration_folder::Layout;

    #[test]
    fn the_release_line_must_run_praxia_deploy_release() {
        assert!(runs_release_phase("release: praxia-deploy release\nweb: praxia-deploy serve\n"));
        assert!(runs_release_phase("web: x\nrelease:   praxia-deploy release --wait 30s"));
        assert!(!runs_release_phase("web: praxia-deploy serve\n"));
        assert!(!runs_release_phase("# release: praxia-deploy release\n"));
        assert!(!runs_release_phase("release: node backend/dist/scripts/migrate.js\n"));
    }

    /// With the Node images' ENTRYPOINT, Dokku splits the release line into words
    /// and hands them to the entrypoint, no shell: `praxia-deploy release && node
    /// migrate.js` gives praxia-deploy three stray arguments and the deploy fails.
    /// Without an ENTRYPOINT it runs under `bash -c`, where `|| true` hides a
    /// failed migration. Either way the line is not one doctor may call ok.
    #[test]
    fn a_release_line_that_chains_another_command_is_not_ok() {
        for line in [
            "release: praxia-deploy release && node backend/dist/scripts/migrate.js",
            "release: praxia-deploy release || true",
            "release: praxia-deploy release; node migrate.js",
            "release: praxia-deploy release | tee /tmp/log",
            "release: praxia-deploy release > /dev/null",
            "release: praxia-deploy release --wait 30s&",
            "release: praxia-deploy release $(echo --env production)",
            "release: praxia-deploy release `true`",
        ] {
            assert!(!runs_release_phase(line), "{line}");
        }
        assert!(runs_release_phase("release: praxia-deploy release --wait 30s"));
        assert!(runs_release_phase("release:praxia-deploy release\r\n"));
        assert!(runs_release_phase("release: /usr/local/bin/praxia-deploy release"));
    }

    fn fact(tag: &str, hash: &str) -> MigrationFact {
        MigrationFact { tag: tag.to_owned(), name: tag.to_owned(), hash: hash.to_owned() }
    }

    fn facts(migrations: Vec<MigrationFact>) -> ImageFacts {
        ImageFacts {
            probe_format: PROBE_FORMAT,
            version: "1.0.0".to_owned(),
            root: "/app".to_owned(),
            environments_found: true,
            procfile: ProcfileFacts {
                path: "/app/Procfile".to_owned(),
                found: true,
                release: Some("release: praxia-deploy release".to_owned()),
            },
            environment: EnvironmentFacts {
                name: "staging".to_owned(),
                file: Some("/app/environments/staging.toml".to_owned()),
                error: None,
                migrations: Some(FolderFacts {
                    dir: "backend/drizzle".to_owned(),
                    path: "/app/backend/drizzle".to_owned(),
                    exists: true,
                    layout: Some(Layout::Journal),
                    migrations,
                    error: None,
                }),
            },
            drizzle_folders: Vec::new(),
        }
    }

    fn checkout(migrations: Vec<MigrationFact>) -> Checkout {
        Checkout { env_name: "staging".to_owned(), migrations: Ok(migrations), version: "1.0.0".to_owned() }
    }

    fn check(answer: ProbeAnswer, local: Vec<MigrationFact>, name: &str) -> Check {
        image_checks(&answer, &checkout(local), "api").into_iter().find(|check| check.name == name).unwrap()
    }

    const EXIT: RunExit = RunExit { code: Some(0), never_deployed: false, app_missing: false, binary_missing: false };

    #[test]
    fn the_probes_answer_is_read_from_its_document_else_from_how_the_container_ended() {
        let image = facts(vec![fact("0000_a", "h0")]);
        let document = serde_json::json!({"ok": true, "result": image}).to_string();
        assert_eq!(read_answer(EXIT, document.as_bytes(), ""), ProbeAnswer::Facts(Box::new(image)));

        let older = r#"{"ok": false, "error": {"message": "unexpected argument '--probe' found", "exit_code": 2}}"#;
        assert!(matches!(read_answer(RunExit { code: Some(2), ..EXIT }, older.as_bytes(), ""), ProbeAnswer::Older(_)));
        let newer = r#"{"ok": true, "result": {"probe_format": 9, "version": "9.0.0"}}"#;
        assert_eq!(
            read_answer(EXIT, newer.as_bytes(), ""),
            ProbeAnswer::OtherFormat { version: "9.0.0".to_owned(), format: 9 }
        );

        let not_found = RunExit { code: Some(127), ..EXIT };
        let said = "bash: line 1: exec: praxia-deploy: not found\n";
        assert_eq!(read_answer(not_found, b"", said), ProbeAnswer::NotOnPath(said.trim().to_owned()));
        let node = "node:internal/modules/cjs/loader:1210\n  throw err;\n\nError: Cannot find module '/app/praxia-deploy'\n    at Module._resolveFilename\n";
        assert!(matches!(
            read_answer(RunExit { code: Some(1), ..EXIT }, b"", node),
            ProbeAnswer::NotOnPath(said) if said.ends_with("Cannot find module '/app/praxia-deploy'")
        ));
        let undeployed = RunExit { code: Some(1), never_deployed: true, app_missing: false, binary_missing: false };
        assert_eq!(read_answer(undeployed, b"", " !     Invalid image stage detected"), ProbeAnswer::NeverDeployed);
        assert_eq!(
            read_answer(RunExit { code: Some(139), ..EXIT }, b"", "Segmentation fault\n"),
            ProbeAnswer::Failed { code: Some(139), said: "Segmentation fault".to_owned() }
        );
    }

    #[test]
    fn without_a_probe_answer_the_image_fails_and_its_findings_are_not_checked() {
        let checks = image_checks(&ProbeAnswer::NotOnPath("not found".to_owned()), &checkout(vec![]), "api");
        let statuses: Vec<(&str, CheckStatus)> = checks.iter().map(|check| (check.name, check.status)).collect();
        assert_eq!(
            statuses,
            [("image", CheckStatus::Fail), ("procfile", CheckStatus::Skipped), ("migrations", CheckStatus::Skipped)]
        );
        assert!(checks[0].detail.contains(BINARY_FIX), "{}", checks[0].detail);
        assert!(!checks[0].detail.contains("Alpine"), "{}", checks[0].detail);
        // An Alpine Node image whose Dockerfile copied glibc's binary: its entrypoint's
        // `command -v` finds it, then busybox's sh cannot exec it and says "not found".
        let alpine = "/usr/local/bin/docker-entrypoint.sh: exec: line 11: praxia-deploy: not found";
        let alpine = check(ProbeAnswer::NotOnPath(alpine.to_owned()), vec![], "image");
        assert!(alpine.detail.contains(BINARY_FIX) && alpine.detail.contains(CANNOT_START_NOTE), "{}", alpine.detail);
        let older = check(ProbeAnswer::Older("unexpected argument '--probe' found".to_owned()), vec![], "image");
        assert!(older.detail.starts_with("the image's praxia-deploy is older than this one"), "{}", older.detail);
        assert!(older.detail.contains("redeploy"), "{}", older.detail);
    }

    #[test]
    fn the_procfile_in_the_image_must_release_with_praxia_deploy() {
        let mut image = facts(vec![]);
        assert!(check(ProbeAnswer::Facts(Box::new(image.clone())), vec![], "procfile").ok);
        image.procfile.release = Some("release: node backend/dist/scripts/migrate.js".to_owned());
        let failed = check(ProbeAnswer::Facts(Box::new(image.clone())), vec![], "procfile");
        assert_eq!(
            failed.detail,
            "/app/Procfile in the image has `release: node backend/dist/scripts/migrate.js`: make it `release: praxia-deploy release`"
        );
        image.procfile.found = false;
        image.procfile.release = None;
        let missing = check(ProbeAnswer::Facts(Box::new(image)), vec![], "procfile");
        assert!(!missing.ok && missing.detail.starts_with("no Procfile at /app/Procfile"), "{}", missing.detail);
    }

    #[test]
    fn the_image_folder_is_compared_with_this_checkouts() {
        let image = || facts(vec![fact("0000_a", "h0"), fact("0001_b", "h1")]);
        let answer = || ProbeAnswer::Facts(Box::new(image()));
        let same = check(answer(), vec![fact("0000_a", "h0"), fact("0001_b", "h1")], "migrations");
        assert!(same.ok);
        assert!(
            same.detail
                .ends_with("2 migrations, drizzle-kit 0.x journal (meta/_journal.json), the same as this checkout's"),
            "{}",
            same.detail
        );

        let behind =
            check(answer(), vec![fact("0000_a", "h0"), fact("0001_b", "h1"), fact("0002_c", "h2")], "migrations");
        assert!(behind.ok);
        assert!(
            behind.detail.ends_with("the image lacks 0002_c (in this checkout): deploy to apply it"),
            "{}",
            behind.detail
        );

        let ahead = check(answer(), vec![fact("0000_a", "h0")], "migrations");
        assert!(ahead.ok && ahead.detail.contains("this checkout lacks 0001_b (in the image)"), "{}", ahead.detail);

        let edited = check(answer(), vec![fact("0000_a", "h0"), fact("0001_b", "other")], "migrations");
        assert!(!edited.ok);
        assert!(edited.detail.contains("the image's 0001_b differs from this checkout's"), "{}", edited.detail);

        let unreadable = Checkout { migrations: Err("no folder".to_owned()), ..checkout(vec![]) };
        let alone = image_checks(&answer(), &unreadable, "api").remove(2);
        assert!(alone.ok && alone.detail.ends_with("not compared with this checkout: no folder"), "{}", alone.detail);
    }

    #[test]
    fn a_missing_folder_names_the_drizzle_folder_the_image_has() {
        let mut image = facts(vec![]);
        let folder = image.environment.migrations.as_mut().unwrap();
        folder.dir = "migrations".to_owned();
        folder.path = "/app/migrations".to_owned();
        folder.exists = false;
        folder.layout = None;
        image.drizzle_folders = vec!["backend/drizzle".to_owned()];
        let missing = check(ProbeAnswer::Facts(Box::new(image.clone())), vec![], "migrations");
        assert_eq!(
            missing.detail,
            "migrations ([migrations] dir of environments/staging.toml) is not in the image (no /app/migrations): the image has a drizzle folder at backend/drizzle: set [migrations] dir = \"backend/drizzle\" in environments/staging.toml"
        );
        image.drizzle_folders.clear();
        let nowhere = check(ProbeAnswer::Facts(Box::new(image)), vec![], "migrations");
        assert!(
            nowhere
                .detail
                .ends_with("copy the folder into the image, or fix [migrations] dir in environments/staging.toml"),
            "{}",
            nowhere.detail
        );
    }
}
