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
//! An honest node can still fail to answer: a node at its limit of concurrent streams resets new ones, and a node
//! starved of CPU misses deadlines (measured: 100 nodes on 2 cores put honest members at -18 when every failure
//! counted). What an honest node does not do is fail *most* of the time. So answers count too: the strikes are the
//! unanswered requests in excess of the answered ones, both halving every [`HALF_LIFE`]. A member that answers
//! nothing collects a strike per request; a busy honest member's occasional failure is outweighed by what it
//! answered. A refusal ("busy", "not entitled") is an answer.
//!
//! Evidence is also asked for: a peer with strikes is sent a cheap request (the self-test) every [`PROBE_EVERY`]
//! until its answers outweigh its failures. Without it, a hundred nodes starting at once on two cores (every
//! first reconciliation and roster offer timing out) left honest members marked for ten minutes, since little else
//! was asked of them; with it, an honest member clears itself at its next answer and a silent one sinks further.
//!
//! One strike costs [`STRIKE`], which with the small credit gossipsub gives for time in the mesh leaves a single
//! failure just above the gossip threshold (-10), and puts a member that keeps dropping requests below it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::OutboundFailure;

/// The application score of one strike. With gossipsub's `app_specific_weight` set to 1 (see `swarm::score_params`)
/// it is the score itself.
pub const STRIKE: f64 = -10.0;

/// How long it takes for a strike to count half.
pub const HALF_LIFE: Duration = Duration::from_secs(600);

/// How often a peer with strikes is asked again.
pub const PROBE_EVERY: Duration = Duration::from_secs(10);

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

/// Decaying counts of unanswered and answered requests per peer.
#[derive(Debug, Default)]
pub struct Standing {
    peers: HashMap<PeerId, Counts>,
}

/// One peer's counts, as of `at`.
#[derive(Clone, Copy, Debug)]
struct Counts {
    unanswered: f64,
    answered: f64,
    at: Instant,
    /// When it was last probed.
    probed: Option<Instant>,
}

impl Counts {
    fn at(self, now: Instant) -> Counts {
        Counts {
            unanswered: decayed(self.unanswered, self.at, now),
            answered: decayed(self.answered, self.at, now),
            at: now,
            probed: self.probed,
        }
    }

    fn strikes(&self) -> f64 {
        (self.unanswered - self.answered).max(0.0)
    }
}

impl Standing {
    /// Records an unanswered request of `peer` at `now`.
    pub fn strike(&mut self, peer: PeerId, why: Unanswered, now: Instant) {
        let mut counts = self.counts(peer, now);
        counts.unanswered += why.weight();
        self.peers.insert(peer, counts);
    }

    /// Records an answer from `peer` at `now`. Only peers that have failed to answer are tracked: answers alone
    /// earn nothing (a member cannot bank answers and then drop everything).
    pub fn answered(&mut self, peer: PeerId, now: Instant) {
        if let Some(counts) = self.peers.get_mut(&peer) {
            *counts = counts.at(now);
            counts.answered += 1.0;
        }
    }

    /// The application score of every tracked peer at `now`; peers whose failures have decayed to nothing are
    /// forgotten and reported once more with 0, so gossipsub's copy is reset too.
    pub fn scores(&mut self, now: Instant) -> Vec<(PeerId, f64)> {
        let mut scores = Vec::with_capacity(self.peers.len());
        self.peers.retain(|peer, counts| {
            *counts = counts.at(now);
            let forgotten = counts.unanswered < 0.01;
            let score = if forgotten {
                0.0
            } else {
                (counts.strikes() * STRIKE).max(FLOOR)
            };
            scores.push((*peer, score));
            !forgotten
        });
        scores
    }

    /// The peers with strikes that are due to be asked again at `now`, marked as asked.
    pub fn probes_due(&mut self, now: Instant) -> Vec<PeerId> {
        let mut due = Vec::new();
        for (peer, counts) in &mut self.peers {
            let waited = counts
                .probed
                .is_none_or(|at| now.saturating_duration_since(at) >= PROBE_EVERY);
            if waited && counts.at(now).strikes() > 0.0 {
                counts.probed = Some(now);
                due.push(*peer);
            }
        }
        due
    }

    /// The current strikes of `peer` (for status pages).
    pub fn strikes(&self, peer: &PeerId, now: Instant) -> f64 {
        self.peers.get(peer).map_or(0.0, |counts| counts.at(now).strikes())
    }

    fn counts(&self, peer: PeerId, now: Instant) -> Counts {
        self.peers.get(&peer).map_or(
            Counts {
                unanswered: 0.0,
                answered: 0.0,
                at: now,
                probed: None,
            },
            |counts| counts.at(now),
        )
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
    fn a_busy_member_that_answers_most_requests_keeps_its_standing() {
        let peer = PeerId::random();
        let now = crate::clock::monotonic();
        let mut standing = Standing::default();
        standing.answered(peer, now);
        assert!(standing.scores(now).is_empty(), "answers alone are not tracked");
        standing.strike(peer, Unanswered::Closed, now);
        for _ in 0..5 {
            standing.answered(peer, now);
        }
        standing.strike(peer, Unanswered::Closed, now);
        assert_eq!(standing.scores(now), vec![(peer, 0.0)]);
        assert_eq!(standing.strikes(&peer, now), 0.0);
    }

    #[test]
    fn a_member_that_answers_nothing_collects_a_strike_per_request() {
        let peer = PeerId::random();
        let now = crate::clock::monotonic();
        let mut standing = Standing::default();
        for _ in 0..4 {
            standing.strike(peer, Unanswered::Closed, now);
        }
        standing.answered(peer, now);
        assert!((standing.strikes(&peer, now) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn peers_with_strikes_are_probed_every_interval_until_they_answer() {
        let peer = PeerId::random();
        let start = crate::clock::monotonic();
        let mut standing = Standing::default();
        assert!(standing.probes_due(start).is_empty());
        standing.strike(peer, Unanswered::TimedOut, start);
        assert_eq!(standing.probes_due(start), vec![peer]);
        assert!(
            standing.probes_due(start + PROBE_EVERY / 2).is_empty(),
            "not again before the interval"
        );
        assert_eq!(standing.probes_due(start + PROBE_EVERY), vec![peer]);
        standing.answered(peer, start + PROBE_EVERY);
        assert!(
            standing.probes_due(start + PROBE_EVERY * 3).is_empty(),
            "answered: nothing to ask"
        );
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
