//! `lint [TAG...]`: the review of migrations, offline, rendered for a person or CI.

use std::fmt::Write;

use serde_json::json;

use super::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::migrations::folder::read_environment_folder;
use crate::output::{Report, plural};
use crate::review::{Finding, Reviewed, Verdict};

pub fn run(context: &Context<'_>, tags: &[String]) -> Result<Report> {
    let folder = read_environment_folder(&context.env.migrations)?;
    let selected = select(&folder, tags)?;
    let findings: Vec<Finding> =
        selected.iter().flat_map(|migration| Reviewed::of(migration, &context.env.review).findings).collect();
    let errors = findings.iter().filter(|finding| finding.blocks()).count();
    let accepted = findings.iter().filter(|finding| finding.verdict != Verdict::Danger).count();
    let mut human = String::new();
    for finding in &findings {
        let _ = writeln!(human, "{}[{}]: {}", finding.level, finding.rule, finding.message);
        let _ = writeln!(human, "  --> {}:{}:{}", finding.file.display(), finding.line, finding.column);
        for line in finding.statement.lines() {
            let _ = writeln!(human, "   | {line}");
        }
        if let Some(help) = &finding.help {
            let _ = writeln!(human, "   = help: {help}");
        }
        match &finding.verdict {
            Verdict::Danger => {}
            Verdict::Harmless { reason } => {
                let _ = writeln!(human, "   = harmless: {reason}");
            }
            Verdict::Acknowledged { reason, line } => {
                let _ = writeln!(human, "   = acknowledged on line {line}: {reason}");
            }
        }
        human.push('\n');
    }
    let _ = writeln!(
        human,
        "{} in {} ({errors} at error level, {accepted} acknowledged or harmless)",
        plural(findings.len(), "finding"),
        plural(selected.len(), "migration"),
    );
    let report = Report::new(&json!({ "migrations": selected.len(), "errors": errors, "findings": findings }), human);
    if errors > 0 {
        return Err(Error::new(ErrorKind::LintFailed, format!("{} at error level", plural(errors, "finding")))
            .help("write the migration the safe way the findings describe, or acknowledge a finding you accept, with why, on the line before its statement: `-- praxia-deploy: allow RULE: <reason>`")
            .with_report(report));
    }
    Ok(report)
}

/// The migrations `tags` name, in folder order: each a whole tag or folder name,
/// or the part before its first `_` (`0002`, `20250101093000`). Pure.
fn select<'f>(
    folder: &'f crate::migrations::folder::MigrationFolder,
    tags: &[String],
) -> Result<Vec<&'f crate::migrations::folder::Migration>> {
    let known = || -> Vec<&str> { folder.migrations.iter().map(|migration| migration.tag.as_str()).collect() };
    let mut chosen = vec![false; folder.migrations.len()];
    for tag in tags {
        let whole: Vec<usize> = (0..folder.migrations.len())
            .filter(|&index| [&folder.migrations[index].tag, &folder.migrations[index].name].contains(&tag))
            .collect();
        let matches: Vec<usize> = if whole.is_empty() {
            (0..folder.migrations.len())
                .filter(|&index| folder.migrations[index].tag.split_once('_').is_some_and(|(prefix, _)| prefix == tag))
                .collect()
        } else {
            whole
        };
        match matches.as_slice() {
            [] => {
                return Err(Error::usage(format!("no migration `{tag}` in {}", folder.dir.display()))
                    .note("migrations", crate::error::capped_list(&known()))
                    .help("give tags as `status` shows them (0002_add_x, or 20250101093000_add_x), or the part before the first `_` (0002)"));
            }
            [one] => chosen[*one] = true,
            several => {
                let names: Vec<&str> = several.iter().map(|&index| folder.migrations[index].tag.as_str()).collect();
                return Err(Error::usage(format!("`{tag}` names {} migrations", several.len()))
                    .note("they are", names.join(", "))
                    .help("give the whole tag"));
            }
        }
    }
    Ok(folder
        .migrations
        .iter()
        .enumerate()
        .filter(|(index, _)| tags.is_empty() || chosen[*index])
        .map(|(_, m)| m)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::folder::tests::folder;

    #[test]
    fn a_tag_names_its_migration_whole_or_by_the_part_before_its_first_underscore() {
        let folder = folder(&[("0000_init", 1, ""), ("0001_add_profile_bio", 2, ""), ("0002_x", 3, "")]).unwrap();
        let tags = |wanted: &[&str]| -> Vec<String> {
            let wanted: Vec<String> = wanted.iter().map(|tag| (*tag).to_owned()).collect();
            select(&folder, &wanted).unwrap().iter().map(|migration| migration.tag.clone()).collect()
        };
        assert_eq!(tags(&["0001"]), ["0001_add_profile_bio"]);
        assert_eq!(tags(&["0002_x", "0000"]), ["0000_init", "0002_x"]);
        assert_eq!(tags(&[]).len(), 3);
        let unknown = select(&folder, &["0009".to_owned()]).unwrap_err().to_string();
        assert!(unknown.contains("no migration `0009`"), "{unknown}");
    }
}
