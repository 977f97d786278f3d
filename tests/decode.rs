//! `websocketchat decode`: the built binary reads frames written in hex, prints them and exits 0,
//! exits 1 with one precise line for a malformed frame, and 2 for a usage error.

use std::process::{Command, Output};

fn decode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_websocketchat"))
        .arg("decode")
        .args(args)
        .output()
        .expect("run the websocketchat binary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_masked_hello_of_section_5_7_decodes_with_exit_code_0() {
    // Several arguments are joined; `0x` and commas are fine.
    let output = decode(&["0x81,", "0x85", "37fa213d", "7f 9f 4d 51 58"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with("frame 1: 11 bytes, from a client (masked)\n"), "{out}");
    assert!(out.contains("\n  payload, wire  7f 9f 4d 51 58\n"), "{out}");
    assert!(out.contains("\nmessage 1: text, 5 bytes, 1 frame: \"Hello\"\n"), "{out}");
}

#[test]
fn a_truncated_header_exits_1_saying_what_is_missing() {
    let output = decode(&["82 7e 01"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "websocketchat decode: byte 0: the frame header needs 4 bytes, there are only 3\n"
    );
}

#[test]
fn an_unmasked_frame_from_a_client_exits_1() {
    let output = decode(&["--client", "81 05 48 65 6c 6c 6f"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("byte 1: an unmasked client frame (MASK 0; §5.1"));
}

#[test]
fn decode_without_hex_is_a_usage_error_with_exit_code_2() {
    for args in [&[][..], &["--client"], &["--client", "--server", "81 00"], &["--raw", "81 00"]] {
        let output = decode(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(stderr(&output).contains("usage: websocketchat decode"), "{args:?}");
    }
}

#[test]
fn a_64_kib_frame_too_long_for_a_command_line_comes_from_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    // RFC 6455 §5.7: "64KiB binary message in a single unmasked frame".
    let mut hex = String::from("82 7f 00 00 00 00 00 01 00 00");
    hex.push_str(&" ab".repeat(65536));
    let mut child = Command::new(env!("CARGO_BIN_EXE_websocketchat"))
        .args(["decode", "--server", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the websocketchat binary");
    child.stdin.take().unwrap().write_all(hex.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("payload length 65536 (64-bit form"), "{out}");
    assert!(out.contains("message 1: binary, 65536 bytes, 1 frame"), "{out}");
}
