//! The errors of the loop's own work. None of them stops the loop: each is logged where it happens, answered to the
//! handle that asked, or turned into a refusal for the peer that asked. They are types, not strings, so that each
//! failure keeps its cause and its message says what to do.

use dims_identity::pgp::SealError;
use dims_protocol::NodeId;
use dims_protocol::reconcile::{DecodeError, ReconcileError};
use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;
use libp2p::swarm::DialError;

use crate::federation::answer::ItemsError;
use crate::store::StoreError;

/// Work moved off the runtime's worker threads (a store scan, a signature check) did not finish.
#[derive(Debug, thiserror::Error)]
#[error("a federation background task did not finish ({0}): dims is stopping, or the task panicked (see the log)")]
pub(super) struct JoinFailed(#[from] pub(super) tokio::task::JoinError);

/// A store read run off the loop failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// The store refused the read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The read did not finish.
    #[error(transparent)]
    Join(#[from] JoinFailed),
}

/// Why a reconciliation session ended before it found what to fetch.
#[derive(Debug, thiserror::Error)]
pub(super) enum SyncError {
    /// This node could not list its own side.
    #[error(transparent)]
    Items(#[from] ItemsError),
    /// Listing it did not finish.
    #[error(transparent)]
    Join(#[from] JoinFailed),
    /// The peer's message does not decode.
    #[error("the peer's reconciliation message does not decode ({0}): the peer may run an incompatible dims version")]
    Decode(#[from] DecodeError),
    /// The peer's message does not fit the session.
    #[error(
        "the peer's reconciliation message does not fit the session ({0}): the peer may run an incompatible dims \
             version"
    )]
    Reconcile(#[from] ReconcileError),
}

/// Why a RED bundle was not sealed; it stays in the outbox.
#[derive(Debug, thiserror::Error)]
pub(super) enum SealFailed {
    /// Sealing refused (a certificate no longer usable, this node's key unusable).
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Sealing did not finish.
    #[error(transparent)]
    Join(#[from] JoinFailed),
}

/// Why the self-test of one peer (`dims peers check`) brought no report.
#[derive(Debug, thiserror::Error)]
pub(super) enum CheckFailed {
    /// The peer is not connected.
    #[error("{node} is not connected: see `dims peers` for why, and check again once it is")]
    NotConnected {
        /// The peer.
        node: NodeId,
    },
    /// The request failed before an answer came.
    #[error("the request failed ({0}): check again; if it keeps failing, see `dims peers` for the peer's state")]
    Request(#[from] OutboundFailure),
    /// The peer answered something other than a report.
    #[error("it answered something else ({answer}): it may run an incompatible dims version")]
    Unexpected {
        /// The answer, without its payload.
        answer: String,
    },
}

/// Why a dial to a roster member failed, in words an operator can act on (shown by `dims peers`).
#[derive(Debug, thiserror::Error)]
pub(super) enum DialFailed {
    /// Another node answered at the member's address.
    #[error(
        "the roster address answered with another key ({obtained}): the roster entry's key or address is wrong, or \
         the node was re-keyed without a roster update"
    )]
    WrongKey {
        /// The key that answered.
        obtained: PeerId,
    },
    /// This node's own gating refused the dial.
    #[error("refused by this node's own gating: {cause}")]
    Denied {
        /// Why.
        cause: String,
    },
    /// The rosters give no address.
    #[error("the roster lists no address for it: ask the federation's admins for a roster entry with one")]
    NoAddresses,
    /// No address answered.
    #[error("unreachable ({reasons}): check that the node runs and that its roster address reaches it")]
    Unreachable {
        /// Each address tried and what failed there.
        reasons: String,
    },
    /// Anything else libp2p reports.
    #[error("{0}")]
    Other(String),
}

impl From<&DialError> for DialFailed {
    fn from(error: &DialError) -> Self {
        match error {
            DialError::WrongPeerId { obtained, .. } => Self::WrongKey { obtained: *obtained },
            DialError::Denied { cause } => Self::Denied {
                cause: cause.to_string(),
            },
            DialError::NoAddresses => Self::NoAddresses,
            DialError::Transport(errors) => {
                let reasons: Vec<String> = errors.iter().map(|(address, e)| format!("{address}: {e}")).collect();
                Self::Unreachable {
                    reasons: reasons.join("; "),
                }
            }
            other => Self::Other(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_single_spaced_and_lowercase() {
        let messages = [
            DialFailed::WrongKey {
                obtained: PeerId::random(),
            }
            .to_string(),
            DialFailed::NoAddresses.to_string(),
            DialFailed::Unreachable {
                reasons: "/ip4/192.0.2.1/tcp/4001: connection refused".to_owned(),
            }
            .to_string(),
            CheckFailed::Unexpected {
                answer: "refused: busy".to_owned(),
            }
            .to_string(),
        ];
        for message in messages {
            assert!(!message.contains("  "), "a run of spaces in {message:?}");
            assert!(message.starts_with(char::is_lowercase), "{message:?}");
            assert!(!message.ends_with('.'), "{message:?}");
        }
    }
}
