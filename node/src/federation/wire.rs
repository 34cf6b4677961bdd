//! The federation's request-response messages (`/dims/fed/1`) and gossip topic names, with their size limits.
//!
//! Everything here crosses the wire to and from other nodes, so every size is bounded twice: by the codec (a frame
//! larger than [`MAX_REQUEST_BYTES`] or [`MAX_RESPONSE_BYTES`] is refused before it is decoded) and by the counts
//! checked on receipt ([`MAX_FETCH_IDS`], [`MAX_RECONCILE_BYTES`]). Bundles inside a message are envelopes exactly as
//! signed: the receiver decodes and verifies them itself, as if they had come from anywhere else.
//!
//! The messages are CBOR through libp2p's request-response codec (cbor4ii and serde). They are transport framing,
//! not signed data, so they need no canonical form; the bundles and rosters they carry have one of their own.

use std::fmt;

use dims_protocol::{BundleId, FederationId};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The request-response protocol id. A new incompatible message set gets a new number.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/dims/fed/1");

/// The version of the federation protocol this build speaks, reported by [`Request::Check`].
pub const PROTOCOL_VERSION: u16 = 1;

/// The largest request frame: a roster at its largest (2 MiB) plus framing.
pub const MAX_REQUEST_BYTES: u64 = 2 * 1024 * 1024 + 4096;
/// The largest response frame: a batch of fetched bundles.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// How many bundle bytes one [`Response::Bundles`] carries at most; the asker fetches the rest in another request.
pub const MAX_FETCH_RESPONSE_BUNDLE_BYTES: usize = 6 * 1024 * 1024;
/// How many members one [`Request::MemberCerts`] may name.
pub const MAX_CERT_MEMBERS: usize = 256;
/// The largest sealed bundle: a bundle at its largest plus OpenPGP overhead.
pub const MAX_SEALED_BYTES: usize = 1024 * 1024 + 64 * 1024;
/// How many ids one [`Request::Fetch`] may name.
pub const MAX_FETCH_IDS: usize = 512;
/// The largest reconciliation message (the protocol crate's frame limit is set to this).
pub const MAX_RECONCILE_BYTES: usize = 512 * 1024;
/// The largest gossip message: one bundle envelope at its largest (1 MiB) plus gossipsub framing.
pub const MAX_GOSSIP_BYTES: usize = 1024 * 1024 + 1024;

/// The gossip topic of a federation's CLEAR and GREEN bundles.
pub fn bundle_topic(federation: &FederationId) -> String {
    format!("dims/{federation}/bundles/1")
}

/// The federation a topic name belongs to, if it is one of ours.
pub fn topic_federation(topic: &str) -> Option<FederationId> {
    let rest = topic.strip_prefix("dims/")?.strip_suffix("/bundles/1")?;
    rest.parse().ok()
}

/// A request from one node to another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Request {
    /// Addressed delivery of one bundle envelope (AMBER and AMBER+STRICT, to a named recipient node).
    Deliver {
        /// The envelope.
        envelope: ByteBuf,
    },
    /// Addressed delivery of a RED bundle as OpenPGP ciphertext that only the named members can open.
    DeliverSealed {
        /// The sealed bundle.
        sealed: SealedBundle,
    },
    /// One round of range-based set reconciliation over the bundles the asker may receive from the answerer.
    Reconcile {
        /// The protocol crate's reconciliation message.
        message: ByteBuf,
    },
    /// Bundles by id; the answerer re-checks the asker's entitlement for every one.
    Fetch {
        /// The ids (at most [`MAX_FETCH_IDS`]).
        ids: Vec<ByteBuf>,
    },
    /// The OpenPGP certificates of some of the answerer's members, to seal RED bundles to them.
    MemberCerts {
        /// Member ids (16 bytes each, at most [`MAX_CERT_MEMBERS`]).
        members: Vec<ByteBuf>,
    },
    /// A roster envelope, offered so that the answerer can pin a newer version.
    Roster {
        /// The signed roster.
        envelope: ByteBuf,
    },
    /// A key statement (a rotation or revocation, `dims keys`), offered so that the answerer can put it in force.
    /// Answered with [`Response::Roster`], whose outcome says what was done.
    KeyStatement {
        /// The signed statement.
        statement: ByteBuf,
    },
    /// The federation self-test: what the answerer sees of us and of itself.
    Check {
        /// The asker's clock, in milliseconds since the epoch.
        now_ms: u64,
    },
}

impl Request {
    /// A short name for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Deliver { .. } => "deliver",
            Request::DeliverSealed { .. } => "deliver_sealed",
            Request::Reconcile { .. } => "reconcile",
            Request::Fetch { .. } => "fetch",
            Request::MemberCerts { .. } => "member_certs",
            Request::Roster { .. } => "roster",
            Request::KeyStatement { .. } => "key_statement",
            Request::Check { .. } => "check",
        }
    }
}

/// A RED bundle in transit: signed metadata in the clear (so the carrier can check who may hold it), the bundle
/// itself as OpenPGP ciphertext to the named members' certificates, signed by the origin node's certificate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedBundle {
    /// The bundle's id.
    pub id: ByteBuf,
    /// The members at the receiving node it is sealed to (16-byte member ids).
    pub members: Vec<ByteBuf>,
    /// The OpenPGP message (binary).
    pub ciphertext: ByteBuf,
}

/// The answer to a [`Request`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Response {
    /// The delivered bundle is durable here (`stored` is false when it already was).
    Delivered {
        /// Whether this delivery stored it.
        stored: bool,
    },
    /// The request was refused; the reason is for the asker's log, never a secret.
    Refused {
        /// Why, in words.
        reason: String,
    },
    /// The next reconciliation message.
    Reconcile {
        /// The protocol crate's reconciliation message.
        message: ByteBuf,
    },
    /// Fetched bundles, in no particular order; ids the asker may not receive, or that are not held, are left out.
    Bundles {
        /// The envelopes.
        envelopes: Vec<ByteBuf>,
        /// How many of the ids asked for were left out because the asker may not receive them.
        withheld: u32,
        /// How many were left out only because the response was full (ask again).
        deferred: u32,
    },
    /// Member certificates, ASCII-armored, for the asked members the answerer has one for.
    MemberCerts {
        /// (member id, armored certificate).
        certs: Vec<(ByteBuf, String)>,
    },
    /// The outcome of a roster offer, or of a key statement offer.
    Roster {
        /// In words: pinned, updated, already current, older (for statements: added, replaced, already known).
        outcome: String,
    },
    /// The answer to the self-test.
    Check(CheckReport),
}

/// What a node reports about itself to a peer's self-test.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckReport {
    /// The federation protocol version it speaks.
    pub protocol: u16,
    /// Its clock when it answered.
    pub now_ms: u64,
    /// The rosters it has pinned: federation and version.
    pub rosters: Vec<(String, u64)>,
    /// Whether it finds the asker on any roster it holds (it must, or the connection would have been refused).
    pub knows_asker: bool,
}

/// Decodes a request frame the way the request-response codec does (cbor4ii through serde); for the fuzz target and
/// tests. The codec has already refused frames over [`MAX_REQUEST_BYTES`].
pub fn decode_request(bytes: &[u8]) -> Result<Request, String> {
    cbor4ii::serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// Decodes a response frame the way the request-response codec does.
pub fn decode_response(bytes: &[u8]) -> Result<Response, String> {
    cbor4ii::serde::from_slice(bytes).map_err(|e| e.to_string())
}

/// Encodes a request frame the way the codec does.
pub fn encode_request(request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    cbor4ii::serde::to_writer(&mut out, request).expect("writing to a Vec cannot fail");
    out
}

/// A bundle id carried as bytes, checked for length.
pub fn bundle_id(bytes: &[u8]) -> Result<BundleId, WireError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| WireError::IdLength(bytes.len()))?;
    Ok(BundleId(array))
}

/// A member id carried as bytes, checked for length.
pub fn member_id(bytes: &[u8]) -> Result<dims_protocol::MemberId, WireError> {
    let array: [u8; 16] = bytes.try_into().map_err(|_| WireError::MemberIdLength(bytes.len()))?;
    Ok(dims_protocol::MemberId(array))
}

/// A message that is well-formed CBOR but breaks the protocol's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// An id is not 32 bytes.
    #[error("a bundle id must be 32 bytes, this one has {0}")]
    IdLength(usize),
    /// A member id is not 16 bytes.
    #[error("a member id must be 16 bytes, this one has {0}")]
    MemberIdLength(usize),
    /// Too many ids in one fetch.
    #[error("a fetch may name at most {max} ids, this one names {got}")]
    TooManyIds {
        /// The limit.
        max: usize,
        /// What was sent.
        got: usize,
    },
    /// A reconciliation message over the limit.
    #[error("a reconciliation message may have at most {max} bytes, this one has {got}")]
    ReconcileTooLarge {
        /// The limit.
        max: usize,
        /// What was sent.
        got: usize,
    },
}

impl fmt::Display for SealedBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sealed bundle {} ({} bytes)",
            hex::encode(&self.id),
            self.ciphertext.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        let federation: FederationId = "us-sltt".parse().expect("slug");
        let topic = bundle_topic(&federation);
        assert_eq!(topic, "dims/us-sltt/bundles/1");
        assert_eq!(topic_federation(&topic), Some(federation));
        assert_eq!(topic_federation("dims/Bad Name/bundles/1"), None);
        assert_eq!(topic_federation("other/us-sltt/bundles/1"), None);
    }

    #[test]
    fn requests_round_trip_through_the_codec_encoding() {
        let request = Request::Fetch {
            ids: vec![ByteBuf::from(vec![7; 32])],
        };
        let bytes = encode_request(&request);
        match decode_request(&bytes).expect("decodes") {
            Request::Fetch { ids } => assert_eq!(ids, vec![ByteBuf::from(vec![7; 32])]),
            other => panic!("decoded as {other:?}"),
        }
        assert!(decode_request(&[0xff, 0x00]).is_err());
    }

    #[test]
    fn ids_are_checked() {
        assert!(bundle_id(&[0; 32]).is_ok());
        assert_eq!(bundle_id(&[0; 31]), Err(WireError::IdLength(31)));
    }
}
