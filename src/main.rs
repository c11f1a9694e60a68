use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    owui_bridge::app::main(owui_bridge::cli::Cli::parse())
}
