//! TAXII's status resource (TAXII 2.1 §4.3): what became of each object of one `POST .../objects/`, as the node
//! reports it, and the checks on the request that come before the node sees it (media type, size, envelope shape).

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::errors::{TAXII_MEDIA_TYPE, TaxiiError};
use super::{MAX_CONTENT_LENGTH, time};

/// The most objects one envelope may carry; more is refused before anything is imported.
pub const MAX_POSTED_OBJECTS: usize = 10_000;

/// What became of one posted object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The object's id as posted (or its place, `objects[3]`, when it has none).
    pub id: String,
    /// Its version as posted (`modified`, else `created`), when it has one.
    pub version: Option<String>,
    /// Why it failed, or a caveat with which it succeeded.
    pub message: Option<String>,
}

/// The status of one request that added objects. The node processes a request completely before it answers, so a
/// status it gives out is always complete; `pendings` exists for the resource's shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Its id (a UUID).
    pub id: String,
    /// When the request was received, in µs since the epoch.
    pub request_timestamp_us: u64,
    /// Objects added (published in a signed bundle, or read to resolve one: identities, relationships, markings).
    pub successes: Vec<Outcome>,
    /// Objects not added, each with the reason.
    pub failures: Vec<Outcome>,
    /// Objects not yet processed.
    pub pendings: Vec<Outcome>,
}

impl Status {
    /// The resource as TAXII writes it.
    pub fn resource(&self) -> Value {
        let details = |outcomes: &[Outcome]| -> Vec<Value> {
            outcomes
                .iter()
                .map(|outcome| {
                    let mut detail = serde_json::Map::new();
                    detail.insert("id".into(), outcome.id.clone().into());
                    if let Some(version) = &outcome.version {
                        detail.insert("version".into(), version.clone().into());
                    }
                    if let Some(message) = &outcome.message {
                        detail.insert("message".into(), message.clone().into());
                    }
                    Value::Object(detail)
                })
                .collect()
        };
        let total = self.successes.len() + self.failures.len() + self.pendings.len();
        json!({
            "id": self.id,
            "status": if self.pendings.is_empty() { "complete" } else { "pending" },
            "request_timestamp": time::format_us(self.request_timestamp_us),
            "total_count": total,
            "success_count": self.successes.len(),
            "successes": details(&self.successes),
            "failure_count": self.failures.len(),
            "failures": details(&self.failures),
            "pending_count": self.pendings.len(),
            "pendings": details(&self.pendings),
        })
    }
}

/// Checks a POST's `Content-Type`: TAXII's media type (version 2.1 or none stated), else 415.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let refused = || {
        TaxiiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            format!("send the envelope as Content-Type: {TAXII_MEDIA_TYPE}"),
        )
    };
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(refused());
    };
    let text = value.to_str().map_err(|_| refused())?;
    let mut parts = text.split(';').map(str::trim);
    if !parts
        .next()
        .unwrap_or("")
        .eq_ignore_ascii_case("application/taxii+json")
    {
        return Err(refused());
    }
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        if name.trim().eq_ignore_ascii_case("version") && value.trim().trim_matches('"') != "2.1" {
            return Err(refused());
        }
    }
    Ok(())
}

/// The objects of a posted envelope (`{"objects": [...]}`), checked for shape and count; each is handed to the node
/// as posted.
pub fn envelope_objects(body: &[u8]) -> Result<Vec<Value>, TaxiiError> {
    if body.len() > MAX_CONTENT_LENGTH {
        return Err(too_large());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        TaxiiError::bad_request(format!(
            "the body is not JSON ({e}); send a TAXII envelope: {{\"objects\": [STIX objects]}}"
        ))
    })?;
    let Value::Object(mut envelope) = value else {
        return Err(TaxiiError::bad_request(
            "the body is not a TAXII envelope; send {\"objects\": [STIX objects]}",
        ));
    };
    let Some(Value::Array(objects)) = envelope.remove("objects") else {
        return Err(TaxiiError::bad_request(
            "the envelope has no `objects` list; send {\"objects\": [STIX objects]}",
        ));
    };
    if objects.is_empty() {
        return Err(TaxiiError::bad_request("the envelope's `objects` list is empty"));
    }
    if objects.len() > MAX_POSTED_OBJECTS {
        return Err(TaxiiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too many objects",
            format!(
                "the envelope has {} objects; send at most {MAX_POSTED_OBJECTS} per request",
                objects.len()
            ),
        ));
    }
    Ok(objects)
}

/// 413 for a body over [`MAX_CONTENT_LENGTH`].
pub fn too_large() -> TaxiiError {
    TaxiiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request too large",
        format!("send at most {MAX_CONTENT_LENGTH} bytes per request (the API root's max_content_length)"),
    )
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_taxii_envelopes_are_taken() {
        let mut headers = HeaderMap::new();
        assert!(check_content_type(&headers).is_err());
        for (value, ok) in [
            ("application/taxii+json;version=2.1", true),
            ("application/taxii+json", true),
            ("Application/TAXII+json; version=\"2.1\"", true),
            ("application/taxii+json;version=2.0", false),
            ("application/json", false),
            ("application/stix+json;version=2.1", false),
        ] {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).expect("header"));
            assert_eq!(check_content_type(&headers).is_ok(), ok, "{value}");
        }
        assert!(envelope_objects(br#"{"objects":[{"type":"indicator"}]}"#).is_ok());
        for bad in [&b"[]"[..], b"{}", br#"{"objects":[]}"#, br#"{"objects":{}}"#, b"{", b""] {
            assert_eq!(
                envelope_objects(bad).map_err(|e| e.status()),
                Err(StatusCode::BAD_REQUEST),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_status_counts_what_it_lists() {
        let status = Status {
            id: "2d086da7-4bdc-4f91-900e-d77486753710".into(),
            request_timestamp_us: 1_765_152_000_000_000,
            successes: vec![Outcome {
                id: "indicator--1".into(),
                version: Some("2025-12-08T00:00:00.000Z".into()),
                message: None,
            }],
            failures: vec![Outcome {
                id: "malware--2".into(),
                version: None,
                message: Some("unsupported".into()),
            }],
            pendings: Vec::new(),
        };
        let resource = status.resource();
        assert_eq!(resource["status"], "complete");
        assert_eq!(resource["total_count"], 2);
        assert_eq!(resource["success_count"], 1);
        assert_eq!(resource["failures"][0]["message"], "unsupported");
        assert!(resource["successes"][0].get("message").is_none());
    }
}
