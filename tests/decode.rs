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
fn hello_compressed_as_in_rfc_7692_section_7_2_3_1_inflates_with_exit_code_0() {
    let output = decode(&["--server", "--inflate", "c1 07 f2 48 cd c9 c9 07 00"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("\n  RSV1 1: the message is compressed (RFC 7692 §6"), "{out}");
    assert!(
        out.ends_with(
            "message 1: text, 5 bytes, 1 frame, compressed: \"Hello\"\n\
             \x20 compressed     f2 48 cd c9 c9 07 00\n\
             \x20 ratio          7 bytes compressed for 5 inflated: 140 %\n"
        ),
        "{out}"
    );
    // A client's frame is masked; its payload is unmasked, then inflated.
    let masked = decode(&["--client", "--inflate", "c1 87 37 fa 21 3d c5 b2 ec f4 fe fd 21"]);
    assert_eq!(masked.status.code(), Some(0), "{}", stderr(&masked));
    assert!(stdout(&masked).contains("compressed: \"Hello\""), "{}", stdout(&masked));
}

#[test]
fn without_inflate_a_compressed_frame_exits_1_pointing_at_inflate() {
    let output = decode(&["--server", "c1 07 f2 48 cd c9 c9 07 00"]);
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.starts_with("websocketchat decode: byte 0: RSV1 is set, but no extension"));
    assert!(error.ends_with("decode --inflate reads it so\n"), "{error}");
}

#[test]
fn rsv1_on_a_ping_exits_1_even_with_inflate() {
    let output = decode(&["--inflate", "c9 00"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("byte 0: RSV1 is set on a ping frame"), "{}", stderr(&output));
}

#[test]
fn decode_without_hex_is_a_usage_error_with_exit_code_2() {
    let cases = [
        &[][..],
        &["--client"],
        &["--inflate"],
        &["--client", "--server", "81 00"],
        &["--raw", "81 00"],
    ];
    for args in cases {
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
