use std::fs;

use super::*;

/// A repository that passes: the text dockerfile and a training script.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("dockerfiles")).unwrap();
    fs::write(
        dir.path().join("dockerfiles/standalone-text-trainer.dockerfile"),
        "FROM base\nCOPY train.sh /train.sh\n",
    )
    .unwrap();
    fs::write(dir.path().join("train.sh"), "#!/bin/sh\nmkdir -p \"$OUT\" && echo weights > \"$OUT/model\"\n").unwrap();
    fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
    fs::write(dir.path().join(".git/objects/pack.bin"), b"\x7fELF ignored inside .git").unwrap();
    dir
}

fn failure(dir: &tempfile::TempDir) -> String {
    check(dir.path(), TournamentType::Text, &GateRules::default()).unwrap_err().to_string()
}

#[test]
fn a_clean_repository_passes() {
    check(repo().path(), TournamentType::Text, &GateRules::default()).unwrap();
}

#[test]
fn the_dockerfile_of_the_tournament_type_is_required() {
    let err = check(repo().path(), TournamentType::Image, &GateRules::default()).unwrap_err();
    assert_eq!(err.to_string(), "missing dockerfiles/standalone-image-trainer.dockerfile");
}

#[test]
fn compiled_files_are_rejected_by_name() {
    for (name, bytes) in [
        ("lib/fast.so", &b"anything"[..]),
        ("cache/train.cpython-311.pyc", b"\x00\x01"),
        ("tools/helper", b"\x7fELF\x02\x01\x01"),
    ] {
        let dir = repo();
        fs::create_dir_all(dir.path().join(name).parent().unwrap()).unwrap();
        fs::write(dir.path().join(name), bytes).unwrap();
        let err = failure(&dir);
        assert!(err.starts_with(&format!("{name}: compiled")), "{err}");
    }
}

#[test]
fn packed_text_is_rejected_with_the_rule() {
    let dir = repo();
    let blob = base64ish(5000);
    fs::write(dir.path().join("run.py"), format!("import base64\nexec(base64.b64decode('{blob}'))\n")).unwrap();
    let err = failure(&dir);
    assert!(err.starts_with("run.py: looks packed") && err.contains("5000 bytes of base64 or hex"), "{err}");

    let dir = repo();
    fs::write(dir.path().join("main.py"), "from pytransform import pyarmor_runtime\n").unwrap();
    assert!(failure(&dir).contains("packer marker"));
}

/// `n` characters of the base64 alphabet, as an encoded payload looks.
fn base64ish(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state >> 58) as usize] as char
        })
        .collect()
}

/// A payload cut into short lines is the same payload: the share of the file counts, not line length.
#[test]
fn a_payload_wrapped_in_short_lines_is_still_packed() {
    let dir = repo();
    let payload = base64ish(6000);
    let lines: String =
        payload.as_bytes().chunks(60).map(|c| format!("    \"{}\"\n", std::str::from_utf8(c).unwrap())).collect();
    fs::write(dir.path().join("blob.py"), format!("PAYLOAD = (\n{lines})\nexec(decode(PAYLOAD))\n")).unwrap();
    let err = failure(&dir);
    assert_eq!(err, "blob.py: looks packed or obfuscated (6000 bytes of base64 or hex, 96 % of the file)");
}

#[test]
fn archives_and_pickles_are_refused_by_content_outside_the_allowed_paths() {
    let pickle = b"\x80\x04\x95\x10\0\0\0\0\0\0\0}\x94.";
    for (name, bytes, rule) in [
        ("data/readme.txt", &b"PK\x03\x04 a zip under a text name"[..], "zip archive, by its content"),
        ("weights/state", &pickle[..], "pickle data, by its content"),
        ("model.pt", b"anything", "a serialized object (*.pt)"),
    ] {
        let dir = repo();
        fs::create_dir_all(dir.path().join(name).parent().unwrap()).unwrap();
        fs::write(dir.path().join(name), bytes).unwrap();
        assert_eq!(
            failure(&dir),
            format!("{name}: {rule} is not allowed here (gates.allowed_binaries lists where data files may be)")
        );
        let rules = GateRules { allowed_binaries: vec!["**".into()], ..GateRules::default() };
        check(dir.path(), TournamentType::Text, &rules).unwrap();
    }
    // Executables stay refused wherever they are, whatever their name.
    let dir = repo();
    fs::write(dir.path().join("notes.txt"), b"\x7fELF\x02\x01\x01\0").unwrap();
    let rules = GateRules { allowed_binaries: vec!["**".into()], ..GateRules::default() };
    let err = check(dir.path(), TournamentType::Text, &rules).unwrap_err().to_string();
    assert_eq!(err, "notes.txt: compiled or binary code is not allowed (ELF executable, by its content)");
}

#[test]
fn ordinary_long_data_lines_pass() {
    let dir = repo();
    let words = "the quick brown fox jumps over the lazy dog ".repeat(100);
    fs::write(dir.path().join("notes.txt"), words).unwrap();
    check(dir.path(), TournamentType::Text, &GateRules::default()).unwrap();
}

#[test]
fn licence_texts_must_match_line_by_line() {
    let rules = GateRules { license_text: Some("MIT License\n\nCopyright\n".into()), ..GateRules::default() };
    let dir = repo();
    assert_eq!(
        check(dir.path(), TournamentType::Text, &rules).unwrap_err().to_string(),
        "missing LICENSE or LICENSE.md, which must hold the required text"
    );
    fs::write(dir.path().join("LICENSE.md"), "MIT License   \n\nCopyright\n\n").unwrap();
    check(dir.path(), TournamentType::Text, &rules).unwrap();
    fs::write(dir.path().join("LICENSE.md"), "MIT License\n\nCopyleft\n").unwrap();
    assert_eq!(
        check(dir.path(), TournamentType::Text, &rules).unwrap_err().to_string(),
        "LICENSE.md: does not match the required text (line 3)"
    );
}

#[test]
fn size_caps_and_escaping_links_are_enforced() {
    let dir = repo();
    let rules = GateRules { max_files: 2, ..GateRules::default() };
    fs::write(dir.path().join("extra.txt"), "x").unwrap();
    assert!(check(dir.path(), TournamentType::Text, &rules).unwrap_err().to_string().contains("more than 2 files"));
    let rules = GateRules { max_repo_bytes: 10, ..GateRules::default() };
    assert!(check(dir.path(), TournamentType::Text, &rules).unwrap_err().to_string().contains("more than 10 bytes"));

    let dir = repo();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("secrets")).unwrap();
    assert_eq!(failure(&dir), "secrets: symbolic link pointing outside the repository");
}
