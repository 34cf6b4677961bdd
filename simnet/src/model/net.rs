//! The simulated network: which nodes are up, how they are partitioned, and what happens to one message on a link
//! (seeded latency of a base plus uniform jitter, and a loss probability). Unlike the stream transport of the real
//! simulator, a message here can really be lost, so retries, timeouts and reconciliation are exercised.
//!
//! Two nodes are connected while both are up and in the same partition group; a message is delivered only if they
//! are connected both when it leaves and when it arrives. Every random draw comes from one seeded generator, in the
//! order the run asks, so the same seed gives the same network.

use crate::rng::Rng;

/// The network's state and its random stream.
#[derive(Debug)]
pub struct Net {
    up: Vec<bool>,
    group: Vec<usize>,
    latency_ms: u64,
    jitter_ms: u64,
    loss: f64,
    rng: Rng,
}

/// What the network does with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transit {
    /// It arrives after this many milliseconds (if the link still holds then).
    Arrives(u64),
    /// It is lost on the way.
    Lost,
    /// The nodes are not connected: there is no link to send it on.
    NoLink,
}

impl Net {
    /// `nodes` nodes, all up and in one group.
    pub fn new(nodes: usize, latency_ms: u64, jitter_ms: u64, loss: f64, rng: Rng) -> Net {
        Net {
            up: vec![true; nodes],
            group: vec![0; nodes],
            latency_ms,
            jitter_ms,
            loss,
            rng,
        }
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.up.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.up.is_empty()
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: usize) -> bool {
        self.up[node]
    }

    /// Whether `a` and `b` are connected now.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        a != b && self.up[a] && self.up[b] && self.group[a] == self.group[b]
    }

    /// Every node `node` is connected to now, in index order.
    pub fn peers_of(&self, node: usize) -> Vec<usize> {
        (0..self.len()).filter(|&peer| self.connected(node, peer)).collect()
    }

    /// The pairs (a < b) connected now.
    pub fn connected_pairs(&self) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for a in 0..self.len() {
            for b in a + 1..self.len() {
                if self.connected(a, b) {
                    pairs.push((a, b));
                }
            }
        }
        pairs
    }

    /// Sends one message from `from` to `to`: draws its fate.
    pub fn send(&mut self, from: usize, to: usize) -> Transit {
        if !self.connected(from, to) {
            return Transit::NoLink;
        }
        // Both draws are made for every message, so one message's fate never shifts the stream for the next.
        let lost = self.rng.unit() < self.loss;
        let jitter = if self.jitter_ms == 0 {
            0
        } else {
            self.rng.next_u64() % (self.jitter_ms + 1)
        };
        if lost {
            Transit::Lost
        } else {
            Transit::Arrives(self.latency_ms + jitter)
        }
    }

    /// Splits the nodes into `groups` (node indices); nodes in no group form one more group.
    pub fn partition(&mut self, groups: &[Vec<usize>]) {
        self.group = vec![groups.len(); self.len()];
        for (index, members) in groups.iter().enumerate() {
            for &node in members {
                self.group[node] = index;
            }
        }
    }

    /// Ends every partition.
    pub fn heal(&mut self) {
        self.group = vec![0; self.len()];
    }

    /// Takes `node` down or brings it up.
    pub fn set_up(&mut self, node: usize, up: bool) {
        self.up[node] = up;
    }

    /// A draw from the network's stream for a timer phase below `bound` (the nodes' first ticks are spread with it).
    pub fn phase(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.rng.next_u64() % bound }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_and_downs_cut_links() {
        let mut net = Net::new(4, 10, 0, 0.0, Rng::new(1));
        assert_eq!(net.connected_pairs().len(), 6);
        net.partition(&[vec![0, 1]]);
        assert!(net.connected(0, 1) && net.connected(2, 3) && !net.connected(1, 2));
        assert_eq!(net.send(0, 2), Transit::NoLink);
        assert_eq!(net.send(0, 1), Transit::Arrives(10));
        net.heal();
        net.set_up(3, false);
        assert_eq!(net.peers_of(0), [1, 2]);
    }

    #[test]
    fn loss_happens_at_about_its_rate() {
        let mut net = Net::new(2, 1, 5, 0.2, Rng::new(7));
        let lost = (0..10_000).filter(|_| net.send(0, 1) == Transit::Lost).count();
        assert!((1_700..2_300).contains(&lost), "{lost} of 10000 lost at p = 0.2");
    }
}
