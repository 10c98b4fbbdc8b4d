use doublezero_bgpstatus::cli::Cli;

fn main() -> std::process::ExitCode {
    match Cli::parse_process_args().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
