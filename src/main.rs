//! The `websocketchat` binary:
//! - `websocketchat` (or `websocketchat serve`) serves the chat until SIGINT or SIGTERM;
//! - `websocketchat certs` writes a self-signed certificate to `TLS_CERT`/`TLS_KEY` unless
//!   both files exist; with `--install DIR [--owner UID]` it then copies both into `DIR` (key mode
//!   0600), owned by `UID` (compose's `certs` service, for servers that run as their own user);
//! - `websocketchat healthcheck` asks the running server's `/healthz`: exit 0 on 200, else 1.

use std::path::PathBuf;
use std::process::ExitCode;

use simplelog::{ConfigBuilder, ThreadLogMode, WriteLogger};
use websocketchat::Config;

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    let log_config = ConfigBuilder::new()
        .set_thread_level(log::LevelFilter::Error)
        .set_thread_mode(ThreadLogMode::Names)
        .set_target_level(log::LevelFilter::Off)
        // tungstenite traces every message it reads, payload and all: a private message must
        // never reach a log. Our own trace line gives each message's kind and size.
        .add_filter_ignore_str("tungstenite")
        .build();
    // Logs go to standard error. Logging is a convenience: if it cannot start we serve anyway.
    let _ = WriteLogger::init(config.log_level, log_config, std::io::stderr());
    let args: Vec<String> = std::env::args().skip(1).collect();
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
                "websocketchat: unknown command {other:?}; usage: websocketchat [serve|certs|healthcheck]"
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

/// The one place that reports a fatal error: exit code 2 (bad configuration or environment).
fn fail(error: &websocketchat::Error) -> ExitCode {
    eprintln!("websocketchat: {error}");
    ExitCode::from(2)
}
