//! What a command prints: human text, or exactly one JSON document on stdout.

use std::io::{IsTerminal, Write};

use serde_json::json;

use crate::error::Error;
pub use crate::report::Report;

/// `--output`: what stdout carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
    /// `lint` only: GitHub Actions workflow commands (annotations on the pull request).
    Github,
    /// `lint` only: a Markdown table, for a pull-request comment.
    Markdown,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: OutputFormat,
    /// Colour on stderr (errors and logs).
    pub color: bool,
    /// Draw progress bars (human output, stderr a terminal, not --no-progress).
    pub bars: bool,
}

impl Printer {
    pub fn new(format: OutputFormat, choice: ColorChoice, no_progress: bool) -> Printer {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let terminal = std::io::stderr().is_terminal();
        Printer {
            format,
            color: use_color(choice, terminal, no_color),
            bars: format == OutputFormat::Human && terminal && !no_progress,
        }
    }

    /// A progress line: stdout in human output (Dokku's release log shows stdout
    /// plainly, stderr as warnings), a log line on stderr under `--output json`.
    pub fn progress_line(&self, line: &str) {
        match self.format {
            OutputFormat::Human | OutputFormat::Github | OutputFormat::Markdown => println!("{line}"),
            OutputFormat::Json => tracing::info!("{}", line.trim_start()),
        }
    }

    pub fn success(&self, command: &str, environment: &str, report: &Report) {
        if report.streamed {
            return;
        }
        match self.format {
            OutputFormat::Human | OutputFormat::Github | OutputFormat::Markdown => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(report.human.as_bytes());
                if !report.human.is_empty() && !report.human.ends_with('\n') {
                    let _ = out.write_all(b"\n");
                }
            }
            OutputFormat::Json => print_json(&json!({
                "command": command,
                "environment": environment,
                "ok": true,
                "result": report.result,
            })),
        }
    }

    pub fn failure(&self, command: &str, environment: &str, error: &Error) {
        match self.format {
            OutputFormat::Human | OutputFormat::Github | OutputFormat::Markdown => {
                if let Some(report) = &error.report {
                    self.success(command, environment, report);
                }
                eprintln!("{}", self.render_error(error));
            }
            OutputFormat::Json => print_json(&json!({
                "command": command,
                "environment": environment,
                "ok": false,
                "result": error.report.as_ref().map(|report| &report.result),
                "error": {
                    "kind": error.kind,
                    "exit_code": error.exit_code(),
                    "message": error.message,
                    "notes": error.notes,
                    "help": error.help,
                },
            })),
        }
    }

    /// `error: <message>`, the notes indented under it, `help: ...` last.
    pub fn render_error(&self, error: &Error) -> String {
        let (red, cyan, reset) = if self.color { ("\x1b[1;31m", "\x1b[1;36m", "\x1b[0m") } else { ("", "", "") };
        let mut text = format!("{red}error{reset}: {}", error.message);
        for note in &error.notes {
            let value = note.value.replace('\n', "\n    ");
            text.push_str(&format!("\n  {}: {value}", note.label));
        }
        if let Some(help) = &error.help {
            text.push_str(&format!("\n{cyan}help{reset}: {help}"));
        }
        text
    }
}

fn print_json(document: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, document);
    let _ = out.write_all(b"\n");
}

/// `always` and `never` are obeyed; `auto` colours a terminal unless NO_COLOR is set.
pub fn use_color(choice: ColorChoice, is_terminal: bool, no_color: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && !no_color,
    }
}

/// Migration progress: a bar on a terminal, plain lines otherwise.
pub struct MigrationProgress {
    printer: Printer,
    /// What the opening line names: the database (redacted) and the environment.
    target: String,
    bar: Option<indicatif::ProgressBar>,
}

impl MigrationProgress {
    pub fn new(printer: Printer, target: String) -> MigrationProgress {
        MigrationProgress { printer, target, bar: None }
    }
}

impl crate::migrations::apply::Progress for MigrationProgress {
    fn begin(&mut self, total: usize) {
        if total == 0 {
            return;
        }
        self.printer.progress_line(&format!("applying {} to {}", crate::text::plural(total, "migration"), self.target));
        self.bar = self.printer.bars.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar
        });
    }

    fn started(&mut self, migration: &crate::migration_folder::Migration) {
        if let Some(bar) = &self.bar {
            bar.set_message(migration.tag.clone());
        }
    }

    fn finished(&mut self, migration: &crate::migration_folder::Migration, took: std::time::Duration) {
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => {
                let part = match migration.part {
                    crate::migration_folder::Part::Whole => "",
                    crate::migration_folder::Part::Expand => " expand part",
                    crate::migration_folder::Part::Contract => " contract part",
                    crate::migration_folder::Part::Abandoned => " (contract part abandoned, not run)",
                };
                self.printer.progress_line(&format!("  ran {}{part} ({} ms)", migration.tag, took.as_millis()))
            }
        }
    }

    fn retrying(&mut self, attempt: u32, reason: &str, delay: std::time::Duration) {
        tracing::warn!(
            "lock timeout or deadlock ({reason}); the batch was rolled back, retry {attempt} in {} ms",
            delay.as_millis()
        );
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_used_only_where_it_is_wanted() {
        use ColorChoice::*;
        let table = [
            (Always, false, true, true),
            (Never, true, false, false),
            (Auto, true, false, true),
            (Auto, true, true, false),
            (Auto, false, false, false),
        ];
        for (choice, terminal, no_color, expected) in table {
            assert_eq!(
                use_color(choice, terminal, no_color),
                expected,
                "{choice:?} terminal={terminal} no_color={no_color}"
            );
        }
    }

    #[test]
    fn an_uncoloured_error_has_no_escape_codes() {
        let printer = Printer { format: OutputFormat::Human, color: false, bars: false };
        let text = printer.render_error(&Error::usage("bad").note("file", "a.toml").help("fix it"));
        assert_eq!(text, "error: bad\n  file: a.toml\nhelp: fix it");
    }
}
