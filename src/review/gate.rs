//! The production gate: in an environment with `[review] gate` on, a pending
//! migration with an error-level finding that nothing makes safe is refused
//! before anything is written. Pure.

use super::{Finding, Reviewed, Target};
use crate::config::Environment;
use crate::error::{Error, ErrorKind};

/// How many findings the refusal lists before it says how many more there are.
const LISTED: usize = 10;

/// The findings that stop the gate, in order.
pub fn blocking(reviews: &[Reviewed]) -> Vec<&Finding> {
    reviews.iter().flat_map(|review| review.findings.iter()).filter(|finding| finding.blocks()).collect()
}

/// The refusal, when anything blocks.
pub fn gate_refusal(env: &Environment, reviews: &[Reviewed]) -> Option<Error> {
    let blocking = blocking(reviews);
    let first = blocking.first()?;
    let mut error = Error::new(
        ErrorKind::Policy,
        format!(
            "the review gate of environment {} refuses {} in the pending migrations; nothing was written",
            env.name,
            crate::text::plural(blocking.len(), "finding")
        ),
    );
    for finding in blocking.iter().take(LISTED) {
        error = error.note("refused", describe(finding));
    }
    if blocking.len() > LISTED {
        error = error.note("and", format!("{} more (`praxia-deploy plan` lists them all)", blocking.len() - LISTED));
    }
    let mut rules: Vec<&str> = Vec::new();
    for finding in blocking.iter().filter(|f| f.tag == first.tag && f.statement_number == first.statement_number) {
        if !rules.contains(&finding.rule.as_str()) {
            rules.push(&finding.rule);
        }
    }
    let safe_way = first.help.as_deref().map_or(String::new(), |help| format!(" ({}: {help})", first.rule));
    Some(error.help(format!(
        "write the migration the safe way{safe_way}; or, if it is safe here, say why on the line before the statement: `-- praxia-deploy: allow {}: <reason>` (the reason is kept in praxia_deploy.migration_log). `praxia-deploy plan --env {}` shows every finding",
        rules.join(", "),
        env.name
    )))
}

/// One line: where, which rule, on what, and why.
pub fn describe(finding: &Finding) -> String {
    let on = match (finding.targets.first(), &finding.table_size) {
        (_, Some(size)) => format!(" ({size})"),
        (Some(Target::Table(table)), None) => format!(" (table {table})"),
        (Some(Target::Index(index)), None) => format!(" (index {index})"),
        (None, None) => String::new(),
    };
    format!(
        "{} {}:{}:{}: {}[{}]{on}: {}",
        finding.tag,
        finding.file.display(),
        finding.line,
        finding.column,
        finding.level,
        finding.rule,
        finding.message
    )
}
