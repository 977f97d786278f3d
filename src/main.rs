//! The `websocketchat` binary:
//! - `websocketchat` (or `websocketchat serve`) serves the chat until SIGINT or SIGTERM;
//! - `websocketchat certs` writes a self-signed certificate to `TLS_CERT`/`TLS_KEY` unless
//!   both files exist;
//! - `websocketchat healthcheck` asks the running server's `/healthz`: exit 0 on 200, else 1.

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
        .build();
    // Logs go to standard error. Logging is a convenience: if it cannot start we serve anyway.
    let _ = WriteLogger::init(config.log_level, log_config, std::io::stderr());
    let result = match std::env::args().nth(1).as_deref() {
        None | Some("serve") => websocketchat::run(config),
        Some("certs") if config.tls_cert.exists() && config.tls_key.exists() => {
            println!("keeping {} and {}", config.tls_cert.display(), config.tls_key.display());
            Ok(())
        }
        Some("certs") => websocketchat::tls::create_self_signed(&config.tls_cert, &config.tls_key)
            .map(|()| {
                println!("wrote {} and {}", config.tls_cert.display(), config.tls_key.display())
            }),
        Some("healthcheck") => {
            return match websocketchat::healthcheck::check(&config) {
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

/// The one place that reports a fatal error: exit code 2 (bad configuration or environment).
fn fail(error: &websocketchat::Error) -> ExitCode {
    eprintln!("websocketchat: {error}");
    ExitCode::from(2)
}
