//! The command line, declared with clap: global flags, commands, their help and examples.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::migration_folder::Layout;
use crate::output::{ColorChoice, OutputFormat};

use crate::config::HumanDuration;
use crate::error::EXIT_CODES_HELP;

const ABOUT: &str = "Deploys the Praxia coaching app's database: drizzle-compatible migrations, the seed policy, \
the first-run admin, Dokku.";

#[derive(Debug, Parser)]
#[command(name = "praxia-deploy", version, about = ABOUT, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The environment: the name of a file in environments/ (development, test, staging, production, ...).
    #[arg(long, global = true, env = "PRAXIA_ENV", default_value = "development", value_name = "NAME")]
    pub env: String,

    /// The folder holding the environment files [default: the nearest environments/ here or above].
    #[arg(long, global = true, env = "PRAXIA_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// The database URL [default: the variable named by the environment's database.url_env, DATABASE_URL
    /// unless set otherwise; development and test fall back to the embedded database].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// `json` prints one JSON document on stdout (logs stay on stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human, value_name = "FORMAT")]
    pub output: OutputFormat,

    /// More log detail on stderr (-v, -vv); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Never draw progress bars (they are only drawn on a terminal anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,

    /// Colour in human output; `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The release-phase run: wait for the database, check integrity, apply pending migrations.
    #[command(after_help = RELEASE_EXAMPLES)]
    Release(ApplyArgs),
    /// Apply pending migrations (--dry-run prints the SQL instead).
    #[command(after_help = MIGRATE_EXAMPLES)]
    Migrate {
        #[command(flatten)]
        apply: ApplyArgs,
        /// Print the SQL that would run, and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Confirm a migration of a production environment without the prompt.
        #[arg(long)]
        yes: bool,
        /// Migrate without the backup `[backup] before_migrate` asks for (production: with the confirmation too).
        #[arg(long, conflicts_with = "after_backup")]
        no_backup: bool,
        /// The backup the laptop took just before (sent by praxia-deploy to the container, to be recorded).
        #[arg(long, hide = true, value_name = "RECORD")]
        after_backup: Option<crate::provenance::BackupRecord>,
    },
    /// Applied and pending migrations, and any integrity problem (exit 4).
    #[command(after_help = STATUS_EXAMPLES)]
    Status {
        #[command(flatten)]
        wait: WaitArgs,
        /// Exit 8 when migrations are pending (for CI gates).
        #[arg(long)]
        exit_code: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Each pending statement, and whether it runs in the transaction or alone.
    #[command(after_help = "Example:\n  praxia-deploy plan --output json")]
    Plan {
        #[command(flatten)]
        wait: WaitArgs,
        /// Plan late-merged migrations too, as `migrate --allow-out-of-order` would run them.
        #[arg(long)]
        allow_out_of_order: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Write the development fixtures declared in [seed] (development and test databases only).
    #[command(after_help = SEED_EXAMPLES)]
    Seed {
        #[command(flatten)]
        wait: WaitArgs,
        /// Also make sure N synthetic organizations (load-00001...) with about ten users each exist.
        #[arg(long, value_name = "N")]
        scale: Option<usize>,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Confirm for a production environment without the prompt (the seed policy still refuses).
        #[arg(long)]
        yes: bool,
    },
    /// Check the Dokku side of an environment: SSH, the app, its DATABASE_URL, the Procfile.
    #[command(after_help = "Example:\n  praxia-deploy doctor --env staging")]
    Doctor,
    /// Record which environment the database belongs to (the first migrate or release does it too).
    #[command(after_help = STAMP_EXAMPLES)]
    Stamp {
        #[command(flatten)]
        wait: WaitArgs,
        /// Replace another environment's stamp (never turns staging or production into development or test).
        #[arg(long)]
        force: bool,
    },
    /// Run the setup server: GET /healthz, GET /api/setup/status, POST /api/setup/first-run.
    #[command(after_help = SERVE_EXAMPLES)]
    Serve {
        /// The address to listen on [default: 0.0.0.0:$PORT, else 0.0.0.0:5000].
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
    },
    /// Browse the environment's database, read-only, in a local web page (token in the printed URL).
    #[command(
        after_help = "Examples:\n  praxia-deploy studio                      the development database, on http://127.0.0.1:4983\n  praxia-deploy studio --open --bind 127.0.0.1:5055\n  praxia-deploy studio --env staging --yes  needs DATABASE_URL (or --database-url)"
    )]
    Studio {
        /// The address to listen on (loopback by default: the page is for this machine).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4983")]
        bind: std::net::SocketAddr,
        /// Open the page in the system's browser.
        #[arg(long)]
        open: bool,
        /// Confirm browsing a staging or production database.
        #[arg(long)]
        yes: bool,
    },
    /// Create the first platform admin through the environment's first-run endpoint.
    #[command(after_help = BOOTSTRAP_EXAMPLES)]
    Bootstrap {
        /// The app's base URL [default: the environment's setup.url].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// The admin's display name.
        #[arg(long)]
        name: String,
        /// Read the admin's password from stdin [default: the PRAXIA_ADMIN_PASSWORD variable].
        #[arg(long)]
        password_stdin: bool,
        /// Retry while the app is unreachable or answers 502/503/504, up to this long.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
        wait: HumanDuration,
        /// Exit 3 when the platform already has its admin (instead of 0).
        #[arg(long)]
        require_fresh: bool,
    },
    /// Generate the next migration from the schema with the project's drizzle-kit, then review it; exit 10 on an error-level finding.
    #[command(
        after_help = "Examples:\n  praxia-deploy generate add_coach_notes            # drizzle-kit generate, then its review and plan\n  praxia-deploy generate --custom backfill_roles    # an empty migration to write by hand (as `new`)"
    )]
    Generate {
        /// Lowercase letters, digits and `_`.
        name: String,
        /// An empty migration to write by hand, as `new NAME` makes it.
        #[arg(long)]
        custom: bool,
    },
    /// Create the next migration as `drizzle-kit generate --custom` does, in the folder's layout.
    #[command(
        after_help = "Examples:\n  praxia-deploy new add_coach_notes    # journal layout: migrations/0002_add_coach_notes.sql,\n                                       # its journal entry and meta/0002_snapshot.json\n                                       # drizzle 1.0 layout: migrations/20260101093000_add_coach_notes/\n                                       # with migration.sql and snapshot.json\n  praxia-deploy new init --layout folders   # the first migration of an empty folder, drizzle 1.0's way"
    )]
    New {
        /// Lowercase letters, digits and `_`.
        name: String,
        /// The layout of a new, empty folder (an existing folder keeps its own):
        /// `journal` (drizzle-kit 0.x) or `folders` (drizzle 1.0).
        #[arg(long, value_enum)]
        layout: Option<FolderLayout>,
    },
    /// The embedded development PostgreSQL under .praxia/postgres/ (development and test).
    #[command(subcommand, after_help = DB_EXAMPLES)]
    Db(DbCommand),
    /// Show the resolved settings of an environment, or check every environment file.
    #[command(subcommand, after_help = CONFIG_EXAMPLES)]
    Config(ConfigCommand),
    /// Review migrations offline: Squawk's rules and praxia-deploy's; exit 10 on an error-level finding.
    #[command(
        after_help = "Examples:\n  praxia-deploy lint                       # every migration after [review] baseline\n  praxia-deploy lint 0002                  # only these (tags, folder names, or the part before `_`)\n  praxia-deploy lint --changed             # what this branch adds over its upstream (else main)\n  praxia-deploy lint --changed origin/main --output github   # annotations on a pull request\n  praxia-deploy lint --output markdown     # a table for a pull-request comment"
    )]
    Lint {
        /// Migrations to review (their tags or folder names); all when none is given.
        #[arg(conflicts_with = "changed")]
        tags: Vec<String>,
        /// Review the migrations the current git branch adds or changes over BASE (default: its
        /// upstream, else main, else origin/main), committed or not.
        #[arg(long, value_name = "BASE", num_args = 0..=1, default_missing_value = "")]
        changed: Option<String>,
    },
    /// Take a verified backup of the database (through Dokku's postgres:export, or pg_dump here), or drill a restore.
    #[command(after_help = BACKUP_EXAMPLES)]
    Backup(BackupArgs),
    /// Compare the live schema with what its applied migrations make (replayed in a scratch database): exit 11 on a difference.
    #[command(
        after_help = "Examples:\n  praxia-deploy drift --env staging --local     compare, and print the SQL that would bring it back\n  praxia-deploy drift --shadow-url postgres://localhost/scratch   replay on that server instead\n  praxia-deploy drift --record --env production   record what the folder makes, for the release's check\n  praxia-deploy drift --record --check           in CI: is the recorded schema the folder's?"
    )]
    Drift {
        /// Replay the whole folder (never on a live database) and record the schema it makes in
        /// [drift] expected_schema, which `release` reads to check drift without replaying anything.
        #[arg(long, conflicts_with = "print_catalog")]
        record: bool,
        /// With --record: replay nothing, write nothing; exit 4 unless [drift] expected_schema already
        /// holds the whole folder's set (for CI, beside the migration that changed it).
        #[arg(long, requires = "record")]
        check: bool,
        /// A PostgreSQL server of the live database's major version to replay on (a scratch database is
        /// created there and dropped) [default: the embedded development cluster].
        #[arg(long, value_name = "URL")]
        shadow_url: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Print the database's catalog and bookkeeping rows as one JSON document, compare nothing (what the
        /// laptop asks the container for).
        #[arg(long, hide = true)]
        print_catalog: bool,
    },
    /// Print a shell completion script (from clap's own generator).
    #[command(
        after_help = "Examples:\n  praxia-deploy completions bash > ~/.local/share/bash-completion/completions/praxia-deploy\n  praxia-deploy completions zsh > ~/.zfunc/_praxia-deploy\n  praxia-deploy completions fish > ~/.config/fish/completions/praxia-deploy.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

const RELEASE_EXAMPLES: &str = "\
Examples:
  praxia-deploy release                        what the Procfile's release line runs (DATABASE_URL from Dokku)
  praxia-deploy release --env development      migrate the embedded development database";

const BACKUP_EXAMPLES: &str = "\
Examples:
  praxia-deploy backup --env production              dokku postgres:export into backups/, verified, rotated
  praxia-deploy backup --env production --verify-restore   and restore it into a scratch database
  praxia-deploy backup verify backups/app-20261201T112505Z-0002_x.dump   the restore drill alone";

const MIGRATE_EXAMPLES: &str = "\
Examples:
  praxia-deploy migrate --dry-run              the SQL that would run
  praxia-deploy migrate --lock-wait 5min       wait longer for another runner
  praxia-deploy migrate --allow-out-of-order   also apply a late-merged migration";

const SERVE_EXAMPLES: &str = "\
Examples:
  praxia-deploy serve                              what the Procfile's web line runs (PORT from Dokku)
  PRAXIA_SETUP_TOKEN=dev-token praxia-deploy serve --bind 127.0.0.1:5000";

const BOOTSTRAP_EXAMPLES: &str = "\
Examples:
  echo \"$ADMIN_PASSWORD\" | praxia-deploy bootstrap --env staging --email admin@praxia.example --name Admin --password-stdin --wait 2min
  PRAXIA_ADMIN_PASSWORD=... praxia-deploy bootstrap --url http://127.0.0.1:5000 --email a@praxia.test --name Ada --require-fresh";

const SEED_EXAMPLES: &str = "\
Examples:
  praxia-deploy seed                        the fixtures of environments/development.toml
  praxia-deploy seed --env test --scale 1000   plus 1,000 synthetic organizations (about 10,000 users)";

const STAMP_EXAMPLES: &str = "\
Examples:
  praxia-deploy stamp --env staging                   stamp an unstamped database
  praxia-deploy stamp --env staging-eu --force        the database moved to another environment";

const STATUS_EXAMPLES: &str = "\
Examples:
  praxia-deploy status
  praxia-deploy status --exit-code --output json   exit 8 if anything is pending";

/// `new --layout`: the engine's `Layout`, named for the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FolderLayout {
    /// drizzle-kit 0.x: meta/_journal.json and NNNN_tag.sql.
    Journal,
    /// drizzle 1.0: <YYYYMMDDHHMMSS>_<name>/migration.sql.
    Folders,
}

impl From<FolderLayout> for Layout {
    fn from(layout: FolderLayout) -> Layout {
        match layout {
            FolderLayout::Journal => Layout::Journal,
            FolderLayout::Folders => Layout::Folders,
        }
    }
}

/// Where a command that can go over SSH runs.
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteArgs {
    /// Run here, even if the environment has a [dokku] section (what the container itself runs).
    #[arg(long, conflicts_with = "remote")]
    pub local: bool,
    /// Run in a one-off container on the Dokku host (the default when the environment has [dokku]).
    #[arg(long)]
    pub remote: bool,
}

/// `backup` takes one; `backup verify FILE` drills a restore of one.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,
    /// Then restore it into a scratch database on the embedded development cluster, as `backup verify` does.
    #[arg(long)]
    pub verify_restore: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Restore FILE into a scratch database on the embedded development cluster (never the source), check
    /// that every table came back, count rows, drop it.
    #[command(
        after_help = "Example:\n  praxia-deploy backup verify backups/praxia-api-20261201T112505Z-0002_add_x.dump"
    )]
    Verify {
        /// A dump as `backup` writes it (pg_dump's custom format).
        file: PathBuf,
    },
}

/// How long to wait for the database.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// How long to wait for the database to accept connections [default: the environment's database.wait].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<HumanDuration>,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub wait: WaitArgs,
    /// How long to wait for another runner's migration lock [default: the environment's database.lock_wait].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_wait: Option<HumanDuration>,
    /// Apply a pending migration older than the newest applied one (a branch merged late).
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// Apply pending migrations in atomic batches of at most N, each committed before
    /// the next (for very long histories; the default is one transaction for all).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
}

fn parse_duration(text: &str) -> Result<HumanDuration, String> {
    HumanDuration::parse(text)
}

const DB_EXAMPLES: &str = "\
Examples:
  praxia-deploy db start                 create (once) and start it; prints the URL
    praxia-deploy db url --env test        the test environment's database in the same cluster
  praxia-deploy db psql                  a SQL shell on the environment's database
  praxia-deploy db stop                  stop it; the data stays for next time";

const CONFIG_EXAMPLES: &str = "\
Examples:
  praxia-deploy config show --env staging          where staging's database URL comes from, its Dokku app...
  praxia-deploy config check                       validate every file in environments/ (exit 2 if one is invalid)";

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the cluster if needed, start it, create the environment's database; print its URL.
    #[command(after_help = "Example:\n  praxia-deploy db start --env test")]
    Start,
    /// Stop the server; the data is kept.
    #[command(after_help = "Example:\n  praxia-deploy db stop")]
    Stop,
    /// Whether the cluster exists and runs, its port, pid and socket folder.
    #[command(after_help = "Example:\n  praxia-deploy db status --output json")]
    Status,
    /// Print the environment's database URL (for psql, DATABASE_URL, drizzle-kit).
    #[command(after_help = "Example:\n  export DATABASE_URL=\"$(praxia-deploy db url)\"")]
    Url,
    /// Open psql on the environment's database (the embedded one is started when no URL is
    /// given); arguments after `--` go to psql, and the exit status is psql's own.
    #[command(
        after_help = "Examples:\n  praxia-deploy db psql\n  praxia-deploy db psql --env test -- -c 'table drizzle.__drizzle_migrations'"
    )]
    Psql {
        /// Arguments for psql.
        #[arg(last = true, value_name = "PSQL_ARGS")]
        args: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The environment's settings with every default filled in (database passwords redacted).
    #[command(after_help = "Example:\n  praxia-deploy config show --env production --output json")]
    Show,
    /// Read every environment file and report each one's errors.
    #[command(after_help = "Example:\n  praxia-deploy config check")]
    Check,
}

impl Command {
    /// `--local` / `--remote` of the commands that can run over SSH.
    pub fn remote_args(&self) -> Option<&RemoteArgs> {
        match self {
            Command::Migrate { remote, .. }
            | Command::Status { remote, .. }
            | Command::Plan { remote, .. }
            | Command::Seed { remote, .. }
            | Command::Drift { remote, .. } => Some(remote),
            _ => None,
        }
    }

    /// The command's name as the user typed it, for messages and the JSON document.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Release(_) => "release",
            Command::Migrate { .. } => "migrate",
            Command::Status { .. } => "status",
            Command::Plan { .. } => "plan",
            Command::New { .. } => "new",
            Command::Generate { .. } => "generate",
            Command::Seed { .. } => "seed",
            Command::Doctor => "doctor",
            Command::Serve { .. } => "serve",
            Command::Bootstrap { .. } => "bootstrap",
            Command::Stamp { .. } => "stamp",
            Command::Db(DbCommand::Start) => "db start",
            Command::Db(DbCommand::Stop) => "db stop",
            Command::Db(DbCommand::Status) => "db status",
            Command::Db(DbCommand::Url) => "db url",
            Command::Db(DbCommand::Psql { .. }) => "db psql",
            Command::Config(ConfigCommand::Show) => "config show",
            Command::Config(ConfigCommand::Check) => "config check",
            Command::Completions { .. } => "completions",
            Command::Lint { .. } => "lint",
            Command::Drift { .. } => "drift",
            Command::Studio { .. } => "studio",
            Command::Backup(BackupArgs { action: None, .. }) => "backup",
            Command::Backup(BackupArgs { action: Some(BackupAction::Verify { .. }), .. }) => "backup verify",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_shows_an_example() {
        fn check(command: &clap::Command, path: &str) {
            let path = format!("{path} {}", command.get_name());
            if command.get_subcommands().next().is_none() {
                let help = command.get_after_help().map(|help| help.to_string()).unwrap_or_default();
                assert!(help.contains("praxia-deploy"), "`{path}` has no example in its help");
            }
            for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
                check(sub, &path);
            }
        }
        check(&Cli::command(), "");
    }
}
