//! Each member's own view of the bundles: a triage state per bundle (seen, relevant, not relevant; a bundle with no
//! row is new to them) and the time of their previous dashboard visit, so the portal can show what is new since then.
//!
//! Both are written through the identity change path ([`IdentityChange::Triage`], [`IdentityChange::Visit`]), in the
//! writer's group commit like every other change; a triage is recorded in the audit log (who marked how many bundles
//! how), a visit is not (it happens at every dashboard load and changes nothing anyone else sees). Rows are keyed by
//! member first, so one member's states are one range, and a removed member's rows go with them.
//!
//! [`IdentityChange::Triage`]: super::IdentityChange::Triage
//! [`IdentityChange::Visit`]: super::IdentityChange::Visit

use dims_protocol::{BundleId, MemberId};
use redb::{ReadTransaction, Table, TableDefinition};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::error::During;

/// (member, bundle) → [`TriageState`] as its code.
pub(crate) const TRIAGE: TableDefinition<(&[u8; 16], &[u8; 32]), u8> = TableDefinition::new("triage_v1");
/// member → the time of their previous dashboard visit (ms).
pub(crate) const VISITS: TableDefinition<&[u8; 16], u64> = TableDefinition::new("member_visits_v1");

/// Where a member stands with a bundle. A bundle without a state is new to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriageState {
    /// Looked at.
    Seen,
    /// Matters to them: worth acting on.
    Relevant,
    /// Does not concern them.
    NotRelevant,
}

impl TriageState {
    /// Every state, in the order the portal offers them.
    pub const ALL: [TriageState; 3] = [TriageState::Seen, TriageState::Relevant, TriageState::NotRelevant];

    /// `seen`, `relevant`, `not_relevant`.
    pub fn name(self) -> &'static str {
        match self {
            TriageState::Seen => "seen",
            TriageState::Relevant => "relevant",
            TriageState::NotRelevant => "not_relevant",
        }
    }

    /// The state called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }

    fn code(self) -> u8 {
        match self {
            TriageState::Seen => 1,
            TriageState::Relevant => 2,
            TriageState::NotRelevant => 3,
        }
    }

    fn of_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.code() == code)
    }
}

/// Sets `member`'s state of each of `bundles` (`None`: back to new).
pub(crate) fn set(
    table: &mut Table<'_, (&'static [u8; 16], &'static [u8; 32]), u8>,
    member: MemberId,
    bundles: &[BundleId],
    state: Option<TriageState>,
) -> Result<(), StoreError> {
    for bundle in bundles {
        match state {
            Some(state) => {
                table
                    .insert((&member.0, &bundle.0), state.code())
                    .during("writing a triage state")?;
            }
            None => {
                table.remove((&member.0, &bundle.0)).during("clearing a triage state")?;
            }
        }
    }
    Ok(())
}

/// Deletes every row of `member` (when the member is removed).
pub(crate) fn forget(
    triage: &mut Table<'_, (&'static [u8; 16], &'static [u8; 32]), u8>,
    visits: &mut Table<'_, &'static [u8; 16], u64>,
    member: MemberId,
) -> Result<(), StoreError> {
    let (low, high) = ([0u8; 32], [0xffu8; 32]);
    triage
        .retain_in((&member.0, &low)..=(&member.0, &high), |_, _| false)
        .during("forgetting a member's triage")?;
    visits.remove(&member.0).during("forgetting a member's visit")?;
    Ok(())
}

/// `member`'s state of each of `bundles`, in order.
pub(crate) fn states(
    txn: &ReadTransaction,
    member: MemberId,
    bundles: &[BundleId],
) -> Result<Vec<Option<TriageState>>, StoreError> {
    let table = match txn.open_table(TRIAGE) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(vec![None; bundles.len()]),
        Err(source) => {
            return Err(StoreError::Table {
                table: "triage_v1",
                source,
            });
        }
    };
    bundles
        .iter()
        .map(|bundle| {
            let row = table.get((&member.0, &bundle.0)).during("reading a triage state")?;
            Ok(row.and_then(|code| TriageState::of_code(code.value())))
        })
        .collect()
}

/// `member`'s previous visit, if any.
pub(crate) fn last_visit(txn: &ReadTransaction, member: MemberId) -> Result<Option<u64>, StoreError> {
    let table = match txn.open_table(VISITS) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(source) => {
            return Err(StoreError::Table {
                table: "member_visits_v1",
                source,
            });
        }
    };
    Ok(table.get(&member.0).during("reading a visit")?.map(|at| at.value()))
}

#[cfg(test)]
mod tests {
    use super::TriageState;

    #[test]
    fn names_and_codes_round_trip() {
        for state in TriageState::ALL {
            assert_eq!(TriageState::from_name(state.name()), Some(state));
            assert_eq!(TriageState::of_code(state.code()), Some(state));
        }
        assert_eq!(TriageState::from_name("new"), None);
        assert_eq!(TriageState::of_code(0), None);
    }
}
