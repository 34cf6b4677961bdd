//! Audiences as people and automation write them: `org`, `community`, `federation[:NAME]`, or
//! `recipients:SPEC,SPEC...` where SPEC is `node:ID`, `org:ID/ORG`, `group:ID/GROUP` or `member:ID/UUID`. One syntax
//! for `dims publish --audience` and the REST API's `audience` field, parsed here ([`parse`]) and written back the
//! same way ([`spec`]), and the default a marking gets when none is given ([`default_for`]).
//!
//! Pure, like the rest of intake: `federation` without a name means the node's configured federation, which the
//! caller passes in.

use dims_protocol::audience::{Recipient, canonical_recipients};
use dims_protocol::{Audience, FederationId, FieldError, GroupId, MemberId, NodeId, OrgId, Tlp};

const EXPECTED: &str = "org, community, federation[:NAME] or recipients:SPEC,... where SPEC is node:ID, org:ID/ORG, \
                        group:ID/GROUP or member:ID/UUID";

/// The audience a marking gets when none is given: as narrow as the marking demands (the federation for CLEAR and
/// GREEN when the node has one, else the author's org).
pub fn default_for(tlp: Tlp, federation: Option<&FederationId>) -> Audience {
    match (tlp, federation) {
        (Tlp::Clear | Tlp::Green, Some(federation)) => Audience::Federation(federation.clone()),
        _ => Audience::Org,
    }
}

/// Parses an audience; `federation` alone means `federation` (the node's configured one). Errors name the field
/// `audience`. Whether the audience suits a marking is [`dims_protocol::audience::check_audience`]'s question.
pub fn parse(text: &str, federation: Option<&FederationId>) -> Result<Audience, FieldError> {
    let text = text.trim();
    let invalid = |expected: String| FieldError::new("audience", text, expected);
    Ok(match text.split_once(':') {
        None if text == "org" => Audience::Org,
        None if text == "community" => Audience::Community,
        None if text == "federation" => Audience::Federation(federation.cloned().ok_or_else(|| {
            invalid(
                "federation:NAME: this node's publish.federation is not set, so the federation must be named".into(),
            )
        })?),
        Some(("federation", name)) => Audience::Federation(
            FederationId::new(name).map_err(|e| invalid(format!("federation:NAME with {}", e.expected)))?,
        ),
        Some(("recipients", list)) => {
            let recipients = list.split(',').map(parse_recipient).collect::<Result<Vec<_>, _>>()?;
            Audience::Recipients(canonical_recipients(recipients))
        }
        _ => return Err(invalid(EXPECTED.to_owned())),
    })
}

fn parse_recipient(spec: &str) -> Result<Recipient, FieldError> {
    let spec = spec.trim();
    let bad = |expected: &str| FieldError::new("audience recipient", spec, expected);
    let shape = "node:ID, org:ID/ORG, group:ID/GROUP or member:ID/UUID";
    let (kind, rest) = spec.split_once(':').ok_or_else(|| bad(shape))?;
    let node_of = |text: &str| {
        text.parse::<NodeId>()
            .map_err(|e| bad(&format!("a node id (64 hex digits) before the slash: {}", e.expected)))
    };
    Ok(match kind {
        "node" => Recipient::Node(node_of(rest)?),
        "org" | "group" | "member" => {
            let (node, name) = rest.split_once('/').ok_or_else(|| bad(shape))?;
            let node = node_of(node)?;
            let named = |e: FieldError| bad(&format!("{shape}, with {}", e.expected));
            match kind {
                "org" => Recipient::Org(node, OrgId::new(name).map_err(named)?),
                "group" => Recipient::Group(node, GroupId::new(name).map_err(named)?),
                _ => Recipient::Member(node, name.parse::<MemberId>().map_err(named)?),
            }
        }
        _ => return Err(bad(shape)),
    })
}

/// Writes an audience in the syntax [`parse`] reads (`federation:NAME`, `recipients:node:ID,org:ID/ORG`).
pub fn spec(audience: &Audience) -> String {
    match audience {
        Audience::Org => "org".to_owned(),
        Audience::Community => "community".to_owned(),
        Audience::Federation(federation) => format!("federation:{federation}"),
        Audience::Recipients(list) => {
            let specs: Vec<String> = list.iter().map(ToString::to_string).collect();
            format!("recipients:{}", specs.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_parse_and_write_back_the_same() {
        let federation = FederationId::new("us-sltt").expect("slug");
        let node = dims_protocol::samples::node_key(1).node_id();
        for text in [
            "org".to_owned(),
            "community".to_owned(),
            "federation:us-sltt".to_owned(),
            format!("recipients:node:{node}"),
            format!("recipients:node:{node},org:{node}/soc"),
        ] {
            let audience = parse(&text, None).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(spec(&audience), text);
        }
        assert_eq!(
            parse("federation", Some(&federation)),
            Ok(Audience::Federation(federation))
        );
        for (bad, names) in [
            ("federation", "publish.federation"),
            ("everyone", "org, community"),
            ("recipients:node:zz", "node id"),
            ("recipients:org:abc", "org:ID/ORG"),
            ("federation:Not A Slug", "federation:NAME"),
        ] {
            let error = parse(bad, None).expect_err(bad);
            assert!(error.to_string().contains(names), "{bad}: {error}");
        }
    }
}
