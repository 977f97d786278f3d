//! wschat-bench: the load generator for WebSocketChat. See `wschat-bench --help` and
//! BENCHMARKS.md.

mod amend;
mod api;
mod args;
mod chat;
mod client;
mod deflate;
mod http;
mod idle;
mod idle_read;
mod outcome;
mod poll;
mod proc;
mod report;
mod source;
mod stats;
#[cfg(test)]
mod testserver;
mod text;

use std::process::ExitCode;

use args::{Args, Mode};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("wschat-bench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    proc::raise_open_files();
    let result = match args.mode {
        Mode::Chat | Mode::Stalled => chat::run(&args),
        Mode::Idle => idle::run(&args),
        Mode::Amend => amend::run(&args),
        Mode::Api => api::run(&args),
    };
    match result {
        Ok(report) if args.json => {
            println!("{}", report.json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            print!("{}", report.human());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wschat-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
