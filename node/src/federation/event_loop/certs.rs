//! Member certificates for sealing RED: the OpenPGP certificates of recipient members, learned from their nodes.
//!
//! A RED bundle is sealed to the certificates of the members it names, as the recipient node vouches for them: a
//! certificate is kept under the node that served it and used only for deliveries to that node, never for the same
//! member at another node. The invariant: at most one certificate request per peer is outstanding, so a drain that
//! finds the same certificates missing for many bundles asks once.

use std::collections::{HashMap, HashSet};

use dims_identity::pgp::MemberCert;
use dims_protocol::{MemberId, NodeId};
use libp2p::PeerId;

/// Certificates by (node, member), and the peers asked for more. Generic over the certificate so that its rules can
/// be tested without generating OpenPGP keys; the loop keeps [`MemberCert`]s.
#[derive(Debug)]
pub(super) struct CertCache<C = MemberCert> {
    certs: HashMap<(NodeId, MemberId), C>,
    asking: HashSet<PeerId>,
}

impl<C> Default for CertCache<C> {
    fn default() -> Self {
        Self {
            certs: HashMap::new(),
            asking: HashSet::new(),
        }
    }
}

impl<C: Clone> CertCache<C> {
    /// The certificates of all `members` at `node`, in order, or the members whose certificate `node` has not given
    /// us yet.
    pub(super) fn lookup(&self, node: NodeId, members: &[MemberId]) -> Result<Vec<C>, Vec<MemberId>> {
        let missing: Vec<MemberId> = members
            .iter()
            .copied()
            .filter(|member| !self.certs.contains_key(&(node, *member)))
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(members
            .iter()
            .filter_map(|member| self.certs.get(&(node, *member)).cloned())
            .collect())
    }

    /// Whether to ask `peer` for certificates now: true unless a request to it is outstanding, which it then is until
    /// [`CertCache::answered`].
    pub(super) fn ask(&mut self, peer: PeerId) -> bool {
        self.asking.insert(peer)
    }

    /// `peer` answered the certificate request, or it failed.
    pub(super) fn answered(&mut self, peer: &PeerId) {
        self.asking.remove(peer);
    }

    /// `member`'s certificate as `node` gave it.
    pub(super) fn learn(&mut self, node: NodeId, member: MemberId, cert: C) {
        self.certs.insert((node, member), cert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u8) -> NodeId {
        NodeId([n; 32])
    }

    fn member(n: u8) -> MemberId {
        MemberId([n; 16])
    }

    #[test]
    fn all_certificates_or_the_missing_members() {
        let mut cache = CertCache::<&str>::default();
        cache.learn(node(1), member(1), "one");
        assert_eq!(cache.lookup(node(1), &[member(1), member(2)]), Err(vec![member(2)]));
        cache.learn(node(1), member(2), "two");
        assert_eq!(cache.lookup(node(1), &[member(2), member(1)]), Ok(vec!["two", "one"]));
    }

    #[test]
    fn a_certificate_serves_only_the_node_that_gave_it() {
        let mut cache = CertCache::<&str>::default();
        cache.learn(node(1), member(1), "from node 1");
        assert_eq!(cache.lookup(node(2), &[member(1)]), Err(vec![member(1)]));
    }

    #[test]
    fn one_request_per_peer_until_answered() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut cache = CertCache::<&str>::default();
        assert!(cache.ask(a));
        assert!(!cache.ask(a));
        assert!(cache.ask(b));
        cache.answered(&a);
        assert!(cache.ask(a));
    }
}
