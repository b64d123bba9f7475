//! Request bodies: size budget, content type, and strict JSON (duplicate
//! keys noted, at most 127 levels deep) into an object map.
//!
//! warp's own body filters do not fit `docs/api.md` (`content_length_limit`
//! refuses chunked bodies, `body::json` refuses `application/*+json`), so
//! the body is read here from the raw stream with a byte budget.

use super::problem::ApiError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;
use taskcore::ValidationErrors;

/// Largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A body must arrive within this time once the handler starts reading it.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks `Content-Type`: absent, `application/json` or `application/*+json` are JSON.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = content_type else {
        return Ok(());
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`] (whether or
/// not a `Content-Length` announced it) and bodies that arrive too slowly.
pub async fn read<S, B>(content_length: Option<u64>, stream: S) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: Buf,
{
    if content_length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let collect = async {
        let mut stream = std::pin::pin!(stream);
        let mut body = BytesMut::with_capacity(content_length.unwrap_or(0) as usize);
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|_| ApiError::MalformedJson("the body could not be read".into()))?;
            if body.len() + chunk.remaining() > MAX_BODY_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            body.put(chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(BODY_TIMEOUT, collect)
        .await
        .map_err(|_| ApiError::MalformedJson("the body did not arrive in time".into()))?
}

/// A JSON object body, with the keys it repeated set aside.
///
/// A repeated key is a 422, and a 422 answers after a task's 404 and the
/// task limit's 403: so the handler, which checks those, answers it too,
/// through [`Object::fields`], rather than the parser.
#[derive(Debug)]
pub struct Object {
    map: Map<String, Value>,
    duplicates: Vec<String>,
}

impl Object {
    /// The object's fields, unless a key appeared twice in one object:
    /// then errors naming each such key (by its path, `a.b` when nested).
    pub fn fields(&self) -> Result<&Map<String, Value>, ValidationErrors> {
        if self.duplicates.is_empty() {
            return Ok(&self.map);
        }
        let mut errors = ValidationErrors::default();
        for field in &self.duplicates {
            errors.push(field.as_str(), "appears more than once");
        }
        Err(errors)
    }
}

/// Parses a body that must be a JSON object. Syntax errors, lone surrogates,
/// nesting over 127 levels and non-objects are 400; duplicate keys are kept
/// for [`Object::fields`] to refuse.
pub fn parse_object(body: &[u8]) -> Result<Object, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson(
            "the body is empty; send a JSON object".into(),
        ));
    }
    let mut duplicates = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = StrictValue {
        duplicates: &mut duplicates,
        path: String::new(),
    }
    .deserialize(&mut deserializer)
    .and_then(|v| deserializer.end().map(|()| v))
    .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::MalformedJson(
            "the body must be a JSON object".into(),
        ));
    };
    Ok(Object { map, duplicates })
}

/// Builds a `serde_json::Value` like its own `Deserialize`, but records keys
/// that appear twice in one object instead of silently keeping the last.
struct StrictValue<'a> {
    duplicates: &'a mut Vec<String>,
    path: String,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        let mut index = 0usize;
        loop {
            let path = format!("{}[{index}]", self.path);
            match seq.next_element_seed(StrictValue {
                duplicates: &mut *self.duplicates,
                path,
            })? {
                Some(item) => items.push(item),
                None => break,
            }
            index += 1;
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let value = access.next_value_seed(StrictValue {
                duplicates: &mut *self.duplicates,
                path: path.clone(),
            })?;
            if map.insert(key, value).is_some() && !self.duplicates.contains(&path) {
                self.duplicates.push(path);
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Object, ApiError>) -> &'static str {
        match r {
            Ok(object) if object.fields().is_err() => "validation",
            Ok(_) => "ok",
            Err(ApiError::MalformedJson(_)) => "malformed",
            Err(ApiError::Validation(_)) => "validation",
            Err(_) => "other",
        }
    }

    #[test]
    fn strictness() {
        assert_eq!(code(parse_object(br#"{"a": 1}"#)), "ok");
        assert_eq!(code(parse_object(br#"{"a": 1, "a": 2}"#)), "validation");
        assert_eq!(
            code(parse_object(br#"{"a": {"b": 1, "b": 1}}"#)),
            "validation"
        );
        assert_eq!(code(parse_object(br#"[1]"#)), "malformed");
        assert_eq!(code(parse_object(b"")), "malformed");
        assert_eq!(code(parse_object(br#"{"a": "\ud800"}"#)), "malformed");
        assert_eq!(code(parse_object(br#"{"a": 1} x"#)), "malformed");
        let deep = |n: usize| format!("{}{}", "{\"a\":".repeat(n - 1) + "{", "}".repeat(n));
        assert_eq!(code(parse_object(deep(127).as_bytes())), "ok");
        assert_eq!(code(parse_object(deep(128).as_bytes())), "malformed");
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(None).is_ok());
        assert!(check_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert!(check_content_type(Some("application/merge-patch+json")).is_ok());
        assert!(check_content_type(Some("text/plain")).is_err());
    }
}
