//! Diagnostics through tracing, always to stderr so stdout stays the command's own.

use tracing_subscriber::EnvFilter;

/// How much to log, from `-q` and `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose(u8),
}

impl Verbosity {
    pub fn from_flags(quiet: bool, verbose: u8) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, 0) => Verbosity::Normal,
            (false, level) => Verbosity::Verbose(level),
        }
    }

    fn filter(self) -> &'static str {
        match self {
            Verbosity::Quiet => "error",
            Verbosity::Normal => "warn,praxia_deploy=info",
            Verbosity::Verbose(1) => "info,praxia_deploy=debug",
            Verbosity::Verbose(2) => "debug,praxia_deploy=trace",
            Verbosity::Verbose(_) => "trace",
        }
    }
}

/// `RUST_LOG`, when set, overrides the verbosity flags.
pub fn init(verbosity: Verbosity, color: bool) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .and_then(|value| EnvFilter::try_new(value).ok())
        .unwrap_or_else(|| EnvFilter::new(verbosity.filter()));
    let verbose = matches!(verbosity, Verbosity::Verbose(_));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_env_filter(filter)
        .with_target(verbose)
        .without_time()
        .init();
}
