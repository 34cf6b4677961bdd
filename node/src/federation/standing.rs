//! A member's standing for the request protocol: the requests it left unanswered, fed to gossipsub as the
//! application-specific part of its peer score.
//!
//! Gossipsub scores what it can see on its own protocol: invalid messages (P4) catch members that flood, replay or
//! tamper. A member that takes everything and gives nothing back is invisible there: its delivery-rate penalty (P3)
//! would also hit every honest member of a quiet federation, so it stays off (see `swarm::topic_params`). What such a
//! member cannot hide is that it leaves our requests (reconciliation, fetch, delivery, roster offers) unanswered. An
//! honest node answers every request, if only with a refusal ("busy", "not entitled"); the failures that say
//! nothing about the peer (the connection closed, the dial failed) are not counted.
//!
//! Each unanswered request is a strike; strikes halve every [`HALF_LIFE`], so a member that glitched once recovers
//! on its own. One strike costs [`STRIKE`], which with the small credit gossipsub gives for time in the mesh leaves
//! a single glitch just above the gossip threshold (-10), and puts a member that keeps dropping requests below it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;

/// The application score of one strike. With gossipsub's `app_specific_weight` set to 1 (see `swarm::score_params`)
/// it is the score itself.
pub const STRIKE: f64 = -10.0;

/// How long it takes for a strike to count half.
pub const HALF_LIFE: Duration = Duration::from_secs(600);

/// The lowest application score: a member cannot dig itself deeper than a few rejected messages would, so it can
/// come back within hours once it behaves.
const FLOOR: f64 = -500.0;

/// Why a request got no answer, when that says something about the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The peer closed the request's stream without an answer.
    Closed,
    /// The peer kept the stream and never answered. Counted as half a strike: a peer on a slow link can miss a
    /// deadline without malice.
    TimedOut,
    /// The peer is on a roster and does not speak the federation protocol.
    Unsupported,
}

impl Unanswered {
    /// Whether `failure` counts against the peer, and how. Dial failures and closed connections are churn, not
    /// behaviour: a node that restarts must not lose standing for it.
    pub fn of(failure: &OutboundFailure) -> Option<Self> {
        match failure {
            OutboundFailure::Io(_) => Some(Self::Closed),
            OutboundFailure::Timeout => Some(Self::TimedOut),
            OutboundFailure::UnsupportedProtocols => Some(Self::Unsupported),
            OutboundFailure::DialFailure | OutboundFailure::ConnectionClosed => None,
        }
    }

    /// The label of the `dims_federation_unanswered_total` counter.
    pub fn label(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::TimedOut => "timeout",
            Self::Unsupported => "unsupported",
        }
    }

    fn weight(self) -> f64 {
        match self {
            Self::Closed | Self::Unsupported => 1.0,
            Self::TimedOut => 0.5,
        }
    }
}

/// Decaying strikes per peer.
#[derive(Debug, Default)]
pub struct Standing {
    strikes: HashMap<PeerId, (f64, Instant)>,
}

impl Standing {
    /// Records an unanswered request of `peer` at `now`.
    pub fn strike(&mut self, peer: PeerId, why: Unanswered, now: Instant) {
        let current = self
            .strikes
            .get(&peer)
            .map_or(0.0, |&(count, at)| decayed(count, at, now));
        self.strikes.insert(peer, (current + why.weight(), now));
    }

    /// The application score of every peer with strikes at `now`; peers whose strikes have decayed to nothing are
    /// forgotten and reported once more with 0, so gossipsub's copy is reset too.
    pub fn scores(&mut self, now: Instant) -> Vec<(PeerId, f64)> {
        let mut scores = Vec::with_capacity(self.strikes.len());
        self.strikes.retain(|peer, &mut (count, at)| {
            let count = decayed(count, at, now);
            let forgotten = count < 0.01;
            scores.push((*peer, if forgotten { 0.0 } else { (count * STRIKE).max(FLOOR) }));
            !forgotten
        });
        scores
    }

    /// The current strikes of `peer` (for status pages).
    pub fn strikes(&self, peer: &PeerId, now: Instant) -> f64 {
        self.strikes
            .get(peer)
            .map_or(0.0, |&(count, at)| decayed(count, at, now))
    }
}

fn decayed(count: f64, at: Instant, now: Instant) -> f64 {
    let halvings = now.saturating_duration_since(at).as_secs_f64() / HALF_LIFE.as_secs_f64();
    count * 0.5f64.powf(halvings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_is_not_held_against_a_peer_and_silence_is() {
        assert_eq!(Unanswered::of(&OutboundFailure::ConnectionClosed), None);
        assert_eq!(Unanswered::of(&OutboundFailure::DialFailure), None);
        assert_eq!(
            Unanswered::of(&OutboundFailure::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Some(Unanswered::Closed)
        );
        assert_eq!(Unanswered::of(&OutboundFailure::Timeout), Some(Unanswered::TimedOut));
    }

    #[test]
    fn one_glitch_stays_at_the_threshold_and_repeated_silence_goes_below() {
        let peer = PeerId::random();
        let start = crate::clock::monotonic();
        let mut standing = Standing::default();
        standing.strike(peer, Unanswered::Closed, start);
        let one = standing.scores(start)[0].1;
        assert!((one - STRIKE).abs() < 1e-9, "{one}");
        assert!(one >= -10.0, "one glitch alone is not below the gossip threshold");
        standing.strike(peer, Unanswered::Closed, start);
        standing.strike(peer, Unanswered::TimedOut, start);
        let three = standing.scores(start)[0].1;
        assert!((three - 2.5 * STRIKE).abs() < 1e-9, "{three}");
    }

    #[test]
    fn strikes_halve_every_half_life_and_are_forgotten_with_a_last_zero() {
        let peer = PeerId::random();
        let start = crate::clock::monotonic();
        let mut standing = Standing::default();
        standing.strike(peer, Unanswered::Closed, start);
        standing.strike(peer, Unanswered::Closed, start);
        let later = standing.scores(start + HALF_LIFE)[0].1;
        assert!((later - STRIKE).abs() < 1e-6, "{later}");
        let much_later = start + HALF_LIFE * 20;
        assert_eq!(standing.scores(much_later), vec![(peer, 0.0)]);
        assert!(standing.scores(much_later).is_empty(), "forgotten after the last zero");
    }

    #[test]
    fn the_score_has_a_floor() {
        let peer = PeerId::random();
        let now = crate::clock::monotonic();
        let mut standing = Standing::default();
        for _ in 0..1000 {
            standing.strike(peer, Unanswered::Unsupported, now);
        }
        assert_eq!(standing.scores(now)[0].1, FLOOR);
    }
}
