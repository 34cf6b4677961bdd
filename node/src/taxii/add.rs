//! TAXII's write side: `POST .../objects/` through the STIX import path, and the status resources that report it.
//!
//! * **Where objects go.** A collection that is an audience takes objects for that audience: a federation's for
//!   `federation:F`, the community's for `community`, the org's for `org`, a trust group's for recipients naming the
//!   group. The import makes the drafts (DESIGN §4.2: the marking is the strictest of the objects' own, unmarked
//!   objects are AMBER, and the audience is the collection's or as narrow as the marking demands, so an AMBER+STRICT
//!   indicator posted to `community` is published to the poster's org only). `all` is a view of several audiences
//!   and takes nothing. A collection is writable when the token's scopes allow publishing to its audience at all;
//!   each draft is then checked against the scopes with its own marking before it is signed, as the REST API does.
//! * **Signed and stored before the answer.** Every draft is signed by this node for the token's org and owner and
//!   committed before the node answers, so the status is always `complete`: objects a consumer sees as successes are
//!   durable. Each posted object is reported once: a failure with the reason (the import could not read it, its
//!   draft was refused by the token's scopes or by the store), or a success (with the caveat when only part of it was
//!   imported). Objects that only resolve others (identities, relationships, marking definitions) succeed when
//!   they resolve something, and fail with the import's reason when nothing refers to them.
//! * **Status resources** are kept in memory, at most [`MAX_STATUSES`], the oldest dropped first, and only for the
//!   token that made the request: another token's status id answers like a missing one. A restart forgets them; the
//!   bundles they report are in the store and its audit log.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use dims_identity::token::TokenId;
use dims_protocol::stix::{ImportContext, ImportOutcome};
use dims_protocol::{Audience, Author, NodeId, OrgId, Recipient, Tlp};
use dims_web::taxii::{Outcome, Status};
use serde_json::Value;

use super::View;
use crate::grant::TokenGrant;
use crate::service::Draft;

/// The most status resources kept; older ones are forgotten first.
pub const MAX_STATUSES: usize = 4_096;

/// The audience a collection's view stands for, when it stands for one.
pub(super) fn audience_of(view: &View, here: NodeId) -> Option<Audience> {
    match view {
        View::All => None,
        View::Federation(federation) => Some(Audience::Federation(federation.clone())),
        View::Community => Some(Audience::Community),
        View::Org => Some(Audience::Org),
        View::Group(group) => Some(Audience::Recipients(vec![Recipient::Group(here, group.clone())])),
    }
}

/// Whether `grant` may add objects to the collection of `view`: its scopes allow publishing to that audience at all
/// (the lowest marking; each draft is checked again with its own).
pub(super) fn writable(grant: &TokenGrant, view: &View, here: NodeId) -> bool {
    audience_of(view, here).is_some_and(|audience| grant.check_publish(Tlp::Clear, &audience).is_ok())
}

/// The import context for objects `grant` posts to a collection of `audience` at `now_ms`.
pub(super) fn context(grant: &TokenGrant, here: NodeId, audience: Audience, now_ms: u64) -> ImportContext {
    let author = Author {
        org: grant.org.clone(),
        member: grant.person(),
    };
    let mut ctx = ImportContext::new(here, author, now_ms);
    ctx.default_audience = audience;
    ctx
}

/// A draft of the import as the service signs it.
pub(super) fn service_draft(draft: dims_protocol::stix::Draft) -> Draft {
    Draft {
        tlp: draft.body.tlp,
        audience: draft.body.audience,
        content: draft.body.content,
        supersedes: draft.body.supersedes,
        expires: draft.body.expires,
    }
}

/// What became of each posted object: `objects` as posted, what the import made of them, and, by the ids of the
/// objects they came from, the reason each draft that was not stored failed (`refused`) and the bundle each draft
/// posted before already is (`already`).
pub(super) fn outcomes(
    objects: &[Value],
    import: &ImportOutcome,
    published: &[Vec<String>],
    refused: &HashMap<String, String>,
    already: &HashMap<String, String>,
) -> (Vec<Outcome>, Vec<Outcome>) {
    let in_published: std::collections::HashSet<&str> = published.iter().flatten().map(String::as_str).collect();
    let mut unsupported: HashMap<&str, String> = HashMap::new();
    for problem in &import.unsupported {
        unsupported
            .entry(problem.object())
            .or_insert_with(|| problem.to_string());
    }
    let revoked: std::collections::HashSet<&str> = import.revoked.iter().map(String::as_str).collect();
    let (mut successes, mut failures) = (Vec::new(), Vec::new());
    for (at, object) in objects.iter().enumerate() {
        let place = format!("objects[{at}]");
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .map_or(place.clone(), str::to_owned);
        let version = ["modified", "created"]
            .iter()
            .find_map(|name| object.get(*name).and_then(Value::as_str))
            .map(str::to_owned);
        let outcome = |message: Option<String>| Outcome {
            id: id.clone(),
            version: version.clone(),
            message,
        };
        let problem = unsupported.get(id.as_str()).or_else(|| unsupported.get(place.as_str()));
        if let Some(reason) = refused.get(&id) {
            failures.push(outcome(Some(reason.clone())));
        } else if let Some(earlier) = already.get(&id) {
            successes.push(outcome(Some(earlier.clone())));
        } else if in_published.contains(id.as_str()) {
            successes.push(outcome(problem.map(|problem| format!("imported in part: {problem}"))));
        } else if let Some(problem) = problem {
            failures.push(outcome(Some(problem.clone())));
        } else if revoked.contains(id.as_str()) {
            failures.push(outcome(Some(
                "the object is revoked: nothing is published for it (to withdraw what dims published, retract \
                 that bundle)"
                    .to_owned(),
            )));
        } else {
            successes.push(outcome(None));
        }
    }
    (successes, failures)
}

/// The key under which `posted_v1` remembers an object version `org` posted: a keyed hash, so the table holds no
/// STIX id or org in the clear.
pub(super) fn posted_key(org: &OrgId, id: &str, version: &str) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key("dims 2026 taxii posted object");
    for part in [org.to_string().as_str(), id, version] {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// Each posted object's version (`modified`, else `created`, else none), by id.
pub(super) fn versions(objects: &[Value]) -> HashMap<String, String> {
    objects
        .iter()
        .filter_map(|object| {
            let id = object.get("id").and_then(Value::as_str)?;
            let version = ["modified", "created"]
                .iter()
                .find_map(|name| object.get(*name).and_then(Value::as_str))
                .unwrap_or("");
            Some((id.to_owned(), version.to_owned()))
        })
        .collect()
}

/// A fresh status id: a random UUID (version 4).
pub(super) fn status_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Without the OS's randomness the id is still unique within this process: time and a counter.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&crate::clock::now_ms().to_be_bytes());
        bytes[8..].copy_from_slice(&count.to_be_bytes());
    }
    super::uuid_v4_text(bytes)
}

/// The status resources of recent requests, each readable by the token that made it.
#[derive(Default)]
pub(super) struct StatusBook {
    kept: Mutex<VecDeque<(TokenId, Status)>>,
}

impl StatusBook {
    /// Keeps `status` for `token`, forgetting the oldest beyond [`MAX_STATUSES`].
    pub(super) fn keep(&self, token: TokenId, status: Status) {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= MAX_STATUSES {
            kept.pop_front();
        }
        kept.push_back((token, status));
    }

    /// The status `id`, if `token` made it and it is still kept.
    pub(super) fn get(&self, token: TokenId, id: &str) -> Option<Status> {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.iter()
            .rev()
            .find(|(owner, status)| *owner == token && status.id == id)
            .map(|(_, status)| status.clone())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn statuses_are_bounded_and_their_owners_alone_read_them() {
        let book = StatusBook::default();
        let (mine, theirs) = (TokenId([1; 8]), TokenId([2; 8]));
        let first = status_id();
        book.keep(
            mine,
            Status {
                id: first.clone(),
                ..Status::default()
            },
        );
        assert!(book.get(mine, &first).is_some());
        assert!(book.get(theirs, &first).is_none());
        for _ in 0..MAX_STATUSES {
            book.keep(
                mine,
                Status {
                    id: status_id(),
                    ..Status::default()
                },
            );
        }
        assert!(book.get(mine, &first).is_none(), "the oldest is forgotten");
        assert_eq!(book.kept.lock().expect("lock").len(), MAX_STATUSES);
        assert_ne!(status_id(), status_id());
    }

    #[test]
    fn every_posted_object_is_reported_once() {
        let objects = vec![
            json!({"type": "indicator", "id": "indicator--0b1a7c3e-5d6f-4a8b-9c0d-1e2f3a4b5c6d", "modified": "2026-01-01T00:00:00.000Z"}),
            json!({"type": "indicator", "id": "indicator--1c2b8d4f-6e7a-4b9c-8d1e-2f3a4b5c6d7e", "created": "2026-01-01T00:00:00.000Z"}),
            json!({"type": "identity", "id": "identity--2d3c9e5a-7f8b-4c1d-9e2f-3a4b5c6d7e8f", "name": "C", "identity_class": "organization",
                   "spec_version": "2.1", "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z"}),
            json!({"type": "malware", "id": "malware--3e4d1f6b-8a9c-4d2e-8f3a-4b5c6d7e8f9a"}),
            json!({"no": "id"}),
        ];
        let ctx = ImportContext::new(
            NodeId([1; 32]),
            Author {
                org: "org".parse().expect("org"),
                member: None,
            },
            1,
        );
        let import = dims_protocol::stix::import(&serde_json::to_vec(&objects).expect("JSON"), &ctx).expect("imports");
        let refused = HashMap::from([(
            "indicator--1c2b8d4f-6e7a-4b9c-8d1e-2f3a4b5c6d7e".to_owned(),
            "not allowed".to_owned(),
        )]);
        let already = HashMap::from([(
            "indicator--0b1a7c3e-5d6f-4a8b-9c0d-1e2f3a4b5c6d".to_owned(),
            "already published as bundle b".to_owned(),
        )]);
        let (successes, failures) = outcomes(&objects, &import, &[], &refused, &already);
        let ids = |list: &[Outcome]| list.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&successes), ["indicator--0b1a7c3e-5d6f-4a8b-9c0d-1e2f3a4b5c6d"]);
        assert_eq!(
            ids(&failures),
            [
                "indicator--1c2b8d4f-6e7a-4b9c-8d1e-2f3a4b5c6d7e",
                "identity--2d3c9e5a-7f8b-4c1d-9e2f-3a4b5c6d7e8f",
                "malware--3e4d1f6b-8a9c-4d2e-8f3a-4b5c6d7e8f9a",
                "objects[4]"
            ]
        );
        assert!(
            failures[1]
                .message
                .as_deref()
                .is_some_and(|m| m.contains("no imported object refers"))
        );
        assert_eq!(successes[0].version.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(successes[0].message.as_deref(), Some("already published as bundle b"));
        let org: OrgId = "org".parse().expect("org");
        let key = posted_key(&org, "indicator--a", "2026");
        assert_eq!(key, posted_key(&org, "indicator--a", "2026"));
        assert_ne!(key, posted_key(&org, "indicator--a", "2027"));
        assert_ne!(key, posted_key(&"other".parse().expect("org"), "indicator--a", "2026"));
        assert_ne!(
            posted_key(&org, "ab", "c"),
            posted_key(&org, "a", "bc"),
            "parts are length-prefixed"
        );
        assert_eq!(failures[0].message.as_deref(), Some("not allowed"));
    }
}
