//! Field checks of a start request, as pydantic validates the reference's models: each problem is an
//! [`Issue`] at the field's location, and checking goes on so every problem is reported at once.
//! Loose where pydantic is loose (a number in a string, `true` for 1), strict where crucible must be
//! (ids that name files and containers, positive hours).

use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::answers::Issue;
use crate::domain::kinds::Vocabulary;

#[derive(Debug, Default)]
pub struct Check {
    pub issues: Vec<Issue>,
}

fn at(loc: &[Value], name: &str) -> Vec<Value> {
    let mut loc = loc.to_vec();
    loc.push(json!(name));
    loc
}

impl Check {
    fn issue(&mut self, kind: &'static str, loc: Vec<Value>, msg: impl Into<String>, input: Value) {
        self.issues.push(Issue::new(kind, loc, msg, input));
    }

    /// A field that has a value (possibly null), or a `missing` issue.
    fn present<'v>(&mut self, object: &'v Map<String, Value>, loc: &[Value], name: &str) -> Option<&'v Value> {
        let value = object.get(name);
        if value.is_none() {
            self.issues.push(Issue::missing(at(loc, name), Value::Object(object.clone())));
        }
        value
    }

    /// A crucible-specific refusal of a value that has the right type.
    pub fn value_error(&mut self, loc: &[Value], name: &str, why: &str, input: Value) {
        self.issue("value_error", at(loc, name), format!("Value error, {why}"), input);
    }

    /// A required string; `min_one`: at least one character.
    pub fn text(&mut self, object: &Map<String, Value>, loc: &[Value], name: &str, min_one: bool) -> Option<String> {
        match self.present(object, loc, name)? {
            Value::String(text) if min_one && text.is_empty() => {
                self.issue("string_too_short", at(loc, name), "String should have at least 1 character", json!(""));
                None
            }
            Value::String(text) => Some(text.clone()),
            other => {
                self.issue("string_type", at(loc, name), "Input should be a valid string", other.clone());
                None
            }
        }
    }

    /// An optional string: missing and null are `Some(None)`.
    pub fn optional_text(&mut self, object: &Map<String, Value>, loc: &[Value], name: &str) -> Option<Option<String>> {
        match object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(text)) => Some(Some(text.clone())),
            Some(other) => {
                self.issue("string_type", at(loc, name), "Input should be a valid string", other.clone());
                None
            }
        }
    }

    /// `expected_repo_name`, which names a directory of the output path: one plain path segment.
    pub fn repo_name(&mut self, loc: &[Value], name: Option<String>) -> Option<Option<String>> {
        match name {
            Some(text) if !text.is_empty() && !plain_segment(&text) => {
                let why = "must be one path segment of letters, digits, '.', '_' and '-', not starting with '.'";
                self.value_error(loc, "expected_repo_name", why, json!(text));
                None
            }
            other => Some(other),
        }
    }

    /// A string that must parse as `T` (an id), refused with `T`'s reason.
    pub fn parsed<T: FromStr>(&mut self, loc: &[Value], name: &str, text: String) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        match text.parse::<T>() {
            Ok(value) => Some(value),
            Err(e) => {
                self.value_error(loc, name, &e.to_string(), json!(text));
                None
            }
        }
    }

    /// A required JSON object.
    pub fn object(&mut self, object: &Map<String, Value>, loc: &[Value], name: &str) -> Option<Map<String, Value>> {
        match self.present(object, loc, name)? {
            Value::Object(inner) => Some(inner.clone()),
            other => {
                let msg = "Input should be a valid dictionary or object to extract fields from";
                self.issue("model_attributes_type", at(loc, name), msg, other.clone());
                None
            }
        }
    }

    /// One of a closed vocabulary; `default` when missing (an explicit null is refused, as pydantic does).
    pub fn choice<T>(&mut self, object: &Map<String, Value>, loc: &[Value], name: &str, default: Option<T>) -> Option<T>
    where
        T: Vocabulary,
    {
        let value = match (object.get(name), default) {
            (None, Some(default)) => return Some(default),
            _ => self.present(object, loc, name)?,
        };
        match value.as_str().map(str::parse::<T>) {
            Some(Ok(choice)) => Some(choice),
            _ => {
                let names: Vec<String> = T::all().iter().map(|v| format!("'{v}'")).collect();
                let expected = match names.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                };
                self.issue("enum", at(loc, name), format!("Input should be {expected}"), value.clone());
                None
            }
        }
    }

    /// `hours_to_complete`: a number, a numeric string or a boolean, as pydantic reads a float; crucible
    /// also needs it finite, positive and at most [`MAX_HOURS`] (a week: no rule gives more).
    pub fn hours(&mut self, object: &Map<String, Value>, loc: &[Value]) -> Option<f64> {
        let name = "hours_to_complete";
        let value = self.present(object, loc, name)?;
        let hours = match value {
            Value::Number(n) => n.as_f64(),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::String(text) => match text.trim().parse::<f64>() {
                Ok(hours) => Some(hours),
                Err(_) => {
                    let msg = "Input should be a valid number, unable to parse string as a number";
                    self.issue("float_parsing", at(loc, name), msg, value.clone());
                    return None;
                }
            },
            _ => None,
        };
        match hours {
            None => {
                self.issue("float_type", at(loc, name), "Input should be a valid number", value.clone());
                None
            }
            Some(hours) if !(hours.is_finite() && hours > 0.0) => {
                self.value_error(loc, name, "must be a positive number of hours", value.clone());
                None
            }
            Some(hours) if hours > MAX_HOURS => {
                self.value_error(loc, name, &format!("must be at most {MAX_HOURS} hours"), value.clone());
                None
            }
            Some(hours) => Some(hours),
        }
    }

    /// `gpu_ids`: a non-empty list of GPU indices, each an integer, an integral number, a numeric
    /// string or a boolean, as pydantic reads `list[int]`.
    pub fn gpu_ids(&mut self, object: &Map<String, Value>, loc: &[Value]) -> Option<Vec<u32>> {
        let name = "gpu_ids";
        let Value::Array(items) = self.present(object, loc, name)? else {
            let input = object.get(name).cloned().unwrap_or_default();
            self.issue("list_type", at(loc, name), "Input should be a valid list", input);
            return None;
        };
        if items.is_empty() {
            let msg = "List should have at least 1 item after validation, not 0";
            self.issue("too_short", at(loc, name), msg, json!([]));
            return None;
        }
        let before = self.issues.len();
        let mut ids = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let mut item_loc = at(loc, name);
            item_loc.push(json!(index));
            let whole = match item {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::Bool(b) => Some(i64::from(*b)),
                Value::String(text) => text.trim().parse::<i64>().ok(),
                _ => None,
            };
            match whole.map(u32::try_from) {
                Some(Ok(id)) => ids.push(id),
                Some(Err(_)) => {
                    self.issue("value_error", item_loc, "Value error, a GPU id is an index from 0", item.clone())
                }
                None => {
                    let msg = "Input should be a valid integer, unable to parse string as an integer";
                    self.issue("int_parsing", item_loc, msg, item.clone());
                }
            }
        }
        (self.issues.len() == before).then_some(ids)
    }

    /// A field crucible's validator adds (the reference ignores it): missing and null are `Some(None)`.
    pub fn extra<T: DeserializeOwned>(
        &mut self,
        object: &Map<String, Value>,
        loc: &[Value],
        name: &str,
    ) -> Option<Option<T>> {
        match object.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(value) => match T::deserialize(value) {
                Ok(parsed) => Some(Some(parsed)),
                Err(e) => {
                    self.value_error(loc, name, &e.to_string(), value.clone());
                    None
                }
            },
        }
    }
}

/// The longest training a node accepts, in hours.
pub const MAX_HOURS: f64 = 168.0;

/// A file name that cannot climb out of or reach across a directory.
fn plain_segment(text: &str) -> bool {
    text.len() <= 200
        && !text.starts_with('.')
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{FileFormat, ModelType};

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn loose_numbers_read_as_pydantic_reads_them() {
        let mut check = Check::default();
        let loc = [json!("body")];
        for (input, hours) in [(json!("3"), 3.0), (json!(" 3.5 "), 3.5), (json!(true), 1.0), (json!(2), 2.0)] {
            assert_eq!(check.hours(&object(json!({ "hours_to_complete": input })), &loc), Some(hours));
        }
        assert_eq!(check.gpu_ids(&object(json!({ "gpu_ids": ["0", 1.0, true, 3] })), &loc), Some(vec![0, 1, 1, 3]));
        assert!(check.issues.is_empty(), "{:?}", check.issues);
        assert_eq!(check.hours(&object(json!({ "hours_to_complete": "two" })), &loc), None);
        assert_eq!(check.hours(&object(json!({ "hours_to_complete": null })), &loc), None);
        assert_eq!(check.hours(&object(json!({ "hours_to_complete": 0 })), &loc), None);
        assert_eq!(check.hours(&object(json!({ "hours_to_complete": 4294967295u64 })), &loc), None);
        assert_eq!(check.gpu_ids(&object(json!({ "gpu_ids": [1.5] })), &loc), None);
        assert_eq!(check.gpu_ids(&object(json!({ "gpu_ids": "0" })), &loc), None);
        let kinds: Vec<&str> = check.issues.iter().map(|i| i.kind).collect();
        assert_eq!(kinds, ["float_parsing", "float_type", "value_error", "value_error", "int_parsing", "list_type"]);
        assert_eq!(check.issues[3].msg, "Value error, must be at most 168 hours");
    }

    #[test]
    fn a_repo_name_is_one_plain_path_segment() {
        let mut check = Check::default();
        let loc = [json!("body")];
        let ok = "tournament-20261130-abc_1.2";
        assert_eq!(check.repo_name(&loc, Some(ok.into())), Some(Some(ok.into())));
        assert_eq!(check.repo_name(&loc, None), Some(None));
        for bad in ["../../etc", "a/b", "..", ".hidden", "name with space", "x\\y"] {
            assert_eq!(check.repo_name(&loc, Some(bad.into())), None, "{bad}");
        }
        assert_eq!(check.issues.len(), 6);
    }

    #[test]
    fn choices_default_only_when_missing_and_name_every_value() {
        let mut check = Check::default();
        let loc = [json!("body")];
        assert_eq!(check.choice(&object(json!({})), &loc, "model_type", Some(ModelType::Sdxl)), Some(ModelType::Sdxl));
        assert_eq!(
            check.choice::<ModelType>(
                &object(json!({ "model_type": null })),
                &loc,
                "model_type",
                Some(ModelType::Sdxl)
            ),
            None
        );
        assert_eq!(
            check.choice::<FileFormat>(&object(json!({ "file_format": "S3" })), &loc, "file_format", None),
            None
        );
        assert_eq!(check.choice::<FileFormat>(&object(json!({})), &loc, "file_format", None), None);
        assert_eq!(check.issues[1].msg, "Input should be 'csv', 'json', 'hf' or 's3'");
        assert_eq!(check.issues[2].kind, "missing");
    }
}
