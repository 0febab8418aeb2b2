//! The `claims` authorization request parameter (OIDC Core §5.5): which individual claims the client
//! wants in the ID token and from userinfo. Gatehouse releases claims only within the scopes granted,
//! so the parameter selects among them (and moves them into the ID token); it never widens a grant.
//! Essential claims that cannot be released are not an error (OIDC Core §5.5.1).

use serde_json::Value;

/// The claim names requested for each place.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaimsRequest {
    #[serde(default)]
    pub id_token: Vec<String>,
    #[serde(default)]
    pub userinfo: Vec<String>,
}

impl ClaimsRequest {
    /// Parses the JSON parameter; `Err` is the `invalid_request` description.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let value: Value = serde_json::from_str(raw).map_err(|_| "claims is not valid JSON")?;
        let Value::Object(top) = value else {
            return Err("claims must be a JSON object");
        };
        let mut out = ClaimsRequest::default();
        for (place, members) in top {
            let target = match place.as_str() {
                "id_token" => &mut out.id_token,
                "userinfo" => &mut out.userinfo,
                // §5.5: other members are ignored for forward compatibility.
                _ => continue,
            };
            let Value::Object(members) = members else {
                return Err("claims.id_token and claims.userinfo must be JSON objects");
            };
            for (name, request) in members {
                // Each value is null or an object with `essential`, `value` or `values` (§5.5.1).
                let valid = match &request {
                    Value::Null => true,
                    Value::Object(o) => {
                        o.get("essential").is_none_or(Value::is_boolean)
                            && o.get("values").is_none_or(Value::is_array)
                    }
                    _ => false,
                };
                if !valid || name.is_empty() || name.len() > 128 {
                    return Err("a requested claim must be null or an object (OIDC Core §5.5.1)");
                }
                if !target.contains(&name) {
                    target.push(name);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_parses() {
        let raw = r#"{"userinfo":{"given_name":{"essential":true},"nickname":null,
            "email":{"essential":true},"http://example.info/claims/groups":null},
            "id_token":{"auth_time":{"essential":true},"acr":{"values":["urn:mace:incommon:iap:silver"]}}}"#;
        let mut parsed = ClaimsRequest::parse(raw).unwrap();
        parsed.id_token.sort();
        assert_eq!(parsed.id_token, vec!["acr", "auth_time"]);
        assert_eq!(parsed.userinfo.len(), 4);
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in [
            "not json",
            "[]",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"email":true}}"#,
            r#"{"id_token":{"email":{"essential":"yes"}}}"#,
            r#"{"userinfo":{"email":{"values":"a"}}}"#,
        ] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ClaimsRequest::parse(r#"{"future":{}}"#).unwrap(),
            ClaimsRequest::default()
        );
    }
}
