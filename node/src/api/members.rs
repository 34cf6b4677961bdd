//! The member directory, the token owner's own profile and certificate, and the trust groups, for an API token.
//!
//! Scopes, since the token model has only `read` and `publish`: reading the directory and the groups needs `read`,
//! as any read does. Changing a profile or a certificate needs a token made for that member (`--member`: an
//! automation token is nobody's, so it has no profile) and the `publish` scope, the token model's write scope: a
//! read-only token handed to a SIEM must not be able to change where its owner is reached or what RED bundles for
//! them are sealed to. Suspended members are left out of the directory as the portal leaves them out for members.
//! Changes are audited as the token's.

use dims_identity::vetting::TrustGroup;
use dims_protocol::{GroupId, MemberId};
use dims_web::api::{ApiError, GroupDetail, GroupList, GroupMember, GroupSummary, MemberCard, MemberList, ProfileBody};

use super::{NodeApi, audited, no_read, store_error};
use crate::clock;
use crate::grant::TokenGrant;
use crate::store::{IdentityError, MemberRecord};

impl NodeApi {
    pub(super) async fn directory(&self, grant: &TokenGrant) -> Result<MemberList, ApiError> {
        grant.scopes.check_read().map_err(no_read)?;
        let mut records = self.read(|service| service.store().members()).await?;
        records.retain(|record| !record.is_suspended());
        records.sort_by_key(|record| record.profile.name.to_lowercase());
        Ok(MemberList {
            members: records.iter().map(|record| card(record, None)).collect(),
        })
    }

    pub(super) async fn member_card(&self, grant: &TokenGrant, id: String) -> Result<Option<MemberCard>, ApiError> {
        grant.scopes.check_read().map_err(no_read)?;
        let Ok(id) = id.parse::<MemberId>() else {
            return Ok(None);
        };
        self.card_of(id, true).await
    }

    pub(super) async fn own_card(&self, grant: &TokenGrant) -> Result<MemberCard, ApiError> {
        grant.scopes.check_read().map_err(no_read)?;
        let member = person(grant)?;
        self.card_of(member, true)
            .await?
            .ok_or_else(|| ApiError::not_found("this token's member is no longer on this node"))
    }

    pub(super) async fn change_profile(&self, grant: &TokenGrant, body: ProfileBody) -> Result<MemberCard, ApiError> {
        let member = writer(grant)?;
        let store = self.service.store().acting_as(audited(grant));
        let mut record = self
            .read(move |service| service.store().member(&member))
            .await?
            .ok_or_else(|| ApiError::not_found("this token's member is no longer on this node"))?;
        // A field left out is kept, an empty one cleared: the portal's profile form writes the same fields.
        let given = |text: String| {
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        };
        let profile = &mut record.profile;
        for (field, slot) in [
            (body.time_zone, &mut profile.time_zone),
            (
                body.airport.map(|code| code.to_ascii_uppercase()),
                &mut profile.nearest_airport,
            ),
            (body.email, &mut profile.contact.email),
            (body.phone, &mut profile.contact.phone),
            (body.sms, &mut profile.contact.sms),
            (body.im, &mut profile.contact.im),
        ] {
            if let Some(text) = field {
                *slot = given(text);
            }
        }
        profile
            .check()
            .map_err(|field| ApiError::bad_request(field.to_string(), "correct that field; nothing was changed"))?;
        record.updated_ms = clock::now_ms();
        store.put_member(record).await.map_err(identity_error)?;
        self.card_of(member, true)
            .await?
            .ok_or_else(|| ApiError::not_found("this token's member is no longer on this node"))
    }

    pub(super) async fn store_cert(&self, grant: &TokenGrant, armored: String) -> Result<MemberCard, ApiError> {
        let member = writer(grant)?;
        self.service
            .store()
            .acting_as(audited(grant))
            .upload_cert(member, armored.as_bytes(), clock::now_ms())
            .await
            .map_err(identity_error)?;
        self.card_of(member, true)
            .await?
            .ok_or_else(|| ApiError::not_found("this token's member is no longer on this node"))
    }

    pub(super) async fn group_list(&self, grant: &TokenGrant) -> Result<GroupList, ApiError> {
        grant.scopes.check_read().map_err(no_read)?;
        let groups = self.read(|service| service.store().trust_groups()).await?;
        let now = clock::now_ms();
        Ok(GroupList {
            groups: groups
                .iter()
                .map(|group| group_summary(group, grant.owner, now))
                .collect(),
        })
    }

    pub(super) async fn group_detail(&self, grant: &TokenGrant, id: String) -> Result<Option<GroupDetail>, ApiError> {
        grant.scopes.check_read().map_err(no_read)?;
        let Ok(id) = id.parse::<GroupId>() else {
            return Ok(None);
        };
        let Some(group) = self.read(move |service| service.store().trust_group(&id)).await? else {
            return Ok(None);
        };
        let records = self.read(|service| service.store().members()).await?;
        let name_of = |member: &MemberId| {
            records
                .iter()
                .find(|record| record.profile.id == *member)
                .map_or_else(|| member.to_string(), |record| record.profile.name.clone())
        };
        // Who is in a group and how they were vetted is the group's own business: its members and admins see it.
        let insider = group.admins.contains(&grant.owner) || group.members.contains_key(&grant.owner);
        let now = clock::now_ms();
        let mut members: Vec<GroupMember> = match insider {
            false => Vec::new(),
            true => group
                .members
                .iter()
                .map(|(member, membership)| GroupMember {
                    id: member.to_string(),
                    name: name_of(member),
                    state: group.state(*member, now).unwrap_or(membership.state).name().to_owned(),
                    nominated_by: membership.nominated_by.to_string(),
                    vouched_by: membership.vouches.iter().map(|vouch| vouch.by.to_string()).collect(),
                    approved_by: membership.approved_by.map(|by| by.to_string()),
                })
                .collect(),
        };
        members.sort_by_key(|member| member.name.to_lowercase());
        Ok(Some(GroupDetail {
            summary: group_summary(&group, grant.owner, now),
            insider,
            members,
        }))
    }

    /// The card of `member` unless they are unknown or suspended; with their certificate when `with_cert`.
    async fn card_of(&self, member: MemberId, with_cert: bool) -> Result<Option<MemberCard>, ApiError> {
        self.read(move |service| {
            let Some(record) = service.store().member(&member)? else {
                return Ok(None);
            };
            if record.is_suspended() {
                return Ok(None);
            }
            let cert = match with_cert {
                true => service.store().member_cert(&member)?.map(|cert| cert.armored),
                false => None,
            };
            Ok(Some(card(&record, cert)))
        })
        .await
    }
}

/// The member a token acts for, or a 403 for an automation token.
fn person(grant: &TokenGrant) -> Result<MemberId, ApiError> {
    grant.person().ok_or_else(|| {
        ApiError::forbidden(
            "this token acts for no member (it was made without --member), so it has no profile",
            "use a token made with dims tokens create --member ID",
        )
    })
}

/// The member whose profile a token may change: its own, with the `publish` scope.
fn writer(grant: &TokenGrant) -> Result<MemberId, ApiError> {
    let member = person(grant)?;
    if !grant.scopes.publish {
        return Err(ApiError::forbidden(
            "this token may not change its member's profile: that needs the publish scope",
            "use a token made with dims tokens create --member ID --scopes read,publish",
        ));
    }
    Ok(member)
}

fn identity_error(error: IdentityError) -> ApiError {
    match error {
        IdentityError::Store(e) => store_error(e),
        other => ApiError::bad_request(other.to_string(), "correct it and send again; nothing was changed"),
    }
}

fn card(record: &MemberRecord, certificate: Option<String>) -> MemberCard {
    let profile = &record.profile;
    MemberCard {
        id: profile.id.to_string(),
        name: profile.name.clone(),
        org: profile.org.to_string(),
        time_zone: profile.time_zone.clone(),
        airport: profile.nearest_airport.clone(),
        email: profile.contact.email.clone(),
        phone: profile.contact.phone.clone(),
        sms: profile.contact.sms.clone(),
        im: profile.contact.im.clone(),
        fingerprint: profile.pgp_fingerprint.clone(),
        certificate,
    }
}

fn group_summary(group: &TrustGroup, viewer: MemberId, now_ms: u64) -> GroupSummary {
    let policy = &group.policy;
    GroupSummary {
        id: group.id.to_string(),
        vouches_needed: policy.vouches_needed,
        pgp_required: policy.pgp_required,
        idle_after_days: policy.idle_after_ms.map(|ms| ms / 86_400_000),
        admins: group.admins.iter().map(ToString::to_string).collect(),
        active: group.active_count(now_ms),
        candidates: group.candidate_count(),
        your_state: group.state(viewer, now_ms).map(|state| state.name().to_owned()),
    }
}
