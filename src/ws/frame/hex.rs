//! Bytes in hex, both ways: how the decoder reads the frames a person pastes, and how the
//! decoder and the wire inspector show bytes (`81 85 37 fa`, the way RFC 6455 §5.7 writes its
//! examples, without the `0x`).

use crate::ws::frame::error::DecodeError;

/// Bytes as lowercase hex, a space between them: `81 85 37 fa`.
pub fn hex(bytes: &[u8]) -> String {
    let digits: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    digits.join(" ")
}

/// Reads bytes written in hex the ways people paste them: `81 85 37 fa`, `0x81, 0x85`, `818537fa`.
///
/// Spaces and commas separate groups, a group may start with `0x`, and each group must have an
/// even number of digits: `8 1` is an error rather than a silent 0x81.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, DecodeError> {
    let mut bytes = Vec::new();
    for (position, group) in groups(text) {
        let digits = group.strip_prefix("0x").or_else(|| group.strip_prefix("0X")).unwrap_or(group);
        let prefix = group.len() - digits.len();
        let mut nibbles = Vec::with_capacity(digits.len());
        for (i, c) in digits.chars().enumerate() {
            let Some(nibble) = c.to_digit(16) else {
                return Err(DecodeError::NotHex { position: position + prefix + i, found: c });
            };
            nibbles.push(nibble as u8);
        }
        if nibbles.len() % 2 == 1 {
            return Err(DecodeError::OddHex { position, group: group.to_string() });
        }
        bytes.extend(nibbles.chunks(2).map(|pair| (pair[0] << 4) | pair[1]));
    }
    Ok(bytes)
}

/// The groups of `text` between spaces and commas, each with the position (from 1) of its first
/// character.
fn groups(text: &str) -> Vec<(usize, &str)> {
    let mut groups = Vec::new();
    let mut start = None;
    for (i, (index, c)) in text.char_indices().enumerate() {
        let separator = c.is_whitespace() || c == ',';
        match (separator, start) {
            (false, None) => start = Some((i + 1, index)),
            (true, Some((position, from))) => {
                groups.push((position, &text[from..index]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((position, from)) = start {
        groups.push((position, &text[from..]));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_read_as_people_paste_it() {
        let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(parse_hex("81 05 48 65 6c 6c 6f").unwrap(), hello);
        assert_eq!(parse_hex("0x81, 0x05,0x48\n656C 6c6f").unwrap(), hello);
        assert_eq!(parse_hex("8105 48656c6c6f").unwrap(), hello);
        assert_eq!(parse_hex("  ").unwrap(), Vec::<u8>::new());
        assert_eq!(hex(&hello), "81 05 48 65 6c 6c 6f");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn hex_errors_give_the_character_position() {
        let error = parse_hex("81 5 48").unwrap_err();
        assert_eq!(error, DecodeError::OddHex { position: 4, group: "5".into() });
        assert!(
            error.to_string().starts_with("character 4: \"5\" has an odd number of hex digits")
        );
        let error = parse_hex("81 0x0g").unwrap_err();
        assert_eq!(error, DecodeError::NotHex { position: 7, found: 'g' });
        assert_eq!(error.to_string(), "character 7 is 'g', not a hex digit");
        assert_eq!(parse_hex("é1").unwrap_err(), DecodeError::NotHex { position: 1, found: 'é' });
    }
}
