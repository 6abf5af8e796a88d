//! The `vaultdrill` binary: only the command line; the work is in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
