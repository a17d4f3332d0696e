//! Parse the command line, set up logging, run the command, map the outcome to an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind as ClapErrorKind;

use praxia_deploy::cli::{Cli, Command};
use praxia_deploy::error::Error;
use praxia_deploy::logging::{self, Verbosity};
use praxia_deploy::output::Printer;
use praxia_deploy::output::{ColorChoice, OutputFormat};

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, &args),
    };
    let global = &cli.global;
    let printer = Printer::new(global.output, global.color, global.no_progress);
    logging::init(Verbosity::from_flags(global.quiet, global.verbose), printer.color);

    // The server spreads requests over the cores; every other command is one
    // sequence of steps, and a single thread starts fastest.
    let runtime = match &cli.command {
        Command::Serve { .. } => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            printer.failure(cli.command.name(), &global.env, &Error::internal(format!("no async runtime: {err}")));
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        praxia_deploy::signals::survive_file_size_limit();
        praxia_deploy::commands::run(&cli, printer).await
    });
    match outcome {
        Ok(report) => {
            printer.success(cli.command.name(), &global.env, &report);
            ExitCode::from(report.exit_code)
        }
        Err(error) => {
            printer.failure(cli.command.name(), &global.env, &error);
            ExitCode::from(error.exit_code())
        }
    }
}

/// Help and version print as usual; a real usage error under `--output json` still
/// prints one JSON document, so CI parsing stdout always gets one.
fn usage_error(err: clap::Error, args: &[OsString]) -> ExitCode {
    let wants_json = args.windows(2).any(|pair| pair[0] == "--output" && pair[1] == "json")
        || args.iter().any(|arg| arg == "--output=json");
    let is_error = !matches!(err.kind(), ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion)
        && !matches!(err.kind(), ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
    if !(wants_json && is_error) {
        err.exit();
    }
    let message = err.render().to_string();
    let first_line = message.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
    let error = Error::usage(first_line.to_owned()).help("run `praxia-deploy --help` for the usage");
    Printer::new(OutputFormat::Json, ColorChoice::Never, true).failure("", "", &error);
    ExitCode::from(error.exit_code())
}
