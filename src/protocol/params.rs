//! Strict `application/x-www-form-urlencoded` parsing for protocol requests.
//! RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once", so duplicates
//! are an error; so are invalid UTF-8 and oversized values, rather than being silently repaired.

use std::collections::HashMap;

use percent_encoding::percent_decode;

/// The longest value accepted for any single parameter (a generous bound for `state`, `nonce`, tokens).
pub const MAX_VALUE_LEN: usize = 4096;
/// The most parameters accepted in one request.
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter `{0}` is repeated")]
    Duplicate(String),
    #[error("parameter `{0}` is too long")]
    TooLong(String),
    #[error("too many parameters")]
    TooMany,
    #[error("parameters are not valid UTF-8")]
    InvalidEncoding,
}

/// Parsed parameters. Empty values are treated as absent (RFC 6749 §3.1: "Parameters sent without a
/// value MUST be treated as if they were omitted from the request").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn parse(raw: &[u8]) -> Result<Self, ParamError> {
        let mut map = HashMap::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if map.len() >= MAX_PARAMS {
                return Err(ParamError::TooMany);
            }
            let mut kv = pair.splitn(2, |b| *b == b'=');
            let name = decode(kv.next().unwrap_or_default())?;
            let value = decode(kv.next().unwrap_or_default())?;
            if value.len() > MAX_VALUE_LEN || name.len() > 128 {
                return Err(ParamError::TooLong(truncate(&name)));
            }
            if map.contains_key(&name) {
                return Err(ParamError::Duplicate(truncate(&name)));
            }
            map.insert(name, value);
        }
        map.retain(|_, v| !v.is_empty());
        Ok(Self(map))
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }
}

fn decode(raw: &[u8]) -> Result<String, ParamError> {
    let plus_as_space: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|_| ParamError::InvalidEncoding)
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        let p = Params::parse(b"a=x%20y&b=c+d&empty=").unwrap();
        assert_eq!(p.get("a"), Some("x y"));
        assert_eq!(p.get("b"), Some("c d"));
        assert_eq!(p.get("empty"), None);
    }

    #[test]
    fn rejects_duplicates_invalid_utf8_and_oversized_values() {
        assert_eq!(Params::parse(b"a=1&a=2"), Err(ParamError::Duplicate("a".into())));
        assert_eq!(Params::parse(b"a=%ff%fe"), Err(ParamError::InvalidEncoding));
        let long = format!("state={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(
            Params::parse(long.as_bytes()),
            Err(ParamError::TooLong("state".into()))
        );
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(Params::parse(many.join("&").as_bytes()), Err(ParamError::TooMany));
    }
}
