//! The decoder's description: every frame field by field, then the messages they make, as
//! `websocketchat decode` prints them (RFC 6455 §5).
//!
//! [`describe`] walks the input frame by frame: [`WireFrame::parse`] finds and checks each one
//! (its header read by `header.rs`, the one parser), [`Role::check`] its MASK bit against the end
//! that sent it (§5.1), and `message.rs` joins the frames into messages (§5.4), checking text as
//! UTF-8 (§8.1) and a close frame's status code (§7.4.1). Each frame is printed in the order of
//! the §5.2 diagram; the first error stops the walk, after the frames before it were printed.
//! Under permessage-deflate (`--inflate`, [`Extension`]), a first frame says what its RSV1 means,
//! and a compressed message shows the bytes it was sent as, what they inflate to, and the ratio
//! (RFC 7692 §6, §7.2.2).
//!
//! Glossary: a *frame* is a header and its payload; a *message* is one text or binary frame with
//! FIN 1, or one with FIN 0 followed by continuation frames up to one with FIN 1; a *control
//! frame* (close, ping, pong) stands alone, carries at most 125 bytes, and may come between the
//! fragments of a message (§5.4, §5.5).

use std::fmt::{self, Write as _};

use crate::ws::frame::close_code;
use crate::ws::frame::error::DecodeError;
use crate::ws::frame::extension::Extension;
use crate::ws::frame::hex::hex;
use crate::ws::frame::length::{LEN7, LenForm};
use crate::ws::frame::mask::Role;
use crate::ws::frame::message::{Message, Messages};
use crate::ws::frame::opcode::Opcode;
use crate::ws::frame::wire::WireFrame;

/// Prints every frame in `bytes` field by field, then the messages they make (§5.4), into `out`;
/// `extension` is the one the frames are read under (RFC 7692 §6 for RSV1).
///
/// On an error, `out` holds the frames read before it, so that the reader sees what was right
/// before being told what is wrong.
pub fn describe(
    bytes: &[u8],
    role: Role,
    extension: Extension,
    out: &mut String,
) -> Result<(), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::NoBytes);
    }
    let mut messages = Messages::new(extension);
    let (mut at, mut number) = (0, 0);
    while at < bytes.len() {
        number += 1;
        let frame = WireFrame::parse(&bytes[at..], extension)
            .map_err(|error| leftover(error.offset_by(at), number, bytes.len() - at))?;
        role.check(&frame.header).map_err(|error| error.offset_by(at))?;
        write_frame(out, number, &frame, extension).expect(WRITE_TO_STRING);
        messages.push(&frame, at)?;
        at += frame.wire_len();
    }
    for (i, message) in messages.finish().iter().enumerate() {
        write_message(out, i + 1, message).expect(WRITE_TO_STRING);
    }
    Ok(())
}

/// When frame `number` (from 1) is cut short and other frames came before it, the bytes left
/// are what is wrong: most often the frame before them said too small a length.
fn leftover(error: DecodeError, number: usize, count: usize) -> DecodeError {
    match error {
        DecodeError::TruncatedHeader { .. } | DecodeError::TruncatedPayload { .. }
            if number > 1 =>
        {
            DecodeError::Leftover { after: number - 1, count, cause: Box::new(error) }
        }
        error => error,
    }
}

/// One frame, field by field, in the order of the §5.2 diagram.
fn write_frame(
    out: &mut String,
    number: usize,
    frame: &WireFrame,
    extension: Extension,
) -> fmt::Result {
    let WireFrame { header, header_bytes, payload_wire } = frame;
    let from = if header.masked() { "a client (masked)" } else { "a server (unmasked)" };
    writeln!(out, "frame {number}: {} bytes, from {from}", frame.wire_len())?;
    write_hex(out, "header", header_bytes, header_bytes.len())?;
    let [rsv1, rsv2, rsv3] = header.rsv.map(u8::from);
    writeln!(
        out,
        "  FIN {} · RSV1 {rsv1} · RSV2 {rsv2} · RSV3 {rsv3} · opcode 0x{:x} {}{}",
        u8::from(header.fin),
        header.opcode,
        header.opcode.name(),
        fragment_note(frame)
    )?;
    if let Some(meaning) = extension.rsv1_meaning(header.rsv[0], header.opcode) {
        writeln!(out, "  {meaning}")?;
    }
    let form = match header.len_form {
        LenForm::Bits7 => "7-bit form".to_string(),
        long => {
            let extended = &header_bytes[2..2 + long.extended_bytes()];
            let len7 = header_bytes[1] & LEN7;
            format!("{} form: {len7} in byte 1, then {}", long.as_str(), hex(extended))
        }
    };
    writeln!(out, "  MASK {} · payload length {} ({form})", u8::from(header.masked()), header.len)?;
    let total = payload_wire.len();
    if let Some(key) = header.mask {
        write_hex(out, "masking key", &key, key.len())?;
        write_hex(out, "payload, wire", preview(payload_wire), total)?;
    }
    write_hex(out, "payload", &frame.payload(PREVIEW_BYTES), total)
}

/// Where a data frame stands in its message (§5.4), or nothing for a frame that is a message.
fn fragment_note(frame: &WireFrame) -> &'static str {
    match (frame.header.opcode, frame.header.fin) {
        (Opcode::Continuation, false) => " (a middle fragment: more follow, §5.4)",
        (Opcode::Continuation, true) => " (the last fragment, §5.4)",
        (_, false) => " (the first fragment: more follow, §5.4)",
        (_, true) => "",
    }
}

/// One message, its kind and size, then its content.
fn write_message(out: &mut String, number: usize, message: &Message) -> fmt::Result {
    write!(out, "message {number}: ")?;
    match message {
        Message::Text { text, frames, compressed } => {
            writeln!(
                out,
                "text, {}, {}{}: {}",
                plural(text.len(), "byte"),
                plural(*frames, "frame"),
                if compressed.is_some() { ", compressed" } else { "" },
                quoted(text)
            )?;
            write_compressed(out, compressed.as_deref(), text.len())
        }
        Message::Binary { payload, frames, compressed } => {
            writeln!(
                out,
                "binary, {}, {}{}",
                plural(payload.len(), "byte"),
                plural(*frames, "frame"),
                if compressed.is_some() { ", compressed" } else { "" },
            )?;
            write_compressed(out, compressed.as_deref(), payload.len())?;
            write_payload(out, payload)
        }
        Message::Control { opcode, payload } => {
            writeln!(out, "{}, {}", opcode.name(), plural(payload.len(), "byte"))?;
            write_payload(out, payload)
        }
        Message::Close { code: None, .. } => writeln!(
            out,
            "close, 0 bytes: no status code (§7.1.5: the close code is then taken to be 1005)"
        ),
        Message::Close { code: Some(code), reason } => {
            let size = plural(2 + reason.len(), "byte");
            writeln!(out, "close, {size}: code {code}, reason {}", quoted(reason))?;
            // close_message let through only the codes that have a meaning.
            let meaning = close_code::meaning(*code).unwrap_or_default();
            writeln!(out, "  code {code}: {meaning}")
        }
        Message::Unfinished { opcode, len, frames, compressed } => writeln!(
            out,
            "{}, unfinished{}: {} in {} so far, and no frame with FIN 1 (§5.4)",
            opcode.name(),
            if *compressed { ", compressed" } else { "" },
            plural(*len, "byte"),
            plural(*frames, "frame")
        ),
    }
}

/// For a compressed message: the bytes it crossed the wire as (unmasked, its frames joined), and
/// how their size compares with the `inflated` size. Nothing for a message sent as it is.
fn write_compressed(out: &mut String, compressed: Option<&[u8]>, inflated: usize) -> fmt::Result {
    let Some(compressed) = compressed else { return Ok(()) };
    write_hex(out, "compressed", preview(compressed), compressed.len())?;
    let sizes = format!("{} compressed for {inflated} inflated", plural(compressed.len(), "byte"));
    match (compressed.len() * 100 + inflated / 2).checked_div(inflated) {
        Some(percent) => writeln!(out, "  {:<15}{sizes}: {percent} %", "ratio"),
        None => writeln!(out, "  {:<15}{sizes}", "ratio"),
    }
}

/// A message's payload in hex under its first line, if it has one.
fn write_payload(out: &mut String, payload: &[u8]) -> fmt::Result {
    if payload.is_empty() {
        return Ok(());
    }
    write_hex(out, "payload", preview(payload), payload.len())
}

/// A labelled field in hex, [`HEX_ROW`] bytes a row, the labels in a column; `shown` may be the
/// first bytes of `total`.
fn write_hex(out: &mut String, label: &str, shown: &[u8], total: usize) -> fmt::Result {
    if shown.is_empty() {
        return writeln!(out, "  {label:<15}(none)");
    }
    for (i, row) in shown.chunks(HEX_ROW).enumerate() {
        let label = if i == 0 { label } else { "" };
        writeln!(out, "  {label:<15}{}", hex(row))?;
    }
    if total > shown.len() {
        writeln!(out, "  {:<15}… {} more", "", plural(total - shown.len(), "byte"))?;
    }
    Ok(())
}

/// The first [`PREVIEW_BYTES`] of `bytes`.
fn preview(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(PREVIEW_BYTES)]
}

/// Text in quotes, escaped as Rust would, cut after [`TEXT_PREVIEW`] bytes.
fn quoted(text: &str) -> String {
    if text.len() <= TEXT_PREVIEW {
        return format!("{text:?}");
    }
    let mut end = TEXT_PREVIEW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… {} more", &text[..end], plural(text.len() - end, "byte"))
}

/// "1 byte", "5 bytes".
fn plural(n: usize, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

const WRITE_TO_STRING: &str = "writing into a String cannot fail";

/// Bytes in one row of hex.
const HEX_ROW: usize = 16;
/// Bytes of a payload printed in hex at most (4 rows); the rest are counted.
const PREVIEW_BYTES: usize = 64;
/// Bytes of a text message printed at most.
const TEXT_PREVIEW: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::examples::{bytes, client_frame, describe_hex, with_payload};

    #[test]
    fn a_fragmented_unmasked_text_message_as_in_section_5_7() {
        // §5.7: "A fragmented unmasked text message: 0x01 0x03 0x48 0x65 0x6c (contains "Hel")
        // 0x80 0x02 0x6c 0x6f (contains "lo")".
        let input = bytes("01 03 48 65 6c 80 02 6c 6f");
        let first = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(!first.header.fin);
        assert_eq!(
            (first.header.opcode, first.header.opcode.name(), first.header.len),
            (Opcode::Text, "text", 3)
        );
        assert_eq!(first.payload(usize::MAX), b"Hel");
        assert_eq!(first.wire_len(), 5);
        let second = WireFrame::parse(&input[5..], Extension::None).unwrap();
        assert!(second.header.fin);
        assert_eq!(
            (second.header.opcode, second.header.opcode.name(), second.header.len),
            (Opcode::Continuation, "continuation", 2)
        );
        assert_eq!(second.payload(usize::MAX), b"lo");

        let out = describe_hex("01 03 48 65 6c 80 02 6c 6f", Role::Server).unwrap();
        assert!(out.contains("opcode 0x1 text (the first fragment: more follow, §5.4)"), "{out}");
        assert!(out.contains("opcode 0x0 continuation (the last fragment, §5.4)"), "{out}");
        assert!(out.ends_with("message 1: text, 5 bytes, 2 frames: \"Hello\"\n"), "{out}");
    }

    #[test]
    fn a_256_byte_binary_message_uses_the_16_bit_length_as_in_section_5_7() {
        // §5.7: "256 bytes binary message in a single unmasked frame: 0x82 0x7E 0x0100 [256 bytes
        // of binary data]".
        let input = with_payload("82 7e 01 00", 256);
        let frame = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(frame.header.fin);
        assert_eq!(
            (frame.header.opcode, frame.header.opcode.name(), frame.header.mask),
            (Opcode::Binary, "binary", None)
        );
        assert_eq!((frame.header.len, frame.header.len_form.as_str()), (256, "16-bit"));
        assert_eq!(frame.header_bytes, [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(frame.payload_wire, &input[4..]);
        assert_eq!(frame.wire_len(), 260);

        let out = describe_hex(&hex(&input), Role::Either).unwrap();
        assert!(out.contains("payload length 256 (16-bit form: 126 in byte 1, then 01 00)"));
        assert!(out.contains("… 192 bytes more"), "{out}");
        assert!(out.contains("message 1: binary, 256 bytes, 1 frame\n"), "{out}");
    }

    #[test]
    fn the_masked_hello_is_described_field_by_field() {
        let out = describe_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58", Role::Client).unwrap();
        assert_eq!(
            out,
            "frame 1: 11 bytes, from a client (masked)\n\
             \x20 header         81 85 37 fa 21 3d\n\
             \x20 FIN 1 · RSV1 0 · RSV2 0 · RSV3 0 · opcode 0x1 text\n\
             \x20 MASK 1 · payload length 5 (7-bit form)\n\
             \x20 masking key    37 fa 21 3d\n\
             \x20 payload, wire  7f 9f 4d 51 58\n\
             \x20 payload        48 65 6c 6c 6f\n\
             message 1: text, 5 bytes, 1 frame: \"Hello\"\n"
        );
    }

    #[test]
    fn a_close_frame_gives_its_code_its_meaning_and_its_reason() {
        let input = client_frame(0x88, b"\x03\xe8bye");
        let out = describe_hex(&hex(&input), Role::Client).unwrap();
        assert!(out.contains("opcode 0x8 close"), "{out}");
        assert!(out.contains("message 1: close, 5 bytes: code 1000, reason \"bye\"\n"), "{out}");
        assert!(out.contains("  code 1000: normal closure: the purpose for which"), "{out}");

        let empty = describe_hex("88 00", Role::Server).unwrap();
        assert!(empty.contains("message 1: close, 0 bytes: no status code"), "{empty}");
    }

    #[test]
    fn a_message_without_its_last_frame_is_shown_unfinished() {
        let out = describe_hex("01 03 48 65 6c", Role::Server).unwrap();
        assert!(out.contains("message 1: text, unfinished: 3 bytes in 1 frame so far"), "{out}");
    }

    #[test]
    fn the_role_decides_whether_frames_must_be_masked() {
        let unmasked = "81 05 48 65 6c 6c 6f";
        let masked = "81 85 37 fa 21 3d 7f 9f 4d 51 58";
        let error = describe_hex(unmasked, Role::Client).unwrap_err();
        assert_eq!(error, DecodeError::UnmaskedClientFrame { at: 1 });
        assert!(error.to_string().starts_with("byte 1: an unmasked client frame (MASK 0; §5.1"));
        let error = describe_hex(masked, Role::Server).unwrap_err();
        assert!(error.to_string().starts_with("byte 1: a masked server frame (MASK 1; §5.1"));
        // Without a role, each frame says who could have sent it.
        let either = describe_hex(&format!("{unmasked} {masked}"), Role::Either).unwrap();
        assert!(either.contains("frame 1: 7 bytes, from a server (unmasked)"), "{either}");
        assert!(either.contains("frame 2: 11 bytes, from a client (masked)"), "{either}");
        // The error in a later frame counts bytes from the start of the input.
        let error = describe_hex(&format!("{masked} {unmasked}"), Role::Client).unwrap_err();
        assert_eq!(error, DecodeError::UnmaskedClientFrame { at: 12 });
    }

    #[test]
    fn bytes_left_after_a_whole_frame_are_not_a_frame() {
        // Frame 1 says 3 bytes but 5 follow: "lo" is read as the start of a frame.
        let error = describe_hex("81 03 48 65 6c 6c 6f", Role::Either).unwrap_err();
        assert_eq!(
            error.to_string(),
            "byte 5: the 2 bytes after frame 1 are not a whole frame: the payload length is 111 \
             bytes, but none follow the header"
        );
        let error = describe_hex("81 05 48 65 6c 6c 6f 81", Role::Either).unwrap_err();
        assert!(matches!(error, DecodeError::Leftover { after: 1, count: 1, .. }));
        assert_eq!(error.at(), Some(7));
        // Any other error in a later frame is that frame's, at its own byte.
        let error = describe_hex("81 00 83 00", Role::Either).unwrap_err();
        assert_eq!(error, DecodeError::ReservedOpcode { at: 2, opcode: Opcode::ReservedData(3) });
    }

    #[test]
    fn frames_before_an_error_are_still_described() {
        let mut out = String::new();
        let error =
            describe(&bytes("81 00 83 00"), Role::Either, Extension::None, &mut out).unwrap_err();
        assert!(out.starts_with("frame 1: 2 bytes, from a server (unmasked)\n"), "{out}");
        assert!(!out.contains("frame 2"), "{out}");
        assert_eq!(error.at(), Some(2));
    }

    #[test]
    fn no_bytes_is_an_error_of_its_own() {
        let mut out = String::new();
        assert_eq!(
            describe(&[], Role::Either, Extension::None, &mut out).unwrap_err(),
            DecodeError::NoBytes
        );
    }
}
