//! The `websocketchat` binary:
//! - `websocketchat` (or `websocketchat serve`) serves the chat until SIGINT or SIGTERM;
//! - `websocketchat certs` writes a self-signed certificate to `TLS_CERT`/`TLS_KEY` unless
//!   both files exist; with `--install DIR [--owner UID]` it then copies both into `DIR` (key mode
//!   0600), owned by `UID` (compose's `certs` service, for servers that run as their own user);
//! - `websocketchat token` prints a new bearer token for `API_TOKENS` (32 random bytes in
//!   base64url, `chat/bots.rs`);
//! - `websocketchat healthcheck` asks the running server's `/healthz`: exit 0 on 200, else 1;
//! - `websocketchat decode [--client|--server] [--inflate] HEX...` prints every field of the
//!   WebSocket frames written in hex, then the messages they make (`ws::frame`), compressed ones
//!   inflated with `--inflate` (RFC 7692): exit 0, or 1 on a malformed frame.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use simplelog::{ConfigBuilder, ThreadLogMode, WriteLogger};
use websocketchat::Config;
use websocketchat::ws::frame::{self, Extension, Role};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // decode reads nothing but its arguments: no configuration, no .env, no log.
    if args.first().map(String::as_str) == Some("decode") {
        return decode(&args[1..]);
    }
    // token needs no configuration either: a script may run it before there is one.
    if args.first().map(String::as_str) == Some("token") {
        return match websocketchat::chat::bots::new_token() {
            Some(token) => {
                println!("{token}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("websocketchat: the system gave no randomness for a token");
                ExitCode::FAILURE
            }
        };
    }
    if matches!(args.first().map(String::as_str), None | Some("serve")) {
        // Once, before any thread starts: see memory.rs.
        websocketchat::memory::without_thread_caches();
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    let log_config = ConfigBuilder::new()
        .set_thread_level(log::LevelFilter::Error)
        .set_thread_mode(ThreadLogMode::Names)
        .set_target_level(log::LevelFilter::Off)
        // tungstenite traces every frame it touches, payload and all: a private message must
        // never reach a log. Our own trace line gives each message's kind and size.
        .add_filter_ignore_str("tungstenite")
        .build();
    // Logs go to standard error. Logging is a convenience: if it cannot start we serve anyway.
    let _ = WriteLogger::init(config.log_level, log_config, std::io::stderr());
    let result = match args.first().map(String::as_str) {
        None | Some("serve") => websocketchat::run(config),
        Some("certs") => match CertsArgs::parse(&args[1..]) {
            Some(certs) => certs.run(&config),
            None => {
                eprintln!(
                    "websocketchat: usage: websocketchat certs [--install DIR [--owner UID]]"
                );
                return ExitCode::from(2);
            }
        },
        Some("healthcheck") => {
            return match websocketchat::http::healthcheck::check(&config) {
                Ok(body) => {
                    println!("{body}");
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("unhealthy: {why}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(other) => {
            eprintln!(
                "websocketchat: unknown command {other:?}; usage: websocketchat [serve|certs|healthcheck|token|decode]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// `websocketchat certs [--install DIR [--owner UID]]`.
struct CertsArgs {
    install: Option<PathBuf>,
    owner: Option<u32>,
}

impl CertsArgs {
    fn parse(args: &[String]) -> Option<CertsArgs> {
        let mut certs = CertsArgs { install: None, owner: None };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--install" => certs.install = Some(PathBuf::from(args.next()?)),
                "--owner" => certs.owner = Some(args.next()?.parse().ok()?),
                _ => return None,
            }
        }
        (certs.owner.is_none() || certs.install.is_some()).then_some(certs)
    }

    /// Makes the certificate unless both files exist, then installs it where asked.
    fn run(&self, config: &Config) -> Result<(), websocketchat::Error> {
        let (cert, key) = (&config.tls_cert, &config.tls_key);
        if cert.exists() && key.exists() {
            println!("keeping {} and {}", cert.display(), key.display());
        } else {
            websocketchat::net::tls::create_self_signed(cert, key)?;
            println!("wrote {} and {}", cert.display(), key.display());
        }
        if let Some(dir) = &self.install {
            let (cert, key) = websocketchat::net::tls::install(cert, key, dir, self.owner)?;
            let owner = self.owner.map_or_else(String::new, |uid| format!(", owned by uid {uid}"));
            println!("installed {} and {}{owner}", cert.display(), key.display());
        }
        Ok(())
    }
}

/// `websocketchat decode [--client|--server] [--inflate] HEX...` (`-`: the hex from standard
/// input, for frames too long for a command line; `--inflate`: read as if permessage-deflate was
/// negotiated, RFC 7692): exit 0, 1 for bytes that are not valid frames, 2 for a usage error.
fn decode(args: &[String]) -> ExitCode {
    let mut side = Role::Either;
    let mut extension = Extension::None;
    let mut hex = Vec::new();
    let mut stdin = String::new();
    for arg in args {
        match (arg.as_str(), side) {
            ("--client", Role::Either | Role::Client) => side = Role::Client,
            ("--server", Role::Either | Role::Server) => side = Role::Server,
            ("--inflate", _) => extension = Extension::PermessageDeflate,
            ("-", _) if stdin.is_empty() => {
                if std::io::Read::read_to_string(&mut std::io::stdin(), &mut stdin).is_err() {
                    return decode_usage();
                }
            }
            (flag, _) if flag.starts_with('-') => return decode_usage(),
            (text, _) => hex.push(text),
        }
    }
    hex.push(&stdin);
    if hex.iter().all(|h| h.trim().is_empty()) {
        return decode_usage();
    }
    let mut out = String::new();
    let result = frame::parse_hex(&hex.join(" "))
        .and_then(|bytes| frame::describe(&bytes, side, extension, &mut out));
    // The frames read before an error are printed too. A closed pipe (`| head`) is no error.
    let _ = std::io::stdout().write_all(out.as_bytes());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("websocketchat decode: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Exit code 2, as for the other commands' usage errors.
fn decode_usage() -> ExitCode {
    eprintln!(
        "websocketchat: usage: websocketchat decode [--client|--server] [--inflate] HEX... (or - to read stdin)"
    );
    ExitCode::from(2)
}

/// The one place that reports a fatal error: exit code 2 (bad configuration or environment).
fn fail(error: &websocketchat::Error) -> ExitCode {
    eprintln!("websocketchat: {error}");
    ExitCode::from(2)
}
