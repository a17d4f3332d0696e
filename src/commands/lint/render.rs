//! `lint`'s findings for a person, for GitHub Actions (workflow annotations) and
//! as Markdown (a pull-request comment, the job summary). Pure.

use std::fmt::Write;
use std::path::Path;

use crate::review::{Finding, Level, Verdict};

/// What the review covered, for the closing line.
pub struct Summary<'a> {
    pub findings: &'a [Finding],
    pub migrations: usize,
    pub errors: usize,
    pub accepted: usize,
    /// Migrations left out as history, and the baseline tag.
    pub skipped: Option<(usize, &'a str)>,
    /// Folder problems lint reports but does not stop at (in human output they
    /// are log warnings on stderr, as every command gives them).
    pub problems: &'a [String],
}

impl Summary<'_> {
    fn closing_line(&self) -> String {
        let mut line = format!(
            "{} in {} ({} at error level, {} acknowledged or harmless)",
            crate::text::plural(self.findings.len(), "finding"),
            crate::text::plural(self.migrations, "migration"),
            self.errors,
            self.accepted
        );
        if let Some((skipped, baseline)) = self.skipped {
            let _ = write!(
                line,
                "; {} up to the baseline {baseline} not reviewed",
                crate::text::plural(skipped, "migration")
            );
        }
        line
    }
}

pub fn human(summary: &Summary<'_>) -> String {
    let mut text = String::new();
    for finding in summary.findings {
        let _ = writeln!(text, "{}[{}]: {}", finding.level, finding.rule, finding.message);
        let _ = writeln!(text, "  --> {}:{}:{}", finding.file.display(), finding.line, finding.column);
        for line in finding.statement.lines() {
            let _ = writeln!(text, "   | {line}");
        }
        if let Some(help) = &finding.help {
            let _ = writeln!(text, "   = help: {help}");
        }
        match &finding.verdict {
            Verdict::Danger => {}
            Verdict::Harmless { reason } => {
                let _ = writeln!(text, "   = harmless: {reason}");
            }
            Verdict::Acknowledged { reason, line } => {
                let _ = writeln!(text, "   = acknowledged on line {line}: {reason}");
            }
        }
        text.push('\n');
    }
    let _ = writeln!(text, "{}", summary.closing_line());
    text
}

/// One workflow command per finding still in force (`::error`/`::warning`), file
/// paths relative to `top` (the repository's root, where GitHub resolves them).
pub fn github(summary: &Summary<'_>, top: Option<&Path>) -> String {
    let mut text = String::new();
    for problem in summary.problems {
        let _ = writeln!(text, "::warning title=praxia-deploy::{}", escape_data(problem));
    }
    for finding in summary.findings.iter().filter(|finding| finding.verdict == Verdict::Danger) {
        let command = match finding.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let file = top.and_then(|top| finding.file.strip_prefix(top).ok()).unwrap_or(&finding.file);
        let mut message = finding.message.clone();
        if let Some(help) = &finding.help {
            let _ = write!(message, "\nhelp: {help}");
        }
        let _ = writeln!(
            text,
            "::{command} file={},line={},col={},title={}::{}",
            escape_property(&file.display().to_string()),
            finding.line,
            finding.column,
            escape_property(&format!("praxia-deploy {}", finding.rule)),
            escape_data(&message)
        );
    }
    // Not a workflow command: nothing in it may start a line.
    let _ = writeln!(text, "{}", summary.closing_line().replace(['\r', '\n'], " "));
    text
}

/// A table of the findings, for a pull-request comment or `$GITHUB_STEP_SUMMARY`.
pub fn markdown(summary: &Summary<'_>, top: Option<&Path>) -> String {
    let mut text = String::from("### praxia-deploy lint\n\n");
    let _ = writeln!(text, "{}\n", summary.closing_line());
    for problem in summary.problems {
        let _ = writeln!(text, "> **warning:** {}\n", cell(problem));
    }
    if summary.findings.is_empty() {
        return text;
    }
    text.push_str("| | rule | where | finding |\n|---|---|---|---|\n");
    for finding in summary.findings {
        let mark = match (&finding.verdict, finding.level) {
            (Verdict::Danger, Level::Error) => "❌ error",
            (Verdict::Danger, Level::Warning) => "⚠️ warning",
            (Verdict::Harmless { .. }, _) => "✅ harmless",
            (Verdict::Acknowledged { .. }, _) => "✅ acknowledged",
        };
        let file = top.and_then(|top| finding.file.strip_prefix(top).ok()).unwrap_or(&finding.file);
        let mut what = cell(&finding.message);
        match &finding.verdict {
            Verdict::Danger => {
                if let Some(help) = &finding.help {
                    let _ = write!(what, "<br>*help:* {}", cell(help));
                }
            }
            Verdict::Harmless { reason } | Verdict::Acknowledged { reason, .. } => {
                let _ = write!(what, "<br>*{}*", cell(reason));
            }
        }
        let _ = writeln!(
            text,
            "| {mark} | `{}` | `{}:{}:{}` | {what} |",
            code(&finding.rule),
            code(&file.display().to_string()),
            finding.line,
            finding.column
        );
    }
    text
}

/// A table cell: no pipe ends it, no newline breaks the row, no HTML, link or
/// image is made of what a migration says.
pub(super) fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.replace("\r\n", "\n").chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push_str("<br>"),
            '`' => out.push('\''),
            '|' | '[' | ']' | '(' | ')' | '!' | '*' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Text in a code span of a table cell: nothing is formatted there, but a
/// backtick would end it, a pipe the cell, a newline the row.
fn code(text: &str) -> String {
    text.replace('`', "'").replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A workflow command's message: `%`, CR and LF escaped as GitHub reads them.
pub(super) fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
pub(super) fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_commands_and_table_cells_cannot_be_broken_out_of() {
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(cell("a | b\n<script>"), "a \\| b<br>&lt;script&gt;");
        assert_eq!(cell("![x](https://e.test/p.png)"), "\\!\\[x\\]\\(https://e.test/p.png\\)");
    }
}
