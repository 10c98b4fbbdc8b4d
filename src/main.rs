//! The `doublezero-bgpstatus` binary: parses the command line and hands over to a subcommand
//! in `cli`; everything else lives in the library.

#![forbid(unsafe_code)]

use doublezero_bgpstatus::cli::{run::Logged, Cli};

fn main() -> std::process::ExitCode {
    match Cli::parse_process_args().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) if err.is::<Logged>() => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
