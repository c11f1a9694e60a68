//! The command line (spec §2): clap types and help texts, written for people
//! who run Open WebUI rather than write code. No I/O here; `app` runs them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::source::SourceSpec;

#[derive(Debug, Parser)]
#[command(
    name = "owui-bridge",
    version,
    about = "Tells you what happens in Open WebUI — sign-ups, uploads, chats, errors — by reading its logs and sending signed webhooks.",
    long_about = "owui-bridge reads Open WebUI's log output, recognises what happened (a user signed up, a file was uploaded, an error occurred…) with regex rules, and delivers each event to your webhook receiver, signed, retried until it arrives, and kept on disk while the receiver is down.\n\nIt is configured with environment variables or a .env file in the working directory (WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_EVENTS, …). Run 'owui-bridge check' to see what it understood.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Running without a command is the same as 'owui-bridge run'.
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bridge: follow the log, turn matching lines into events, deliver them.
    Run(RunArgs),
    /// Check the configuration and rules, print what will be used (secrets hidden), and list every problem with its fix.
    Check(CheckArgs),
    /// Try rules on a log file: print each event they would produce, then a summary per rule.
    #[command(name = "test-rules")]
    TestRules(TestRulesArgs),
    /// Send one 'bridge.test' event to every configured receiver now and say, per receiver, whether it arrived.
    #[command(name = "send-test")]
    SendTest,
    /// A local receiver for trying things out: point WEBHOOK_URL at it, run 'owui-bridge send-test', and see each event with its signatures checked.
    Listen(ListenArgs),
    /// List the events the rules can produce: name, description, which rules produce it, and at which Open WebUI log level it shows.
    Events,
    /// Ask the running bridge whether it is alive (for Docker's HEALTHCHECK); exit 0 when it is.
    Healthcheck,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address and port to listen on: 127.0.0.1:9000, a port alone (9000, on 127.0.0.1), or 0.0.0.0:9000 to be reached from containers and other machines.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000", value_parser = parse_listen_addr)]
    pub addr: ListenAddr,
}

/// Where `listen` listens.
#[derive(Debug, Clone, Copy)]
pub struct ListenAddr(pub std::net::SocketAddr);

fn parse_listen_addr(s: &str) -> Result<ListenAddr, String> {
    let s = s.trim();
    let port_only = s.strip_prefix(':').unwrap_or(s);
    if let Ok(port) = port_only.parse::<u16>() {
        return Ok(ListenAddr(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            port,
        ))));
    }
    s.parse().map(ListenAddr).map_err(|_| {
        format!(
            "'{s}' is not an address:port or a port (e.g. 127.0.0.1:9000, 0.0.0.0:9000, or 9000)"
        )
    })
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Where to read the log: 'docker' (the Open WebUI container; the default), 'file:/path/to/log' (followed like tail -F), or 'stdin'.
    #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
    pub source: Option<SourceSpec>,
    /// Print each event as one JSON line instead of delivering it (nothing is stored or sent).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The source 'run' will use: 'docker' (the default: reach the daemon, find the container), 'file:/path' (the file must be readable) or 'stdin' (nothing to reach).
    #[arg(long, value_name = "SOURCE", value_parser = parse_source)]
    pub source: Option<SourceSpec>,
}

#[derive(Debug, Args)]
pub struct TestRulesArgs {
    /// A rule file or a folder of *.toml rule files; repeat for several. Without it, the rules 'run' would load.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Also print the records no rule matched (on stderr).
    #[arg(long)]
    pub show_missed: bool,
    /// The log to test ('-' or nothing for standard input).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
}

fn parse_source(s: &str) -> Result<SourceSpec, String> {
    s.parse()
}
