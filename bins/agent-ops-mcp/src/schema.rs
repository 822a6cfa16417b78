//! The JSON Schema subset the tools' input schemas use, and the one validator of arguments
//! against them: so what a tool declares is what it accepts, and every refusal names the field.
//!
//! Keywords: `type` (object, string, integer, number, boolean, array), `properties`,
//! `required`, `additionalProperties: false`, `enum`, `minimum`, `maximum`, `minLength`,
//! `maxLength`, `items`, `minItems`, `maxItems`. A schema using anything else is a bug, caught
//! by a test over every tool.

use serde_json::{Map, Value};

/// The keywords [`validate`] understands (and `description`, `default`, `title`, which it
/// ignores, as JSON Schema does).
#[cfg(test)]
pub const KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "items",
    "minItems",
    "maxItems",
    "description",
    "default",
    "title",
];

/// Checks `value` against `schema`; the first problem, naming the field (`days`,
/// `tags[2]`), as a sentence an agent can act on.
pub fn validate(schema: &Value, value: &Value, field: &str) -> Result<(), String> {
    let at = |what: &str| {
        if field.is_empty() { format!("the arguments {what}") } else { format!("field `{field}` {what}") }
    };
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let fits = match kind {
        "object" => value.is_object(),
        "string" => value.is_string(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        _ => true,
    };
    if !fits {
        return Err(at(&format!("must be {}, got {}", article(kind), describe(value))));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        return Err(at(&format!("must be one of {}, got {}", names.join(", "), describe(value))));
    }
    if let Some(n) = value.as_f64() {
        let (min, max) =
            (schema.get("minimum").and_then(Value::as_f64), schema.get("maximum").and_then(Value::as_f64));
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("from {a} to {b}"),
                (Some(a), None) => format!("at least {a}"),
                (None, Some(b)) => format!("at most {b}"),
                (None, None) => String::new(),
            };
            return Err(at(&format!("must be {range}, got {value}")));
        }
    }
    if let Some(s) = value.as_str() {
        let chars = s.chars().count();
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (chars as u64) < min
        {
            return Err(at(&if min == 1 {
                "must not be empty".into()
            } else {
                format!("must have at least {min} characters")
            }));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars as u64 > max
        {
            return Err(at(&format!("must have at most {max} characters, got {chars}")));
        }
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if schema.get("minItems").and_then(Value::as_u64).is_some_and(|m| n < m) {
            return Err(at("must not be empty"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && n > max
        {
            return Err(at(&format!("must have at most {max} items, got {n}")));
        }
        if let Some(item) = schema.get("items") {
            for (i, v) in items.iter().enumerate() {
                validate(item, v, &format!("{field}[{i}]"))?;
            }
        }
    }
    if let Some(object) = value.as_object() {
        object_fits(schema, object, field)?;
    }
    Ok(())
}

fn object_fits(schema: &Value, object: &Map<String, Value>, field: &str) -> Result<(), String> {
    let empty = Map::new();
    let properties = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let name = |key: &str| if field.is_empty() { key.to_owned() } else { format!("{field}.{key}") };
    for key in
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    {
        if object.get(key).is_none_or(Value::is_null) {
            return Err(format!("field `{}` is required", name(key)));
        }
    }
    for (key, v) in object {
        match properties.get(key) {
            // null is "not given", as the optional fields of services.json.
            Some(_) if v.is_null() => {}
            Some(property) => validate(property, v, &name(key))?,
            None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                let known: Vec<&str> = properties.keys().map(String::as_str).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                return Err(format!(
                    "field `{}` is not an argument of this tool (arguments: {known})",
                    name(key)
                ));
            }
            None => {}
        }
    }
    Ok(())
}

fn article(kind: &str) -> String {
    match kind {
        "object" => "an object".into(),
        "array" => "an array".into(),
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}

/// A value for messages: short ones as JSON, long ones by type (an argument may be huge).
fn describe(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 40 {
        return text;
    }
    match v {
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        _ => "a number".into(),
    }
}

/// Every keyword `schema` uses that [`validate`] does not know, with where (for the test that
/// holds every tool's schemas to the subset).
#[cfg(test)]
pub fn unknown_keywords(schema: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(map) = schema.as_object() else { return vec![format!("{at}: not an object")] };
    for (key, v) in map {
        if !KEYWORDS.contains(&key.as_str()) {
            out.push(format!("{at}: {key}"));
        }
        match key.as_str() {
            "properties" => {
                for (name, p) in v.as_object().into_iter().flatten() {
                    out.extend(unknown_keywords(p, &format!("{at}.{name}")));
                }
            }
            "items" => out.extend(unknown_keywords(v, &format!("{at}[]"))),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 5},
            "days": {"type": "integer", "minimum": 1, "maximum": 30},
            "level": {"type": "string", "enum": ["info", "error"]},
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}},
        }})
    }

    #[test]
    fn every_refusal_names_the_field() {
        let s = schema();
        let check = |v: Value| validate(&s, &v, "");
        assert_eq!(check(json!({"id": "a", "days": 7, "tags": ["x"], "level": null})), Ok(()));
        assert_eq!(check(json!({"id": "a", "days": 7.0})), Ok(()), "7.0 is an integer");
        for (args, says) in [
            (json!([]), "the arguments must be an object, got []"),
            (json!({}), "field `id` is required"),
            (json!({"id": null}), "field `id` is required"),
            (json!({"id": 5}), "field `id` must be a string, got 5"),
            (json!({"id": ""}), "field `id` must not be empty"),
            (json!({"id": "abcdef"}), "field `id` must have at most 5 characters, got 6"),
            (json!({"id": "a", "days": "7"}), "field `days` must be an integer, got \"7\""),
            (json!({"id": "a", "days": 7.5}), "field `days` must be an integer, got 7.5"),
            (json!({"id": "a", "days": 0}), "field `days` must be from 1 to 30, got 0"),
            (json!({"id": "a", "days": 1e300}), "field `days` must be from 1 to 30, got 1e+300"),
            (
                json!({"id": "a", "level": "debug"}),
                "field `level` must be one of \"info\", \"error\", got \"debug\"",
            ),
            (json!({"id": "a", "tags": ["x", "y", "z"]}), "field `tags` must have at most 2 items, got 3"),
            (json!({"id": "a", "tags": ["x", 1]}), "field `tags[1]` must be a string, got 1"),
            (
                json!({"id": "a", "tags": ["x", "long"]}),
                "field `tags[1]` must have at most 3 characters, got 4",
            ),
            (
                json!({"id": "a", "colour": 1}),
                "field `colour` is not an argument of this tool (arguments: days, id, level, tags)",
            ),
        ] {
            assert_eq!(check(args.clone()), Err(says.to_owned()), "{args}");
        }
        let huge = "x".repeat(100_000);
        let err = check(json!({"id": huge})).unwrap_err();
        assert!(err.len() < 100, "{err}");
    }

    #[test]
    fn unknown_keywords_are_found() {
        assert!(unknown_keywords(&schema(), "s").is_empty());
        let bad =
            json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}, "oneOf": []});
        assert_eq!(unknown_keywords(&bad, "s"), ["s: oneOf", "s.a: pattern"]);
    }
}
