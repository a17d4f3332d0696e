//! The command line, declared with clap: global flags, commands, their help and examples.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::migration_folder::Layout;
use crate::output::{ColorChoice, OutputFormat};

use crate::config::HumanDuration;
use crate::error::EXIT_CODES_HELP;

const ABOUT: &str = "Deploys the Praxia coaching app's database: drizzle-compatible migrations, the seed policy, \
the first-run admin, Dokku.";

/// Where every command's help lists the flags it shares with the others, after its own options.
const GLOBAL_OPTIONS: &str = "Global options";

/// A parsed command line: the command, and the global flags' values from wherever they were given.
#[derive(Debug)]
pub struct Cli {
    pub global: GlobalArgs,
    pub command: Command,
}

/// The global flags' values. `--env`, `--config-dir` and `--database-url` are
/// accepted only by the commands that use them, after the command or before it
/// (after wins); the others by every command, anywhere.
#[derive(Debug, Clone)]
pub struct GlobalArgs {
    pub env: String,
    pub config_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub output: OutputFormat,
    pub verbose: u8,
    pub quiet: bool,
    pub no_progress: bool,
    pub color: ColorChoice,
}

/// The command line as clap reads it; `Cli` resolves it.
#[derive(Debug, Parser)]
#[command(
    name = "praxia-deploy",
    version,
    about = ABOUT,
    after_help = EXIT_CODES_HELP.replacen("Exit codes:", &heading("Exit codes"), 1),
    max_term_width = 100,
    help_template = help_with_examples(TOP_EXAMPLES)
)]
struct CommandLine {
    /// Before the command, these three are accepted whatever follows; `Cli` refuses
    /// them when the command does not use them.
    #[command(flatten)]
    before: DatabaseArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(subcommand)]
    command: Command,
}

/// How praxia-deploy prints, whatever the command: accepted anywhere on the line.
#[derive(Debug, Clone, Args)]
struct OutputArgs {
    /// `json` prints one JSON document on stdout (logs stay on stderr).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human, value_name = "FORMAT")]
    #[arg(help_heading = GLOBAL_OPTIONS, display_order = 4)]
    output: OutputFormat,

    /// More log detail on stderr (-v, -vv); RUST_LOG overrides it.
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL_OPTIONS, display_order = 5)]
    verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL_OPTIONS, display_order = 6)]
    quiet: bool,

    /// Never draw progress bars (they are only drawn on a terminal anyway).
    #[arg(long, global = true, help_heading = GLOBAL_OPTIONS, display_order = 7)]
    no_progress: bool,

    /// Colour in human output; `auto` colours a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    #[arg(help_heading = GLOBAL_OPTIONS, display_order = 8)]
    color: ColorChoice,
}

/// `--env`, for the commands that load an environment. Each command (and command
/// group) declares its own copy, so that the flag may follow it; the values are
/// read through `Cli::global`.
#[derive(Debug, Clone, Args)]
pub struct EnvArg {
    /// The environment: the name of a file in environments/ (development, test, staging, production, ...).
    #[arg(long, env = "PRAXIA_ENV", default_value = "development", value_name = "NAME")]
    #[arg(help_heading = GLOBAL_OPTIONS, display_order = 1)]
    pub env: String,
}

/// `--config-dir`, for the commands that read the environment files.
#[derive(Debug, Clone, Args)]
pub struct ConfigDirArg {
    /// The folder holding the environment files [default: the nearest environments/ here or above].
    #[arg(long, env = "PRAXIA_CONFIG_DIR", value_name = "DIR", help_heading = GLOBAL_OPTIONS, display_order = 2)]
    pub config_dir: Option<PathBuf>,
}

/// `--database-url`, for the commands that open the environment's database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseUrlArg {
    /// The database URL [default: the variable named by the environment's database.url_env, DATABASE_URL
    /// unless set otherwise; development and test fall back to the embedded database].
    #[arg(long, value_name = "URL", help_heading = GLOBAL_OPTIONS, display_order = 3)]
    pub database_url: Option<String>,
}

/// `--env` and `--config-dir`: a command that loads an environment.
#[derive(Debug, Clone, Args)]
pub struct EnvironmentArgs {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub config_dir: ConfigDirArg,
}

/// `--env`, `--config-dir` and `--database-url`: a command that opens the environment's database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    #[command(flatten)]
    pub environment: EnvironmentArgs,
    #[command(flatten)]
    pub database_url: DatabaseUrlArg,
}

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        CommandLine::command()
    }

    fn command_for_update() -> clap::Command {
        CommandLine::command_for_update()
    }
}

impl Parser for Cli {}

impl FromArgMatches for Cli {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Cli, clap::Error> {
        let CommandLine { before, output, command } = CommandLine::from_arg_matches(matches)?;
        let mut global = GlobalArgs {
            env: before.environment.env.env,
            config_dir: before.environment.config_dir.config_dir,
            database_url: before.database_url.database_url,
            output: output.output,
            verbose: output.verbose,
            quiet: output.quiet,
            no_progress: output.no_progress,
            color: output.color,
        };
        let levels = levels(matches);
        refuse_unused(&levels)?;
        if let Some(env) = given::<String>(&levels, "env") {
            global.env = env;
        }
        if let Some(config_dir) = given::<PathBuf>(&levels, "config_dir") {
            global.config_dir = Some(config_dir);
        }
        if let Some(database_url) = given::<String>(&levels, "database_url") {
            global.database_url = Some(database_url);
        }
        Ok(Cli { global, command })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Cli::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The flags a command accepts only when it uses them.
const ONLY_WHERE_USED: [(&str, &str); 3] =
    [("env", "--env"), ("config_dir", "--config-dir"), ("database_url", "--database-url")];

/// The top level, then each (sub)command the line names, with its name.
fn levels(matches: &ArgMatches) -> Vec<(&str, &ArgMatches)> {
    let mut levels = vec![("", matches)];
    let mut level = matches;
    while let Some((name, below)) = level.subcommand() {
        levels.push((name, below));
        level = below;
    }
    levels
}

/// Whether `id` was typed at this level (not taken from a variable or a default).
fn typed(matches: &ArgMatches, id: &str) -> bool {
    // `try_contains_id` is an error for an id this level does not declare (in debug builds).
    matches.try_contains_id(id).unwrap_or(false) && matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The value typed nearest the end of the line: a subcommand's own copy wins over the
/// top level's. `None` when it was not typed (the top level's variable or default stands).
fn given<T: Clone + Send + Sync + 'static>(levels: &[(&str, &ArgMatches)], id: &str) -> Option<T> {
    levels
        .iter()
        .rev()
        .filter(|(_, matches)| typed(matches, id))
        .find_map(|(_, matches)| matches.get_one::<T>(id).cloned())
}

/// A flag typed before a command (or a command group) that does not use it is a usage error,
/// as it is after the command, where clap refuses it.
fn refuse_unused(levels: &[(&str, &ArgMatches)]) -> Result<(), clap::Error> {
    let mut typed_flags =
        ONLY_WHERE_USED.iter().filter(|(id, _)| levels.iter().any(|(_, matches)| typed(matches, id))).peekable();
    if typed_flags.peek().is_none() {
        return Ok(());
    }
    // Built, so that the error's usage line names the whole command.
    let mut definition = CommandLine::command();
    definition.build();
    let mut runs = &mut definition;
    for (name, _) in &levels[1..] {
        runs = runs.find_subcommand_mut(name).expect("clap matched this subcommand");
    }
    for (id, flag) in typed_flags {
        if !runs.get_arguments().any(|argument| argument.get_id() == id) {
            let path: Vec<&str> = levels[1..].iter().map(|(name, _)| *name).collect();
            let message = format!("unexpected argument '{flag}': `{}` does not use it", path.join(" "));
            return Err(runs.error(clap::error::ErrorKind::UnknownArgument, message));
        }
    }
    Ok(())
}

/// Each example: the command line, and what it does (empty when the line says it all).
type Examples = &'static [(&'static str, &'static str)];

/// A command's help with its examples after the options, each command on a line of
/// its own and never re-wrapped: clap wraps `after_help` at the terminal's width, which
/// would break a command in two. Each explanation goes on its own line, under its command.
fn help_with_examples(examples: Examples) -> String {
    let mut template = format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{{all-args}}\n\n{}",
        heading("Examples")
    );
    for (command, explanation) in examples {
        // The template's `{...}` are clap's placeholders.
        debug_assert!(!command.contains(['{', '}']) && !explanation.contains(['{', '}']), "{command}");
        template.push_str("\n  ");
        template.push_str(command);
        for line in explanation.lines() {
            template.push_str("\n      ");
            template.push_str(line);
        }
    }
    template.push_str("{after-help}");
    template
}

/// A section heading of our own, styled as clap styles its "Options:" (bold and
/// underlined on a terminal, plain elsewhere).
fn heading(name: &str) -> String {
    let style = *clap::builder::Styles::default().get_header();
    format!("{style}{name}:{style:#}")
}

/// The first-day flow, for `praxia-deploy --help`.
const TOP_EXAMPLES: Examples = &[
    (
        "praxia-deploy release --env development",
        "Start the embedded database, apply the migrations, write the fixtures",
    ),
    ("praxia-deploy status", "Applied and pending migrations"),
    ("praxia-deploy studio --open", "Browse the development database in the browser"),
    ("praxia-deploy generate add_coach_notes", "The next migration from the schema, reviewed"),
    ("praxia-deploy migrate --env staging", "Apply them on staging, in a one-off container over SSH"),
    (
        "praxia-deploy bootstrap --env staging --url https://api.praxia.example --email admin@praxia.example --name Admin",
        "Staging's first admin (password from PRAXIA_ADMIN_PASSWORD)",
    ),
];

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The release-phase run: wait for the database, check integrity, apply pending migrations and the seed policy.
    #[command(help_template = help_with_examples(RELEASE_EXAMPLES))]
    Release {
        #[command(flatten)]
        apply: ApplyArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// The post-deploy step: once the previous release has retired, apply the contract parts `release` held back.
    #[command(help_template = help_with_examples(CONTRACT_EXAMPLES))]
    Contract {
        #[command(flatten)]
        apply: ApplyArgs,
        /// Do not wait for the previous release to retire (it has: you checked).
        #[arg(long)]
        no_wait: bool,
        /// Record the expanded migration TAG as applied without running its contract part (which
        /// fails, and whose file must not change); a new migration then does what it should have.
        #[arg(long, value_name = "TAG", conflicts_with = "no_wait")]
        abandon: Option<String>,
        #[command(flatten)]
        remote: RemoteArgs,
        /// Confirm it on a production environment without the prompt.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Apply pending migrations (--dry-run prints the SQL instead).
    #[command(help_template = help_with_examples(MIGRATE_EXAMPLES))]
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
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Applied and pending migrations, and any integrity problem (exit 4).
    #[command(help_template = help_with_examples(STATUS_EXAMPLES))]
    Status {
        #[command(flatten)]
        wait: WaitArgs,
        /// Exit 8 when migrations are pending (for CI gates).
        #[arg(long)]
        exit_code: bool,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Each pending statement, and whether it runs in the transaction or alone.
    #[command(help_template = help_with_examples(PLAN_EXAMPLES))]
    Plan {
        #[command(flatten)]
        wait: WaitArgs,
        /// Plan late-merged migrations too, as `migrate --allow-out-of-order` would run them.
        #[arg(long)]
        allow_out_of_order: bool,
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Write the development fixtures declared in [seed] (development and test databases only).
    #[command(help_template = help_with_examples(SEED_EXAMPLES))]
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
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Check the Dokku side of an environment: SSH, the app, its PRAXIA_ENV and DATABASE_URL, and its image
    /// (praxia-deploy on PATH, the Procfile's release line, the migration folder).
    #[command(help_template = help_with_examples(DOCTOR_EXAMPLES))]
    Doctor {
        #[command(flatten)]
        environment: EnvironmentArgs,
        /// Print what this image holds (the Procfile's release line, the environment's migration folder) as one
        /// JSON document, check nothing, connect to nothing (what the laptop's doctor asks the container for).
        #[arg(long, hide = true)]
        probe: bool,
    },
    /// Record which environment the database belongs to (the first migrate or release does it too).
    #[command(help_template = help_with_examples(STAMP_EXAMPLES))]
    Stamp {
        #[command(flatten)]
        wait: WaitArgs,
        /// Replace another environment's stamp (never turns staging or production into development or test).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Run the setup server: GET /healthz, GET /api/setup/status, POST /api/setup/first-run.
    #[command(help_template = help_with_examples(SERVE_EXAMPLES))]
    Serve {
        /// The address to listen on [default: 0.0.0.0:$PORT, else 0.0.0.0:5000].
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Browse the environment's database, read-only, in a local web page (token in the printed URL).
    #[command(help_template = help_with_examples(STUDIO_EXAMPLES))]
    Studio {
        /// The address to listen on (loopback by default: the page is for this machine).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4993")]
        bind: std::net::SocketAddr,
        /// Open the page in the system's browser.
        #[arg(long)]
        open: bool,
        /// Confirm browsing a staging or production database.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Create the first platform admin through the environment's first-run endpoint.
    #[command(help_template = help_with_examples(BOOTSTRAP_EXAMPLES))]
    Bootstrap {
        /// The app's base URL [default: the environment's setup.url].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// The admin's email.
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// The admin's display name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Read the admin's password from stdin [default: the PRAXIA_ADMIN_PASSWORD variable].
        #[arg(long)]
        password_stdin: bool,
        /// Retry while the app is unreachable, answers 502/503/504, or asks to wait (429 or 503 with Retry-After), up to this long.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
        wait: HumanDuration,
        /// Exit 3 when the platform already has its admin (instead of 0).
        #[arg(long)]
        require_fresh: bool,
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Generate the next migration from the schema with the project's drizzle-kit, then review it; exit 10 on an error-level finding.
    #[command(help_template = help_with_examples(GENERATE_EXAMPLES))]
    Generate {
        /// Lowercase letters, digits and `_`.
        name: String,
        /// An empty migration to write by hand, as `new NAME` makes it.
        #[arg(long)]
        custom: bool,
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Create the next migration as `drizzle-kit generate --custom` does, in the folder's layout.
    #[command(help_template = help_with_examples(NEW_EXAMPLES))]
    New {
        /// Lowercase letters, digits and `_`.
        name: String,
        /// The layout of a new, empty folder (an existing folder keeps its own) [default: journal].
        #[arg(long, value_enum, value_name = "LAYOUT")]
        layout: Option<FolderLayout>,
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// The embedded development PostgreSQL under .praxia/postgres/ (development and test).
    #[command(help_template = help_with_examples(DB_EXAMPLES))]
    Db(DbArgs),
    /// Show the resolved settings of an environment, or check every environment file.
    #[command(help_template = help_with_examples(CONFIG_EXAMPLES))]
    Config(ConfigArgs),
    /// Review migrations offline: Squawk's rules and praxia-deploy's; exit 10 on an error-level finding.
    #[command(help_template = help_with_examples(LINT_EXAMPLES))]
    Lint {
        /// Migrations to review (their tags or folder names); all when none is given.
        #[arg(conflicts_with = "changed", value_name = "TAG")]
        tags: Vec<String>,
        /// Review the migrations the current git branch adds or changes over BASE, committed or not
        /// [default: its upstream, else main, else origin/main].
        #[arg(long, value_name = "BASE", num_args = 0..=1, default_missing_value = "")]
        changed: Option<String>,
        /// Show the lock-safe rewrite of the migrations named (or --changed) as a diff: indexes built
        /// CONCURRENTLY, constraints added NOT VALID and validated apart; at a terminal it asks
        /// whether to write it, elsewhere nothing is written.
        #[arg(long)]
        fix: bool,
        /// With --fix: replay the folder before and after the rewrite in scratch databases of the
        /// embedded cluster and write the rewritten files (all or none) only if both make the same
        /// schema, without asking.
        #[arg(long, requires = "fix")]
        write: bool,
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Take a verified backup of the database (through Dokku's postgres:export, or pg_dump here), or drill a restore.
    #[command(help_template = help_with_examples(BACKUP_EXAMPLES))]
    Backup(BackupArgs),
    /// Apply the pending migrations to a scratch restore of the newest verified backup, timing each statement and its locks;
    /// recorded for [review] lock_budget.
    #[command(help_template = help_with_examples(REHEARSE_EXAMPLES))]
    Rehearse {
        /// The backup to restore [default: the newest verified one of the environment's app in [backup] dir].
        #[arg(long, value_name = "FILE")]
        backup: Option<PathBuf>,
        /// Rehearse a pending migration older than the newest applied one (as `migrate --allow-out-of-order` would apply it).
        #[arg(long)]
        allow_out_of_order: bool,
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Compare the live schema with what its applied migrations make (replayed in a scratch database): exit 11 on a difference.
    #[command(help_template = help_with_examples(DRIFT_EXAMPLES))]
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
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Print a shell completion script (from clap's own generator).
    #[command(help_template = help_with_examples(COMPLETIONS_EXAMPLES))]
    Completions {
        /// The shell to print the script for.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
}

const RELEASE_EXAMPLES: Examples = &[
    ("praxia-deploy release", "What the Procfile's release line runs (DATABASE_URL from Dokku)"),
    ("praxia-deploy release --env development", "The embedded development database: migrations, then fixtures"),
];

const CONTRACT_EXAMPLES: Examples = &[
    ("praxia-deploy contract", "What app.json's scripts.dokku.postdeploy runs"),
    ("praxia-deploy contract --no-wait", "The previous release is gone already: apply now"),
    ("praxia-deploy contract --abandon 0007", "Give up 0007's failing contract part; a new migration does it"),
];

const MIGRATE_EXAMPLES: Examples = &[
    ("praxia-deploy migrate --dry-run", "The SQL that would run"),
    ("praxia-deploy migrate --lock-wait 5min", "Wait longer for another runner"),
    ("praxia-deploy migrate --allow-out-of-order", "Also apply a late-merged migration"),
    ("praxia-deploy migrate --env production", "In a one-off container over SSH, after the confirmation prompt"),
];

const STATUS_EXAMPLES: Examples = &[
    ("praxia-deploy status", ""),
    ("praxia-deploy status --exit-code --output json", "Exit 8 if anything is pending"),
];

const PLAN_EXAMPLES: Examples = &[("praxia-deploy plan --output json", "")];

const SEED_EXAMPLES: Examples = &[
    ("praxia-deploy seed", "The fixtures of environments/development.toml"),
    ("praxia-deploy seed --env test --scale 1000", "Plus 1,000 synthetic organizations (about 10,000 users)"),
];

const DOCTOR_EXAMPLES: Examples = &[("praxia-deploy doctor --env staging", "")];

const STAMP_EXAMPLES: Examples = &[
    ("praxia-deploy stamp --env staging", "Stamp an unstamped database"),
    ("praxia-deploy stamp --env staging-eu --force", "The database moved to another environment"),
];

const SERVE_EXAMPLES: Examples = &[
    ("praxia-deploy serve", "What the Procfile's web line runs (PORT from Dokku)"),
    ("PRAXIA_SETUP_TOKEN=dev-token praxia-deploy serve --bind 127.0.0.1:5000", ""),
];

const STUDIO_EXAMPLES: Examples = &[
    ("praxia-deploy studio", "The development database, on http://127.0.0.1:4993"),
    ("praxia-deploy studio --open --bind 127.0.0.1:5055", ""),
    ("praxia-deploy studio --env staging --yes", "Needs DATABASE_URL (or --database-url)"),
];

const BOOTSTRAP_EXAMPLES: Examples = &[
    (
        "praxia-deploy bootstrap --env staging --url https://api.praxia.example --email admin@praxia.example --name Admin",
        "The password and token from PRAXIA_ADMIN_PASSWORD and PRAXIA_SETUP_TOKEN",
    ),
    (
        "echo \"$ADMIN_PASSWORD\" | praxia-deploy bootstrap --env staging --url https://api.praxia.example --email admin@praxia.example --name Admin --password-stdin --wait 2min",
        "The password from stdin; retry for up to 2 minutes while the app starts",
    ),
    (
        "praxia-deploy bootstrap --url http://127.0.0.1:5000 --email a@praxia.test --name Ada --require-fresh",
        "Against a local `serve`; exit 3 if the platform already has its admin",
    ),
];

const GENERATE_EXAMPLES: Examples = &[
    ("praxia-deploy generate add_coach_notes", "drizzle-kit generate, then its review and plan"),
    ("praxia-deploy generate --custom backfill_roles", "An empty migration to write by hand (as `new`)"),
];

const NEW_EXAMPLES: Examples = &[
    (
        "praxia-deploy new add_coach_notes",
        "migrations/0002_add_coach_notes.sql, its journal entry and its snapshot\n\
         (drizzle 1.0's layout: 20260101093000_add_coach_notes/migration.sql)",
    ),
    ("praxia-deploy new init --layout folders", "The first migration of an empty folder, drizzle 1.0's way"),
];

const DB_EXAMPLES: Examples = &[
    ("praxia-deploy db start", "Create (once) and start it; prints the URL"),
    ("praxia-deploy db url --env test", "The test environment's database in the same cluster"),
    ("praxia-deploy db psql", "A SQL shell on the environment's database"),
    ("praxia-deploy db stop", "Stop it; the data stays for next time"),
];

const CONFIG_EXAMPLES: Examples = &[
    ("praxia-deploy config show --env staging", "Where staging's database URL comes from, its Dokku app..."),
    ("praxia-deploy config check", "Validate every file in environments/ (exit 2 if one is invalid)"),
];

const LINT_EXAMPLES: Examples = &[
    ("praxia-deploy lint", "Every migration after [review] baseline"),
    ("praxia-deploy lint 0002", "Only these (tags, folder names, or the part before `_`)"),
    ("praxia-deploy lint --changed", "What this branch adds over its upstream (else main)"),
    ("praxia-deploy lint --changed origin/main --output github", "Annotations on a pull request"),
    ("praxia-deploy lint --output markdown", "A table for a pull-request comment"),
];

const BACKUP_EXAMPLES: Examples = &[
    ("praxia-deploy backup --env production", "dokku postgres:export into backups/, verified, rotated"),
    ("praxia-deploy backup --env production --verify-restore", "And restore it into a scratch database"),
    ("praxia-deploy backup verify backups/praxia-api-20261201T112505Z-0002_add_x.dump", "The restore drill alone"),
];

const DRIFT_EXAMPLES: Examples = &[
    ("praxia-deploy drift --env staging --local", "Compare, and print the SQL that would bring it back"),
    ("praxia-deploy drift --shadow-url postgres://localhost/scratch", "Replay on that server instead"),
    ("praxia-deploy drift --record --env production", "Record what the folder makes, for the release's check"),
    ("praxia-deploy drift --record --check", "In CI: is the recorded schema the folder's?"),
];

const COMPLETIONS_EXAMPLES: Examples = &[
    ("praxia-deploy completions bash > ~/.local/share/bash-completion/completions/praxia-deploy", ""),
    ("praxia-deploy completions zsh > ~/.zfunc/_praxia-deploy", ""),
    ("praxia-deploy completions fish > ~/.config/fish/completions/praxia-deploy.fish", ""),
];

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
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    /// Restore FILE into a scratch database on the embedded development cluster (never the source), check
    /// that every table came back, count rows, drop it.
    #[command(help_template = help_with_examples(BACKUP_VERIFY_EXAMPLES))]
    Verify {
        /// A dump as `backup` writes it (pg_dump's custom format).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
}

const REHEARSE_EXAMPLES: Examples = &[
    (
        "praxia-deploy rehearse --env production",
        "Today's migrations on the newest verified backup: durations, locks\nThen commit rehearsals/production.json for [review] lock_budget",
    ),
    ("praxia-deploy rehearse --env production --backup backups/praxia-api-20261201T112505Z-0002_add_x.dump", ""),
];

const BACKUP_VERIFY_EXAMPLES: Examples =
    &[("praxia-deploy backup verify backups/praxia-api-20261201T112505Z-0002_add_x.dump", "")];

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
    /// Apply pending migrations in atomic batches of at most N, each committed before the next
    /// (for very long histories; by default the migrations that can share a transaction share one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
}

fn parse_duration(text: &str) -> Result<HumanDuration, String> {
    HumanDuration::parse(text)
}

/// `db`: its own `--env`, `--config-dir` and `--database-url` are those of the `db`
/// command that follows (`db --env test url`), refused where that one does not use them.
#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create the cluster if needed, start it, create the environment's database; print its URL.
    #[command(help_template = help_with_examples(&[("praxia-deploy db start --env test", "")]))]
    Start {
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Stop the server; the data is kept.
    #[command(help_template = help_with_examples(&[("praxia-deploy db stop", "")]))]
    Stop {
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Whether the cluster exists and runs, its port, pid and socket folder.
    #[command(help_template = help_with_examples(&[("praxia-deploy db status --output json", "")]))]
    Status {
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Print the URL of the environment's embedded database (for psql, DATABASE_URL, drizzle-kit).
    #[command(help_template = help_with_examples(&[("export DATABASE_URL=\"$(praxia-deploy db url)\"", "")]))]
    Url {
        #[command(flatten)]
        environment: EnvironmentArgs,
    },
    /// Open psql on the environment's database (the embedded one is started when no URL is
    /// given); arguments after `--` go to psql, and the exit status is psql's own.
    #[command(help_template = help_with_examples(PSQL_EXAMPLES))]
    Psql {
        /// Arguments for psql.
        #[arg(last = true, value_name = "PSQL_ARGS")]
        args: Vec<std::ffi::OsString>,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

const PSQL_EXAMPLES: Examples = &[
    ("praxia-deploy db psql", ""),
    ("praxia-deploy db psql --env test -- -c 'table drizzle.__drizzle_migrations'", ""),
];

/// `config`: as `db`, its own copies of the flags are those of the command that follows.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The environment's main settings (database passwords redacted); `--output json` has every setting, defaults filled in.
    #[command(help_template = help_with_examples(&[("praxia-deploy config show --env production --output json", "")]))]
    Show {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Read every environment file and report each one's errors.
    #[command(help_template = help_with_examples(&[("praxia-deploy config check", "")]))]
    Check {
        #[command(flatten)]
        config_dir: ConfigDirArg,
    },
}

impl Command {
    /// `--local` / `--remote` of the commands that can run over SSH.
    pub fn remote_args(&self) -> Option<&RemoteArgs> {
        match self {
            Command::Migrate { remote, .. }
            | Command::Contract { remote, .. }
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
            Command::Release { .. } => "release",
            Command::Migrate { .. } => "migrate",
            Command::Contract { .. } => "contract",
            Command::Status { .. } => "status",
            Command::Plan { .. } => "plan",
            Command::New { .. } => "new",
            Command::Generate { .. } => "generate",
            Command::Seed { .. } => "seed",
            Command::Doctor { .. } => "doctor",
            Command::Serve { .. } => "serve",
            Command::Bootstrap { .. } => "bootstrap",
            Command::Stamp { .. } => "stamp",
            Command::Db(db) => match db.command {
                DbCommand::Start { .. } => "db start",
                DbCommand::Stop { .. } => "db stop",
                DbCommand::Status { .. } => "db status",
                DbCommand::Url { .. } => "db url",
                DbCommand::Psql { .. } => "db psql",
            },
            Command::Config(config) => match config.command {
                ConfigCommand::Show { .. } => "config show",
                ConfigCommand::Check { .. } => "config check",
            },
            Command::Completions { .. } => "completions",
            Command::Lint { .. } => "lint",
            Command::Drift { .. } => "drift",
            Command::Rehearse { .. } => "rehearse",
            Command::Studio { .. } => "studio",
            Command::Backup(BackupArgs { action: None, .. }) => "backup",
            Command::Backup(BackupArgs { action: Some(BackupAction::Verify { .. }), .. }) => "backup verify",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("praxia-deploy").chain(args.iter().copied()))
    }

    /// Every command, group or not, with its path (`db psql`), as clap built it.
    fn every_command() -> Vec<(String, clap::Command)> {
        fn walk(command: &clap::Command, path: &str, found: &mut Vec<(String, clap::Command)>) {
            for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name()).trim_start().to_owned();
                found.push((path.clone(), sub.clone()));
                walk(sub, &path, found);
            }
        }
        let mut top = Cli::command();
        top.build();
        let mut found = vec![(String::new(), top.clone())];
        walk(&top, "", &mut found);
        found
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_shows_an_example() {
        for (path, mut command) in every_command() {
            let help = command.render_long_help().to_string();
            let examples = help.split_once("\nExamples:\n").map(|(_, examples)| examples).unwrap_or_default();
            // An explanation fits an 80-column terminal (a command line may not).
            for line in examples.lines().filter(|line| line.starts_with("      ")) {
                assert!(line.len() <= 80, "`praxia-deploy {path}`: {line:?} is over 80 columns");
            }
            let first = examples.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("  ") && first.contains("praxia-deploy "),
                "`praxia-deploy {path}` has no example:\n{help}"
            );
        }
    }

    /// Only the commands that open the environment's database take `--database-url`;
    /// `completions` loads no environment, and `config check` reads every one.
    #[test]
    fn each_command_takes_the_environment_flags_it_uses() {
        let takes = |id: &str| -> Vec<String> {
            every_command()
                .into_iter()
                .filter(|(path, command)| {
                    // A group that cannot run alone (`db`, `config`) takes what its commands take.
                    !path.is_empty() && !command.is_subcommand_required_set()
                })
                .filter(|(_, command)| command.get_arguments().any(|argument| argument.get_id() == id))
                .map(|(path, _)| path)
                .collect()
        };
        let opening_a_database = [
            "release",
            "contract",
            "migrate",
            "status",
            "plan",
            "seed",
            "stamp",
            "serve",
            "studio",
            "db psql",
            "config show",
            "backup",
            "drift",
        ];
        assert_eq!(takes("database_url"), opening_a_database);
        let not_loading_one = ["config check", "completions"];
        let all: Vec<String> = every_command()
            .into_iter()
            .filter(|(path, command)| !path.is_empty() && !command.is_subcommand_required_set())
            .map(|(path, _)| path)
            .collect();
        let loading_one: Vec<&String> = all.iter().filter(|path| !not_loading_one.contains(&path.as_str())).collect();
        assert_eq!(takes("env").iter().collect::<Vec<_>>(), loading_one);
        assert_eq!(takes("config_dir").iter().filter(|path| *path != "config check").collect::<Vec<_>>(), loading_one);
    }

    /// The three flags are read after the command, else before it, else from their
    /// variables and defaults; the last one typed wins.
    #[test]
    fn the_environment_flags_are_read_before_or_after_the_command() {
        type Case<'a> = (&'a [&'a str], Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let cases: [Case; 14] = [
            (&["--database-url", "postgres://a", "release"], None, None, Some("postgres://a")),
            (&["release", "--database-url", "postgres://b"], None, None, Some("postgres://b")),
            (
                &["--database-url", "postgres://a", "release", "--database-url", "postgres://b"],
                None,
                None,
                Some("postgres://b"),
            ),
            (&["--env", "staging", "status"], Some("staging"), None, None),
            (&["status", "--env", "staging", "--config-dir", "envs"], Some("staging"), Some("envs"), None),
            (&["--env", "test", "--config-dir", "a", "plan", "--env", "staging"], Some("staging"), Some("a"), None),
            (&["db", "--env", "test", "url"], Some("test"), None, None),
            (&["db", "url", "--env", "test"], Some("test"), None, None),
            (
                &["--database-url", "postgres://a", "db", "psql", "--", "-c", "select 1"],
                None,
                None,
                Some("postgres://a"),
            ),
            (&["db", "--database-url", "postgres://a", "psql"], None, None, Some("postgres://a")),
            (
                &["config", "--env", "staging", "show", "--database-url", "postgres://a"],
                Some("staging"),
                None,
                Some("postgres://a"),
            ),
            (&["--config-dir", "envs", "config", "check"], None, Some("envs"), None),
            (&["backup", "verify", "x.dump", "--env", "test"], Some("test"), None, None),
            (&["--env", "staging", "doctor", "--config-dir", "envs"], Some("staging"), Some("envs"), None),
        ];
        for (args, env, config_dir, database_url) in cases {
            let cli = parse(args).unwrap_or_else(|err| panic!("{args:?}: {err}"));
            if let Some(env) = env {
                assert_eq!(cli.global.env, env, "{args:?}");
            }
            if let Some(config_dir) = config_dir {
                assert_eq!(cli.global.config_dir, Some(PathBuf::from(config_dir)), "{args:?}");
            }
            assert_eq!(cli.global.database_url.as_deref(), database_url, "{args:?}");
        }
    }

    #[test]
    fn a_command_refuses_an_environment_flag_it_does_not_use_wherever_it_is_typed() {
        let refused: [&[&str]; 16] = [
            &["--database-url", "x", "doctor"],
            &["doctor", "--database-url", "x"],
            &["--database-url", "x", "new", "a"],
            &["new", "a", "--database-url", "x"],
            &["--database-url", "x", "completions", "bash"],
            &["completions", "bash", "--database-url", "x"],
            &["--env", "staging", "completions", "bash"],
            &["completions", "bash", "--env", "staging"],
            &["--config-dir", "envs", "completions", "bash"],
            &["--env", "staging", "config", "check"],
            &["config", "--env", "staging", "check"],
            &["--database-url", "x", "lint"],
            &["--database-url", "x", "generate", "a"],
            &["--database-url", "x", "bootstrap", "--email", "a@b.c", "--name", "A"],
            &["db", "--database-url", "x", "start"],
            &["--database-url", "x", "backup", "verify", "x.dump"],
        ];
        for args in refused {
            let err = parse(args).map(|cli| cli.command.name()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnknownArgument, "{args:?}: {err}");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
