//! The `vaultgate` binary: parse the command line and hand over to [`vaultgate::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    vaultgate::cli::main()
}
