//! Mixed scripts: a Latin `alice` with a Cyrillic `а` (U+0430) in it.
//!
//! Unicode TS #39 §5.2 ranks a string by the scripts it mixes. Its letters are *single-script*
//! (digits, punctuation and emoji belong to every script), or *highly restrictive* (Latin with
//! Han, Hiragana, Katakana, Hangul or Bopomofo: how Chinese, Japanese and Korean are written), or
//! *moderately restrictive* (Latin with one other recommended script, except Cyrillic and Greek,
//! whose letters look most like Latin ones). Anything else mixes scripts the way an impersonator
//! does, and a person rarely would.
//!
//! Such a name is given its *one-script form*: each letter from outside the script that is most
//! used in the name and that only looks like a letter of that script (its TS #39 prototype, from
//! confusables.txt, is written in that script) is replaced by that letter. Latin `alice` with a
//! Cyrillic `а` becomes plain `alice`, the name it was made to look like, and the usual rules
//! follow (`alice-2` while it is held). A name that mixes scripts even then (a Cyrillic word next
//! to a Latin one) is kept as it is: [`skeleton`](super::skeleton()) still compares it with every
//! other name by how it looks, so it can pass for nobody.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;
use unicode_script::{Script, ScriptExtension};
use unicode_security::mixed_script::AugmentedScriptSet;

/// `name`, or its one-script form when it mixes scripts beyond TS #39's moderately restrictive
/// level and one exists.
pub fn one_script(name: &str) -> Cow<'_, str> {
    if restrictive(name) {
        return Cow::Borrowed(name);
    }
    for script in by_use(name) {
        let form: String = name.chars().map(|c| in_script(c, script)).collect();
        if restrictive(&form) {
            return Cow::Owned(form);
        }
    }
    Cow::Borrowed(name)
}

/// Whether `name` is at most moderately restrictive (TS #39 §5.2), counting every character,
/// not only those allowed in identifiers: a nickname may hold spaces, punctuation and emoji,
/// which belong to every script.
fn restrictive(name: &str) -> bool {
    let mut all = AugmentedScriptSet::default();
    let mut besides_latin = AugmentedScriptSet::default();
    for c in name.chars() {
        let set = AugmentedScriptSet::for_char(c);
        all.intersect_with(set);
        if !set.base.contains_script(Script::Latin) {
            besides_latin.intersect_with(set);
        }
    }
    if !all.is_empty() || besides_latin.hanb || besides_latin.jpan || besides_latin.kore {
        return true; // single script, or highly restrictive
    }
    let mut others = besides_latin.base.iter();
    match (others.next(), others.next()) {
        (Some(script), None) => {
            script.is_recommended() && script != Script::Cyrillic && script != Script::Greek
        }
        _ => false,
    }
}

/// The scripts of `name`'s letters, the most used first (then the first seen).
fn by_use(name: &str) -> Vec<Script> {
    // (script, uses, first seen at); a name has a handful of scripts at most.
    let mut count: Vec<(Script, usize, usize)> = Vec::new();
    for (at, c) in name.chars().enumerate() {
        let scripts = ScriptExtension::from(c);
        if scripts.is_common() || scripts.is_inherited() {
            continue;
        }
        for script in scripts.iter() {
            match count.iter_mut().find(|(s, ..)| *s == script) {
                Some((_, uses, _)) => *uses += 1,
                None => count.push((script, 1, at)),
            }
        }
    }
    count.sort_by_key(|&(_, uses, first)| (std::cmp::Reverse(uses), first));
    count.into_iter().map(|(script, ..)| script).collect()
}

/// `c`, or the letters of `script` it looks like (its prototype) when it is of another script.
fn in_script(c: char, script: Script) -> String {
    let of = |c: char| {
        let scripts = ScriptExtension::from(c);
        scripts.is_common() || scripts.is_inherited() || scripts.contains_script(script)
    };
    if of(c) {
        return c.to_string();
    }
    let prototype: String = unicode_security::skeleton(c.encode_utf8(&mut [0; 4])).nfc().collect();
    if prototype.chars().all(of) { prototype } else { c.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_letters_of_another_script_are_written_in_the_names_script() {
        assert_eq!(one_script("\u{430}lice"), "alice", "Cyrillic а");
        assert_eq!(one_script("alic\u{435}"), "alice", "Cyrillic е");
        assert_eq!(one_script("\u{410}lice"), "Alice", "Cyrillic А");
        assert_eq!(one_script("b\u{3bf}b"), "bob", "Greek ο");
        assert_eq!(one_script("p\u{430}yp\u{430}l 2"), "paypal 2");
    }

    #[test]
    fn names_of_one_script_or_an_allowed_mix_are_kept() {
        for name in
            ["alice", "Jürgen", "Иван", "Ελένη", "山田 Taro", "たろう Taro", "김 Kim", "Ιωάννης 😀"]
        {
            assert!(matches!(one_script(name), Cow::Borrowed(n) if n == name), "{name}");
        }
        assert!(restrictive("Rāma राम"), "Latin with Devanagari is moderately restrictive");
    }

    #[test]
    fn a_mix_with_no_one_script_form_is_kept() {
        // Д and и look like no Latin letter, and a and b like no Cyrillic one.
        assert_eq!(one_script("Дима ab"), "Дима ab");
        assert!(!restrictive("Дима ab"));
    }
}
