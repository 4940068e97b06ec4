//! What a file of a miner repository is, from its bytes rather than its name: executables, archives
//! and pickles by their magic bytes, and how much of a text is an encoded payload (base64 or long
//! hex runs), counted over the whole file so that splitting a payload into short lines changes
//! nothing.

/// A kind of file the gates refuse by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Machine code, never allowed.
    Executable(&'static str),
    /// An archive or a serialized object: allowed only at a path the operator lists.
    Packed(&'static str),
}

/// The executable, archive or pickle `bytes` start like, if any.
pub fn kind(bytes: &[u8]) -> Option<Kind> {
    use Kind::{Executable, Packed};
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x7fELF") {
        return Some(Executable("ELF executable"));
    }
    if starts(b"MZ") && bytes.len() > 64 && pe_header(bytes) {
        return Some(Executable("Windows executable"));
    }
    for magic in [b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"] {
        if starts(magic) {
            return Some(Executable("Mach-O executable"));
        }
    }
    if starts(b"\xca\xfe\xba\xbe") {
        return Some(Executable("Mach-O or Java class"));
    }
    if starts(b"\0asm") {
        return Some(Executable("WebAssembly module"));
    }
    let archives: [(&[u8], &str); 9] = [
        (b"PK\x03\x04", "zip archive"),
        (b"PK\x05\x06", "zip archive"),
        (b"\x1f\x8b", "gzip data"),
        (b"BZh", "bzip2 data"),
        (b"\xfd7zXZ\0", "xz data"),
        (b"7z\xbc\xaf\x27\x1c", "7-zip archive"),
        (b"\x28\xb5\x2f\xfd", "zstd data"),
        (b"Rar!\x1a\x07", "rar archive"),
        (b"\x04\x22\x4d\x18", "lz4 data"),
    ];
    if let Some((_, what)) = archives.iter().find(|(magic, _)| starts(magic)) {
        return Some(Packed(what));
    }
    if bytes.len() > 262 && &bytes[257..262] == b"ustar" {
        return Some(Packed("tar archive"));
    }
    // Pickle protocols 2 to 5 open with PROTO and their number, and end with STOP.
    if bytes.len() > 2 && bytes[0] == 0x80 && (2..=5).contains(&bytes[1]) && bytes.ends_with(b".") {
        return Some(Packed("pickle data"));
    }
    None
}

/// Whether an `MZ` file carries the `PE\0\0` header its offset at 0x3c points to.
fn pe_header(bytes: &[u8]) -> bool {
    let offset = u32::from_le_bytes([bytes[0x3c], bytes[0x3d], bytes[0x3e], bytes[0x3f]]) as usize;
    bytes.get(offset..offset + 4) == Some(b"PE\0\0")
}

/// How much of `text` is encoded payload: the bytes in runs of the base64 alphabet at least
/// `BASE64_RUN` long that mix upper case, lower case and digits (which hex and words do not), and in
/// hex runs longer than any digest (`HEX_RUN`). Returns (payload bytes, non-blank bytes).
pub fn encoded(text: &str) -> (usize, usize) {
    let bytes = text.as_bytes();
    let (mut payload, mut start) = (0, 0);
    let is_base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
    while start < bytes.len() {
        if !is_base64(bytes[start]) {
            start += 1;
            continue;
        }
        let end = bytes[start..].iter().position(|b| !is_base64(*b)).map_or(bytes.len(), |n| start + n);
        payload += payload_in(&bytes[start..end]);
        start = end;
    }
    (payload, bytes.iter().filter(|b| !b.is_ascii_whitespace()).count())
}

const BASE64_RUN: usize = 24;
const HEX_RUN: usize = 129;

fn payload_in(run: &[u8]) -> usize {
    let hex = run.iter().all(u8::is_ascii_hexdigit);
    if hex {
        return if run.len() >= HEX_RUN { run.len() } else { 0 };
    }
    let mixed = run.iter().any(u8::is_ascii_uppercase)
        && run.iter().any(u8::is_ascii_lowercase)
        && run.iter().any(u8::is_ascii_digit);
    if run.len() >= BASE64_RUN && mixed { run.len() } else { 0 }
}

/// Whether `path` (relative, `/`-separated) matches `pattern`: `*` stands for any characters but
/// `/`, `**` for any characters at all, everything else for itself.
pub fn matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            [b'*', rest @ ..] => (0..=s.len()).take_while(|i| *i == 0 || s[i - 1] != b'/').any(|i| go(rest, &s[i..])),
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_name_the_kind() {
        assert_eq!(kind(b"\x7fELF\x02\x01"), Some(Kind::Executable("ELF executable")));
        assert_eq!(kind(b"PK\x03\x04rest"), Some(Kind::Packed("zip archive")));
        assert_eq!(kind(b"\x1f\x8b\x08\0"), Some(Kind::Packed("gzip data")));
        assert_eq!(kind(b"\x80\x04\x95\x10\0\0\0\0\0\0\0}\x94."), Some(Kind::Packed("pickle data")));
        let mut tar = vec![0u8; 600];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(kind(&tar), Some(Kind::Packed("tar archive")));
        let mut pe = vec![0u8; 200];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(kind(&pe), Some(Kind::Executable("Windows executable")));
        assert_eq!(kind(b"MZ is how this note starts, it is text"), None);
        assert_eq!(kind(b"\x89PNG\r\n\x1a\n"), None, "images are data");
        assert_eq!(kind(b"print('hi')\n"), None);
    }

    #[test]
    fn encoded_payload_is_counted_however_it_is_wrapped() {
        let payload: String = (0..4000).map(|i| b"Qk9+zA7r/Xp"[i % 11] as char).collect();
        let one_line = format!("data = '{payload}'\n");
        let wrapped: String =
            payload.as_bytes().chunks(40).map(|c| format!("'{}'\n", std::str::from_utf8(c).unwrap())).collect();
        for text in [one_line, wrapped] {
            let (encoded, total) = encoded(&text);
            assert!(encoded as f64 > 0.9 * total as f64, "{encoded} of {total}");
        }
    }

    #[test]
    fn code_digests_and_lockfiles_are_not_payload() {
        let code =
            "def train(model_name, learning_rate=2e-4):\n    return AutoModelForCausalLM.from_pretrained(model_name)\n";
        assert_eq!(encoded(code).0, 0);
        let lock = "numpy==2.1.0 --hash=sha256:8db2f125746e44dce707dd44d4f4efeea7d7e2b43aace3f8d1f235cfb2733dd5\n\
                    url = \"https://files.pythonhosted.org/packages/54/a4/f8188c4f3e07f7737683588210c073478abcb542048cf4ab6fedad0b458a/numpy.whl\"\n";
        assert_eq!(encoded(lock).0, 0);
    }

    #[test]
    fn patterns_match_paths() {
        assert!(matches("assets/*.zip", "assets/fonts.zip"));
        assert!(!matches("assets/*.zip", "assets/sub/fonts.zip"));
        assert!(matches("assets/**", "assets/sub/fonts.zip"));
        assert!(matches("**/*.pkl", "a/b/c.pkl"));
        assert!(!matches("*.pkl", "a/c.pkl"));
        assert!(matches("data/tokenizer.json", "data/tokenizer.json"));
    }
}
