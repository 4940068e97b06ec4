//! The images a dockerfile reads: every `FROM` and `COPY --from`, with `ARG` defaults substituted as
//! the engine would (crucible passes no build arguments), stage names and indices set aside. The
//! validator checks each against its own images before it builds, since any build can read any local
//! image (docs/security.md).

/// A dockerfile's external image references, in order, or why they cannot be known.
pub fn image_references(text: &str) -> Result<Vec<String>, String> {
    let mut args: Vec<(String, String)> = Vec::new();
    let mut stages: Vec<String> = Vec::new();
    let mut references = Vec::new();
    for (number, line) in logical_lines(text) {
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next().map(str::to_ascii_uppercase) else { continue };
        let rest: Vec<&str> = words.collect();
        match instruction.as_str() {
            "ARG" => {
                for arg in &rest {
                    let (name, value) = arg.split_once('=').unwrap_or((arg, ""));
                    args.push((name.to_owned(), unquote(value).to_owned()));
                }
            }
            "FROM" => {
                let operands: Vec<&str> = rest.iter().copied().filter(|w| !w.starts_with("--")).collect();
                let image = operands.first().ok_or(format!("line {number}: FROM without an image"))?;
                let image = substitute(image, &args).map_err(|e| format!("line {number}: {e}"))?;
                if !stages.iter().any(|s| s.eq_ignore_ascii_case(&image)) && !image.eq_ignore_ascii_case("scratch") {
                    references.push(image);
                }
                if let [_, alias, name, ..] = operands.as_slice()
                    && alias.eq_ignore_ascii_case("as")
                {
                    stages.push((*name).to_owned());
                }
            }
            "COPY" | "ADD" => {
                for option in rest.iter().take_while(|w| w.starts_with("--")) {
                    let Some(from) = option.strip_prefix("--from=") else { continue };
                    let from = substitute(from, &args).map_err(|e| format!("line {number}: {e}"))?;
                    let stage = from.parse::<usize>().is_ok() || stages.iter().any(|s| s.eq_ignore_ascii_case(&from));
                    if !stage {
                        references.push(from);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(references)
}

/// The instructions of a dockerfile with their first line number: comments dropped, `\` continuations
/// joined.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let (mut lines, mut current, mut start) = (Vec::new(), String::new(), 0);
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if current.is_empty() {
            start = index + 1;
        }
        match trimmed.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push((start, std::mem::take(&mut current)));
            }
        }
    }
    if !current.is_empty() {
        lines.push((start, current));
    }
    lines
}

fn unquote(value: &str) -> &str {
    value.trim_matches(|c| c == '"' || c == '\'')
}

/// `$NAME` and `${NAME}` replaced by the latest `ARG` default; a variable without one cannot be known.
fn substitute(word: &str, args: &[(String, String)]) -> Result<String, String> {
    let word = unquote(word);
    let (mut out, mut rest) = (String::new(), word);
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, next) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').ok_or(format!("{word:?}: an unclosed ${{"))?;
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let value = args.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default();
        if value.is_empty() || name.contains([':', '-', '+']) {
            return Err(format!("{word:?} names an image through ${name}, which has no default"));
        }
        out.push_str(value);
        rest = next;
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn froms_and_copies_from_images_are_listed_stages_are_not() {
        let text = "# a comment\nARG BASE=crucible-ml-base:latest\nFROM ${BASE} AS build\nRUN make \\\n  all\n\
                    FROM --platform=linux/amd64 debian:12\nCOPY --from=build /out /out\nCOPY --from=0 /a /a\n\
                    COPY --chown=1:1 --from=crucible-evaluator:abc /opt /opt\nFROM scratch\n";
        let references = image_references(text).unwrap();
        assert_eq!(references, ["crucible-ml-base:latest", "debian:12", "crucible-evaluator:abc"]);
    }

    #[test]
    fn an_image_behind_a_variable_without_default_is_refused() {
        let err = image_references("ARG SRC\nFROM base\nCOPY --from=$SRC /x /x\n").unwrap_err();
        assert_eq!(err, "line 3: \"$SRC\" names an image through $SRC, which has no default");
        assert!(image_references("FROM ${IMG:-evil}\n").is_err());
    }
}
