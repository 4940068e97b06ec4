use std::process::ExitCode;

fn main() -> ExitCode {
    match crucible::cli::parse().and_then(crucible::cli::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
