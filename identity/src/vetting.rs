//! Trust groups and Trident's vetting: nominate, vouch, approve, and the member states that follow.
//!
//! A trust group is a vetted circle inside a community. A candidate is *nominated* by an active member, collects
//! *vouches* (each with an attestation: how the voucher knows them) until the group's policy is met (*vetted*), is
//! *approved* by a group admin, and becomes *active* when they first take part (having an OpenPGP key on file if the
//! policy requires one). An active member who does nothing for the policy's idle time becomes *idle* and is
//! reactivated by taking part again; any group admin may *block* a member, which ends all of it until unblocked.
//!
//! This module is a pure state machine: time comes in as an argument, every transition is checked, and a refused
//! transition is an error that says why. Only active members are covered by a `Recipient::Group` (the caller puts
//! only active groups into the member's policy view).

use std::collections::BTreeMap;

use dims_protocol::{GroupId, MemberId};
use serde::{Deserialize, Serialize};

/// A group's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPolicy {
    /// Vouches needed before approval (Trident's default is 2).
    pub vouches_needed: usize,
    /// Whether a member must have an OpenPGP key on file to become active (lists send encrypted mail).
    pub pgp_required: bool,
    /// Milliseconds without activity after which an active member becomes idle; `None` never.
    pub idle_after_ms: Option<u64>,
}

impl Default for GroupPolicy {
    fn default() -> Self {
        Self {
            vouches_needed: 2,
            pgp_required: true,
            idle_after_ms: Some(180 * 86_400_000),
        }
    }
}

/// Where a member stands in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    /// Proposed by a member; collecting vouches.
    Nominated,
    /// Enough vouches; waiting for an admin.
    Vetted,
    /// Approved; not yet taking part.
    Approved,
    /// Taking part: sees the group's bundles and may nominate and vouch.
    Active,
    /// Was active, has been quiet too long; taking part again reactivates.
    Idle,
    /// Blocked by an admin: sees and does nothing in the group.
    Blocked,
}

impl MemberState {
    /// `nominated`, `vetted`, `approved`, `active`, `idle` or `blocked`.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Nominated => "nominated",
            MemberState::Vetted => "vetted",
            MemberState::Approved => "approved",
            MemberState::Active => "active",
            MemberState::Idle => "idle",
            MemberState::Blocked => "blocked",
        }
    }
}

/// A vouch: who vouched, when, and how they know the candidate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vouch {
    /// The voucher.
    pub by: MemberId,
    /// When (ms since the epoch).
    pub at: u64,
    /// The attestation, in the voucher's words.
    pub attestation: String,
}

/// One member's record in a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The state.
    pub state: MemberState,
    /// Who nominated them.
    pub nominated_by: MemberId,
    /// The vouches, at most one per voucher.
    pub vouches: Vec<Vouch>,
    /// The admin who approved them.
    pub approved_by: Option<MemberId>,
    /// Last time they took part (ms since the epoch).
    pub last_active: Option<u64>,
    /// The state before a block, restored by an unblock (never `Blocked`).
    pub before_block: Option<MemberState>,
}

/// A trust group: its policy, its admins and its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustGroup {
    /// The group's id.
    pub id: GroupId,
    /// Its rules.
    pub policy: GroupPolicy,
    /// Members who may approve, block and unblock.
    pub admins: Vec<MemberId>,
    /// Everyone nominated so far.
    pub members: BTreeMap<MemberId, Membership>,
}

/// Why a transition was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VettingError {
    /// The actor may not do this.
    #[error("{actor} may not {action} in {group}: {why}")]
    NotAllowed {
        /// Who tried.
        actor: MemberId,
        /// What.
        action: &'static str,
        /// In which group.
        group: GroupId,
        /// Why not.
        why: &'static str,
    },
    /// The candidate is not in a state that allows this.
    #[error("{member} is {state:?} in {group}, so they cannot be {action}")]
    WrongState {
        /// The member.
        member: MemberId,
        /// Their state.
        state: MemberState,
        /// What was tried.
        action: &'static str,
        /// The group.
        group: GroupId,
    },
    /// The member was never nominated.
    #[error("{member} is not a member or candidate of {group}: nominate them first")]
    Unknown {
        /// The member.
        member: MemberId,
        /// The group.
        group: GroupId,
    },
    /// Activation needs an OpenPGP key.
    #[error("{member} needs an OpenPGP key on file to take part in {group}: upload one in the profile")]
    PgpRequired {
        /// The member.
        member: MemberId,
        /// The group.
        group: GroupId,
    },
    /// An attestation is required and was empty.
    #[error("a vouch needs an attestation: say how you know the candidate")]
    EmptyAttestation,
}

impl TrustGroup {
    /// A new group whose founding admins are active members.
    pub fn new(id: GroupId, policy: GroupPolicy, admins: Vec<MemberId>, now_ms: u64) -> Self {
        let members = admins
            .iter()
            .map(|admin| {
                let record = Membership {
                    state: MemberState::Active,
                    nominated_by: *admin,
                    vouches: Vec::new(),
                    approved_by: Some(*admin),
                    last_active: Some(now_ms),
                    before_block: None,
                };
                (*admin, record)
            })
            .collect();
        Self {
            id,
            policy,
            admins,
            members,
        }
    }

    /// A member's state, after idling is applied at `now_ms`.
    pub fn state(&self, member: MemberId, now_ms: u64) -> Option<MemberState> {
        let record = self.members.get(&member)?;
        Some(match (record.state, self.policy.idle_after_ms, record.last_active) {
            (MemberState::Active, Some(idle), Some(last)) if now_ms.saturating_sub(last) >= idle => MemberState::Idle,
            (state, _, _) => state,
        })
    }

    /// How many members are active at `now_ms` (idling applied, as [`TrustGroup::state`] does).
    pub fn active_count(&self, now_ms: u64) -> usize {
        self.members
            .keys()
            .filter(|member| self.state(**member, now_ms) == Some(MemberState::Active))
            .count()
    }

    /// How many are on their way in: nominated, vetted or approved, not yet taking part.
    pub fn candidate_count(&self) -> usize {
        self.members
            .values()
            .filter(|record| {
                matches!(
                    record.state,
                    MemberState::Nominated | MemberState::Vetted | MemberState::Approved
                )
            })
            .count()
    }

    /// Whether `member` is an active member at `now_ms`: only they are covered by the group as a recipient.
    pub fn is_active(&self, member: MemberId, now_ms: u64) -> bool {
        self.state(member, now_ms) == Some(MemberState::Active)
    }

    fn require_active(&self, actor: MemberId, action: &'static str, now_ms: u64) -> Result<(), VettingError> {
        self.require(self.is_active(actor, now_ms), actor, action, "only active members may")
    }

    fn require_admin(&self, actor: MemberId, action: &'static str, now_ms: u64) -> Result<(), VettingError> {
        let allowed = self.admins.contains(&actor) && self.is_active(actor, now_ms);
        self.require(allowed, actor, action, "only active group admins may")
    }

    fn require(
        &self,
        allowed: bool,
        actor: MemberId,
        action: &'static str,
        why: &'static str,
    ) -> Result<(), VettingError> {
        if allowed {
            Ok(())
        } else {
            Err(VettingError::NotAllowed {
                actor,
                action,
                group: self.id.clone(),
                why,
            })
        }
    }

    fn record(&mut self, member: MemberId) -> Result<&mut Membership, VettingError> {
        let group = self.id.clone();
        self.members
            .get_mut(&member)
            .ok_or(VettingError::Unknown { member, group })
    }

    fn wrong_state(&self, member: MemberId, state: MemberState, action: &'static str) -> VettingError {
        VettingError::WrongState {
            member,
            state,
            action,
            group: self.id.clone(),
        }
    }

    /// An active member nominates a candidate.
    pub fn nominate(&mut self, by: MemberId, candidate: MemberId, now_ms: u64) -> Result<(), VettingError> {
        self.require_active(by, "nominate", now_ms)?;
        if let Some(state) = self.state(candidate, now_ms) {
            return Err(self.wrong_state(candidate, state, "nominated"));
        }
        let record = Membership {
            state: MemberState::Nominated,
            nominated_by: by,
            vouches: Vec::new(),
            approved_by: None,
            last_active: None,
            before_block: None,
        };
        self.members.insert(candidate, record);
        Ok(())
    }

    /// An active member vouches for a nominated candidate; enough vouches make the candidate vetted.
    pub fn vouch(
        &mut self,
        by: MemberId,
        candidate: MemberId,
        attestation: &str,
        now_ms: u64,
    ) -> Result<(), VettingError> {
        self.require_active(by, "vouch", now_ms)?;
        if attestation.trim().is_empty() {
            return Err(VettingError::EmptyAttestation);
        }
        if by == candidate {
            return Err(VettingError::NotAllowed {
                actor: by,
                action: "vouch",
                group: self.id.clone(),
                why: "nobody may vouch for themselves",
            });
        }
        let needed = self.policy.vouches_needed;
        let state = self.state(candidate, now_ms).ok_or(VettingError::Unknown {
            member: candidate,
            group: self.id.clone(),
        })?;
        if state != MemberState::Nominated && state != MemberState::Vetted {
            return Err(self.wrong_state(candidate, state, "vouched for"));
        }
        let record = self.record(candidate)?;
        record.vouches.retain(|vouch| vouch.by != by);
        record.vouches.push(Vouch {
            by,
            at: now_ms,
            attestation: attestation.trim().to_owned(),
        });
        if record.vouches.len() >= needed {
            record.state = MemberState::Vetted;
        }
        Ok(())
    }

    /// A group admin approves a vetted candidate.
    pub fn approve(&mut self, by: MemberId, candidate: MemberId, now_ms: u64) -> Result<(), VettingError> {
        self.require_admin(by, "approve", now_ms)?;
        let state = self.state(candidate, now_ms).ok_or(VettingError::Unknown {
            member: candidate,
            group: self.id.clone(),
        })?;
        if state != MemberState::Vetted {
            return Err(self.wrong_state(candidate, state, "approved"));
        }
        let record = self.record(candidate)?;
        record.state = MemberState::Approved;
        record.approved_by = Some(by);
        Ok(())
    }

    /// The member takes part (logs in to the group, posts, reads): approved and idle members become active, active
    /// members stay active. `has_pgp_key` says whether their profile holds a usable OpenPGP key.
    pub fn take_part(&mut self, member: MemberId, has_pgp_key: bool, now_ms: u64) -> Result<(), VettingError> {
        let state = self.state(member, now_ms).ok_or(VettingError::Unknown {
            member,
            group: self.id.clone(),
        })?;
        if !matches!(state, MemberState::Approved | MemberState::Active | MemberState::Idle) {
            return Err(self.wrong_state(member, state, "active"));
        }
        if self.policy.pgp_required && !has_pgp_key {
            return Err(VettingError::PgpRequired {
                member,
                group: self.id.clone(),
            });
        }
        let record = self.record(member)?;
        record.state = MemberState::Active;
        record.last_active = Some(now_ms);
        Ok(())
    }

    /// A group admin blocks a member (any state).
    pub fn block(&mut self, by: MemberId, member: MemberId, now_ms: u64) -> Result<(), VettingError> {
        self.require_admin(by, "block", now_ms)?;
        if by == member {
            return Err(VettingError::NotAllowed {
                actor: by,
                action: "block",
                group: self.id.clone(),
                why: "an admin cannot block themselves",
            });
        }
        let state = self.state(member, now_ms).ok_or(VettingError::Unknown {
            member,
            group: self.id.clone(),
        })?;
        if state == MemberState::Blocked {
            return Err(self.wrong_state(member, state, "blocked"));
        }
        let record = self.record(member)?;
        record.before_block = Some(state);
        record.state = MemberState::Blocked;
        Ok(())
    }

    /// A group admin unblocks a member, who returns to where they were (an active member as approved: they become
    /// active again by taking part).
    pub fn unblock(&mut self, by: MemberId, member: MemberId, now_ms: u64) -> Result<(), VettingError> {
        self.require_admin(by, "unblock", now_ms)?;
        let state = self.state(member, now_ms).ok_or(VettingError::Unknown {
            member,
            group: self.id.clone(),
        })?;
        if state != MemberState::Blocked {
            return Err(self.wrong_state(member, state, "unblocked"));
        }
        let record = self.record(member)?;
        record.state = match record.before_block.take() {
            Some(MemberState::Active | MemberState::Idle) | None => MemberState::Approved,
            Some(previous) => previous,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn m(seed: u8) -> MemberId {
        MemberId([seed; 16])
    }

    /// Two founding admins (1 and 8) and one member (2) who went through vetting.
    fn group() -> TrustGroup {
        let policy = GroupPolicy {
            vouches_needed: 2,
            pgp_required: true,
            idle_after_ms: Some(30 * DAY),
        };
        let mut group = TrustGroup::new(
            GroupId::new("water-utilities").expect("slug"),
            policy,
            vec![m(1), m(8)],
            0,
        );
        group.nominate(m(1), m(2), 0).expect("nominate");
        group
            .vouch(m(1), m(2), "worked with her on the 2024 outage", 0)
            .expect("vouch");
        assert!(group.approve(m(1), m(2), 0).is_err(), "one vouch is not enough");
        group.vouch(m(8), m(2), "she runs the county SOC", 0).expect("vouch");
        group.approve(m(1), m(2), 0).expect("approve");
        group.take_part(m(2), true, 0).expect("active");
        group
    }

    #[test]
    fn a_candidate_goes_through_every_state() {
        let mut group = group();
        let now = DAY;
        group.nominate(m(2), m(3), now).expect("an active member nominates");
        assert_eq!(group.state(m(3), now), Some(MemberState::Nominated));
        let err = group.vouch(m(3), m(3), "me", now).expect_err("a candidate vouches");
        assert!(err.to_string().contains("only active"), "{err}");
        group.vouch(m(1), m(3), "met at FIRST 2025", now).expect("vouch 1");
        assert_eq!(
            group.state(m(3), now),
            Some(MemberState::Nominated),
            "one of two vouches"
        );
        assert_eq!(group.vouch(m(2), m(3), "  ", now), Err(VettingError::EmptyAttestation));
        group
            .vouch(m(2), m(3), "colleague at the county SOC", now)
            .expect("vouch 2");
        assert_eq!(group.state(m(3), now), Some(MemberState::Vetted));
        assert!(
            matches!(group.approve(m(2), m(3), now), Err(VettingError::NotAllowed { .. })),
            "not an admin"
        );
        group.approve(m(1), m(3), now).expect("the admin approves");
        assert_eq!(group.state(m(3), now), Some(MemberState::Approved));
        assert!(!group.is_active(m(3), now), "approved is not yet active");
        assert_eq!(group.candidate_count(), 1);
        let active_before = group.active_count(now);
        assert!(matches!(
            group.take_part(m(3), false, now),
            Err(VettingError::PgpRequired { .. })
        ));
        group.take_part(m(3), true, now).expect("takes part");
        assert!(group.is_active(m(3), now));
        assert_eq!(
            (group.active_count(now), group.candidate_count()),
            (active_before + 1, 0)
        );
        assert!(
            group.active_count(now + 30 * DAY) < group.active_count(now),
            "idle members are not counted active"
        );
        assert_eq!(
            group.state(m(3), now + 30 * DAY),
            Some(MemberState::Idle),
            "quiet for the idle time"
        );
        assert!(!group.is_active(m(3), now + 30 * DAY));
        group.take_part(m(3), true, now + 31 * DAY).expect("reactivates");
        assert!(group.is_active(m(3), now + 31 * DAY));
        assert!(
            group.block(m(1), m(3), now + 32 * DAY).is_err(),
            "an idle admin cannot block"
        );
        group.take_part(m(1), true, now + 32 * DAY).expect("the admin returns");
        group.block(m(1), m(3), now + 32 * DAY).expect("an admin blocks");
        assert_eq!(group.state(m(3), now + 32 * DAY), Some(MemberState::Blocked));
        assert!(
            group.take_part(m(3), true, now + 32 * DAY).is_err(),
            "blocked members do nothing"
        );
        assert!(group.nominate(m(3), m(4), now + 32 * DAY).is_err());
        group.unblock(m(1), m(3), now + 33 * DAY).expect("unblock");
        assert_eq!(group.state(m(3), now + 33 * DAY), Some(MemberState::Approved));
        group.take_part(m(3), true, now + 33 * DAY).expect("active again");
    }

    #[test]
    fn refusals_name_the_rule() {
        let mut group = group();
        let err = group.nominate(m(9), m(5), 0).expect_err("a stranger nominates");
        assert!(err.to_string().contains("only active members"), "{err}");
        let err = group.vouch(m(1), m(7), "who?", 0).expect_err("unknown candidate");
        assert!(err.to_string().contains("nominate them first"), "{err}");
        let err = group.nominate(m(1), m(2), 0).expect_err("already a member");
        assert!(
            matches!(
                err,
                VettingError::WrongState {
                    state: MemberState::Active,
                    ..
                }
            ),
            "{err}"
        );
        let err = group.block(m(1), m(1), 0).expect_err("self block");
        assert!(err.to_string().contains("themselves"), "{err}");
        let err = group.unblock(m(1), m(2), 0).expect_err("not blocked");
        assert!(matches!(err, VettingError::WrongState { .. }));
    }
}
