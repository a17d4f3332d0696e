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
    if let Some(unknown) = tags.iter().find(|tag| !folder.migrations.iter().any(|migration| &migration.tag == *tag)) {
        let known: Vec<&str> = folder.migrations.iter().map(|migration| migration.tag.as_str()).collect();
        return Err(Error::usage(format!("no migration `{unknown}` in {}", folder.dir.display()))
            .note("migrations", crate::error::capped_list(&known))
            .help("give tags as `status` shows them (0002_add_x, or 20250101093000_add_x)"));
    }
    let selected: Vec<_> =
        folder.migrations.iter().filter(|migration| tags.is_empty() || tags.contains(&migration.tag)).collect();
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
