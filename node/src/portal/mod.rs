//! The node's side of the member portal: [`NodePortal`] implements `dims_web::portal::Portal` over the service core,
//! the OpenID Connect login with LDAP roles ([`crate::login`]) and the session store (`dims_identity::session`).
//!
//! * **Login.** `/login/start` discovers the provider on first use (and again after a failure, so a provider that
//!   was down at start-up does not need a restart), and binds the login's `state` to the browser. The callback must
//!   come back with that state; the identity crate checks `iss` (RFC 9207), the nonce, PKCE and the token's
//!   signature, refreshing the provider's keys for an unknown `kid`. The directory is asked at every login: its
//!   groups are the member's roles for this session, and a login without roles (no directory answer, no group that
//!   grants one) gets no session. Both steps are rate-limited per client address (`[portal] logins_per_minute`,
//!   [`LOGINS_PER_MINUTE`] by default).
//! * **Members.** A login is the member whose (issuer, subject) it carries; the first login of someone new creates
//!   the record (name and e-mail from the claims, org from the directory or else this node's), the same record `dims
//!   members add --issuer --subject` makes ahead of time. A suspended member is refused and their sessions ended.
//! * **Sessions** are server-side with idle and absolute timeouts; logging in replaces the browser's session id;
//!   logout ends it here. They are kept in the store (`store::sessions`, under a hash of the id, with the roles the
//!   login resolved to) and come back at start-up, so a restart of `dims run` logs nobody out; their last use is
//!   written at most once a minute.
//! * **Reading.** Every page asks the policy function as the member ([`MemberView`]: their org and active trust
//!   groups, ceiling RED); a bundle they may not see is `None`, which the portal shows like an absent one. The index's
//!   `after` cursor is sealed for the member, since the place a page stopped may be a bundle they may not see. Reads
//!   of AMBER and above are recorded in the audit log as the member's, through the portal. A search, and a bundle's
//!   related lookup, read all their values in one pass over the store (`Service::search_values`: each bundle found
//!   decoded once, only those shown verified), so a search of 1,000 values costs about one decode per bundle found.
//! * **The author's actions.** A member retracts or updates a bundle only when they are its author on this node and
//!   it is active ([`NodePortal::own_active`]); for anyone else, and for a bundle they may not see, the answer is the
//!   not-found one an absent id gets. An update is a publish whose form names the bundle it supersedes, checked again
//!   at preview and at publish, so a hand-made form cannot supersede another's bundle.
//! * **Administration** is for node admins (the `admin` role from the directory): the node's workers, its members
//!   (suspend, reinstate), every API token (revoke) and the audit log. Every admin page and form answers anyone else
//!   with the not-found page, and changes are audited as the admin's.

mod publish;
mod render;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;

use axum::http::StatusCode;
use dims_identity::directory::{Contact, Profile};
use dims_identity::ldap::Directory;
use dims_identity::oidc::OidcSettings;
use dims_identity::session::{SessionId, Sessions, Timeouts};
use dims_protocol::policy::{MemberView, Receiver};
use dims_protocol::{BundleId, MemberId, Tlp};
use dims_web::portal::{AdminMemberRow, AdminPage, AdminTokenRow, AuditPage, AuditRow, MemberAction, WorkerRow};
use dims_web::portal::{
    BulkAction, BundleView, Dashboard, Download, FederationGlance, FederationPage, IndexFilters, IndexPage,
    LoginRedirect, MemberCard, NewSession, PeerRow, Portal, PortalError, Preview, ProfileForm, PublishForm,
    SearchResults, TlpTag, TokenForm, TokenRow, Viewer,
};
use dims_web::portal::{GroupMemberRow, GroupPage, GroupRow, VetForm};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tracing::{info, warn};

use crate::api::cursor::CursorKeys;
use crate::federation::Federation;
use crate::login::{DirectoryAnswer, TestLogin};
use crate::service::Service;
use crate::store::{Actor, By, ListQuery, Login, MemberRecord, ReadKind, Stored, Surface, TriageState};
use crate::workers::{WorkerState, WorkerTable};

/// Login steps (starts and callbacks) one client address may make per minute, unless `[portal] logins_per_minute`
/// says otherwise.
pub const LOGINS_PER_MINUTE: u32 = 20;
/// The most sessions held at once.
pub const MAX_SESSIONS: usize = 10_000;
/// How often a session's last use is written to the store (ms).
pub const TOUCH_EVERY_MS: u64 = 60_000;
/// Rows per index page.
pub const PAGE_ROWS: usize = 50;
/// The most rows one index page or dashboard looks at, so a filter that matches little cannot scan the whole store.
pub const SCAN_BUDGET: usize = 5_000;
/// The most values one search takes.
pub const MAX_SEARCH_VALUES: usize = 10_000;
/// How many bundles a search shows per value.
pub const SEARCH_ROWS_PER_VALUE: usize = 20;
/// How many of a bundle's values its view looks up for related bundles, and the most related bundles it shows.
pub const RELATED: usize = 20;
/// How many of the newest bundles the dashboard counts.
pub const DASHBOARD_WINDOW: usize = 1_000;
/// Audit log entries per page.
pub const AUDIT_ROWS: usize = 50;

/// What the portal needs besides the service core.
pub struct PortalSettings {
    /// The OpenID Connect relying party's settings (`[oidc]`); `dims run` serves no portal without them. Only
    /// `dims demo`'s portal has none: it logs in through its development login instead.
    pub oidc: Option<OidcSettings>,
    /// The directory (`[ldap]`), if configured: without one no login has roles, so nobody gets in.
    pub ldap: Option<Directory>,
    /// Session timeouts.
    pub timeouts: Timeouts,
    /// What the audience `federation` means in the publish form (`publish.federation`).
    pub federation: Option<dims_protocol::FederationId>,
    /// Login steps one client address may make per minute (`[portal] logins_per_minute`).
    pub logins_per_minute: u32,
}

/// The portal over a node's service core.
pub struct NodePortal {
    service: Service,
    settings: PortalSettings,
    federation: Option<Federation>,
    login: tokio::sync::OnceCell<TestLogin>,
    sessions: Mutex<Sessions>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    cursors: CursorKeys,
    bridge: Option<crate::bridge::Bridge>,
    workers: WorkerTable,
}

impl NodePortal {
    /// The portal of `service`; `federation` is the running federation layer, for the dashboard's glance. The
    /// sessions kept in the store come back (those that have not timed out), so a restart logs nobody out.
    pub fn new(service: Service, settings: PortalSettings, federation: Option<Federation>) -> Self {
        let cursors = CursorKeys::derive(&service.derive_key("dims 2026 portal index cursors"));
        // The configuration refuses 0; should a caller pass it anyway, the default stands rather than no limit.
        let per_minute = NonZeroU32::new(settings.logins_per_minute)
            .unwrap_or(NonZeroU32::new(LOGINS_PER_MINUTE).expect("non-zero"));
        let mut sessions = Sessions::new(settings.timeouts, MAX_SESSIONS);
        match service.store().sessions() {
            Ok(kept) => {
                let now = crate::clock::now_ms();
                let restored = kept
                    .into_iter()
                    .filter(|(key, session)| sessions.restore(*key, session.clone(), now))
                    .count();
                if restored > 0 {
                    info!(restored, "portal sessions kept across the restart");
                }
            }
            Err(e) => warn!(error = %e, "the kept portal sessions could not be read; members log in again"),
        }
        Self {
            service,
            sessions: Mutex::new(sessions),
            settings,
            federation,
            login: tokio::sync::OnceCell::new(),
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            cursors,
            bridge: None,
            workers: WorkerTable::default(),
        }
    }

    /// The same portal, previewing the derivatives of `bridge`'s rules beside a draft (the node's running bridge,
    /// handed over by [`crate::node::Node::portal`] so that its keys are loaded once).
    pub fn with_bridge(mut self, bridge: Option<crate::bridge::Bridge>) -> Self {
        self.bridge = bridge;
        self
    }

    /// The portal showing node admins the status of `workers` (the node's registry; empty without one).
    pub fn with_workers(mut self, workers: WorkerTable) -> Self {
        self.workers = workers;
        self
    }

    /// Opens a session for `member` with `roles` without a provider, as `dims demo`'s development login and the
    /// portal benchmark do; the session's `Set-Cookie` value (a new session id every time). Never routed by
    /// `dims run`: a running node's portal logs in only through the provider.
    pub fn open_session(&self, member: MemberId, roles: &[&str]) -> Result<NewSession, PortalError> {
        let random = crate::keys::random_bytes::<64>().map_err(unavailable)?;
        let mut sessions = self.sessions.lock().expect("sessions");
        let (id, cookie) = sessions
            .login(member, None, &random, crate::clock::now_ms())
            .map_err(|e| PortalError::unavailable(e.to_string()))?;
        sessions.set_roles(id, roles.iter().map(|role| (*role).to_owned()).collect());
        Ok(NewSession { set_cookie: cookie })
    }

    /// The provider's settings, or the answer of a portal that has none (only the demo's, whose router has no
    /// provider login to begin with).
    fn oidc(&self) -> Result<&OidcSettings, PortalError> {
        self.settings.oidc.as_ref().ok_or_else(|| {
            PortalError::unavailable(
                "This portal has no login provider ([oidc] is not configured), so nobody can log in.",
            )
        })
    }

    /// The relying party, discovered on first use.
    async fn relying_party(&self) -> Result<&TestLogin, PortalError> {
        let oidc = self.oidc()?;
        self.login
            .get_or_try_init(|| TestLogin::discover(oidc, self.settings.ldap.clone()))
            .await
            .map_err(|e| {
                warn!(error = %e, "the portal cannot reach the OpenID provider");
                PortalError::unavailable(
                    "The community's login provider cannot be reached right now, so nobody can log in. Try again in \
                     a few minutes; if it persists, tell the node's operators.",
                )
            })
    }

    fn limit(&self, source: SocketAddr) -> Result<(), PortalError> {
        self.limiter.check_key(&source.ip()).map_err(|_| {
            PortalError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many logins",
                format!(
                    "More than {} login attempts came from your address in a minute. Wait a minute and try again.",
                    self.settings.logins_per_minute
                ),
            )
        })
    }

    /// The member who owns `login`, made on their first login.
    async fn member_for(
        &self,
        login: Login,
        claims_name: Option<String>,
        email: Option<String>,
        org: Option<dims_protocol::OrgId>,
    ) -> Result<MemberRecord, PortalError> {
        let store = self.service.store();
        if let Some(record) = store.member_by_login(&login).map_err(unavailable)? {
            return Ok(record);
        }
        let now = crate::clock::now_ms();
        let id = crate::keys::new_member_id().map_err(unavailable)?;
        let name = claims_name
            .filter(|name| dims_protocol::text::check_line("name", name, 128).is_ok())
            .unwrap_or_else(|| format!("member {}", &login.subject.chars().take(24).collect::<String>()));
        let record = MemberRecord {
            profile: Profile {
                id,
                name,
                org: org.unwrap_or_else(|| self.service.author().org.clone()),
                time_zone: None,
                nearest_airport: None,
                contact: Contact {
                    email,
                    ..Contact::default()
                },
                pgp_fingerprint: None,
            },
            login: Some(login),
            created_ms: now,
            updated_ms: now,
            suspended: None,
        };
        let mut record = record;
        if record.profile.check().is_err() {
            // A provider's e-mail claim this node cannot store is dropped rather than blocking the login.
            record.profile.contact.email = None;
        }
        self.store_new_member(record).await
    }

    async fn store_new_member(&self, record: MemberRecord) -> Result<MemberRecord, PortalError> {
        let by = By {
            actor: Actor::Member(record.profile.id),
            surface: Surface::Portal,
        };
        self.service
            .store()
            .acting_as(by)
            .put_member(record.clone())
            .await
            .map_err(unavailable)?;
        info!(member = %record.profile.id, "a member's first portal login made their record");
        Ok(record)
    }

    /// The policy's view of `viewer`.
    fn reader(&self, viewer: &Viewer) -> Result<MemberView, PortalError> {
        let member: MemberId = viewer
            .member
            .parse()
            .map_err(|_| PortalError::login_needed("log in again"))?;
        let store = self.service.store();
        let record = store
            .member(&member)
            .map_err(unavailable)?
            .ok_or_else(|| PortalError::login_needed("log in again"))?;
        Ok(MemberView {
            node: self.service.node_view(),
            member,
            org: record.profile.org,
            groups: store
                .active_groups(member, crate::clock::now_ms())
                .map_err(unavailable)?,
            ceiling: Tlp::Red,
        })
    }

    /// The author a viewer publishes as: their org (from their record) and themselves.
    fn author_of(&self, viewer: &Viewer) -> Result<dims_protocol::Author, PortalError> {
        let reader = self.reader(viewer)?;
        Ok(dims_protocol::Author {
            org: reader.org,
            member: Some(reader.member),
        })
    }

    /// The directory card of `record`, with their certificate when `with_cert`.
    fn card(&self, viewer: &Viewer, record: &MemberRecord, with_cert: bool) -> Result<MemberCard, PortalError> {
        let profile = &record.profile;
        let armored = match with_cert {
            true => self
                .service
                .store()
                .member_cert(&profile.id)
                .map_err(unavailable)?
                .map(|cert| cert.armored),
            false => None,
        };
        Ok(MemberCard {
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
            armored,
            suspended: record.is_suspended(),
            is_viewer: profile.id.to_string() == viewer.member,
        })
    }

    /// The list row of trust group `group` for `viewer`.
    fn group_row(&self, group: &dims_identity::vetting::TrustGroup, viewer: MemberId) -> GroupRow {
        let now_ms = crate::clock::now_ms();
        let policy = &group.policy;
        let mut rules = format!(
            "{} vouch{} to join",
            policy.vouches_needed,
            if policy.vouches_needed == 1 { "" } else { "es" }
        );
        if policy.pgp_required {
            rules.push_str(", an OpenPGP certificate required");
        }
        if let Some(idle) = policy.idle_after_ms {
            rules.push_str(&format!(", idle after {} days without taking part", idle / 86_400_000));
        }
        GroupRow {
            id: group.id.to_string(),
            policy: rules,
            admins: group.admins.iter().map(|admin| self.name_of(admin)).collect(),
            // Idling applied, as the REST API and the policy see members.
            active: group.active_count(now_ms),
            candidates: group.candidate_count(),
            viewer_state: group.state(viewer, now_ms).map(|state| state.name().to_owned()),
        }
    }

    /// A member's name, or their id when they are not stored.
    fn name_of(&self, member: &MemberId) -> String {
        match self.service.store().member(member) {
            Ok(Some(record)) => record.profile.name,
            _ => member.to_string(),
        }
    }

    /// The list rows of `bundles` in `member`'s triage states.
    fn rows(&self, member: MemberId, bundles: &[Stored]) -> Result<Vec<dims_web::portal::BundleRow>, PortalError> {
        let ids: Vec<BundleId> = bundles.iter().map(|stored| stored.bundle.id()).collect();
        let states = self.service.store().triage(member, &ids).map_err(unavailable)?;
        Ok(bundles
            .iter()
            .zip(states)
            .map(|(stored, state)| render::row(stored, state))
            .collect())
    }

    /// `viewer`'s policy view if they are a node admin; the not-found answer for anyone else, so that the admin pages
    /// do not even say they exist.
    fn admin_of(&self, viewer: &Viewer) -> Result<MemberView, PortalError> {
        let reader = self.reader(viewer)?;
        if !viewer.has("admin") {
            return Err(PortalError::not_found());
        }
        Ok(reader)
    }

    /// Bundle `id` if `reader` may see it, authored it on this node, and it is active: what they may retract or
    /// update. `None` otherwise, whichever the reason.
    fn own_active(&self, reader: &MemberView, id: BundleId) -> Result<Option<Stored>, PortalError> {
        let Some(stored) = self
            .service
            .get(&id, Receiver::Member(reader), crate::clock::now_ms())
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        Ok(is_own_active(&stored, reader.member, self.service.node_view().id).then_some(stored))
    }

    /// The preview and draft of `form` for `viewer`, the one path for both preview and publish: an update's
    /// superseded bundle is checked here, and one the viewer may not update is the not-found answer.
    fn prepare(
        &self,
        viewer: &Viewer,
        form: &PublishForm,
        with_derivatives: bool,
        now: u64,
    ) -> Result<(dims_protocol::Author, Preview, Option<crate::service::Draft>), PortalError> {
        let reader = self.reader(viewer)?;
        let supersedes = match form.supersedes.trim() {
            "" => None,
            text => {
                let id = text.parse::<BundleId>().map_err(|_| PortalError::not_found())?;
                self.own_active(&reader, id)?.ok_or_else(PortalError::not_found)?;
                Some(id)
            }
        };
        let author = dims_protocol::Author {
            org: reader.org,
            member: Some(reader.member),
        };
        let (preview, draft) = publish::prepare(
            &self.service,
            &author,
            self.settings.federation.as_ref(),
            self.bridge.as_ref().filter(|_| with_derivatives),
            form,
            supersedes,
            now,
        );
        Ok((author, preview, draft))
    }

    /// The service acting as the member, through the portal (for the audit log).
    fn as_member(&self, member: MemberId) -> Service {
        self.service.acting_as(By {
            actor: Actor::Member(member),
            surface: Surface::Portal,
        })
    }
}

/// Whether `stored` is `member`'s own bundle on node `me`, still active (a retraction is not itself retracted).
fn is_own_active(stored: &Stored, member: MemberId, me: dims_protocol::NodeId) -> bool {
    let body = stored.bundle.body();
    body.author.member == Some(member)
        && body.origin == me
        && !matches!(body.content, dims_protocol::Content::Retraction(_))
        && stored.status.retracted_by.is_none()
        && stored.status.superseded_by.is_none()
}

/// The refusal of a member without the publisher role.
fn not_a_publisher() -> PortalError {
    PortalError::new(
        StatusCode::FORBIDDEN,
        "Not a publisher",
        "Publishing needs the publisher role, which a directory group gives. Ask the node's operators.",
    )
}

fn unavailable(error: impl std::fmt::Display) -> PortalError {
    warn!(error = %error, "a portal request failed on the node");
    PortalError::unavailable("The node could not answer just now. Try again in a moment.")
}

impl Portal for NodePortal {
    async fn begin_login(&self, source: SocketAddr) -> Result<LoginRedirect, PortalError> {
        self.limit(source)?;
        let start = self.relying_party().await?.begin(crate::clock::now_ms());
        Ok(LoginRedirect {
            url: start.authorize_url.to_string(),
            state: start.state,
        })
    }

    async fn finish_login(
        &self,
        query: &str,
        bound: Option<&str>,
        previous: Option<&str>,
        source: SocketAddr,
    ) -> Result<NewSession, PortalError> {
        self.limit(source)?;
        let refused = |message: &str| PortalError::new(StatusCode::FORBIDDEN, "Login refused", message);
        let mut callback = self.oidc()?.redirect_url().clone();
        callback.set_query(Some(query));
        let state = callback
            .query_pairs()
            .find(|(key, _)| key == "state")
            .map(|(_, value)| value.into_owned());
        // The callback must come back to the browser that started the login (login CSRF).
        if state.is_none() || state.as_deref() != bound {
            return Err(refused(
                "This login was not started in this browser, or it took too long. Start again from the login page.",
            ));
        }
        let login = self.relying_party().await?;
        let report = login.finish(&callback, crate::clock::now_ms()).await.map_err(|e| {
            info!(error = %e, "a portal login was refused");
            refused(&format!(
                "The provider's answer was not accepted ({e}). Start again from the login page."
            ))
        })?;
        if let DirectoryAnswer::Failed(reason) = &report.directory {
            warn!(%reason, "the directory failed during a portal login; no session granted");
            return Err(PortalError::unavailable(
                "Your groups could not be read from the directory, so no access was granted. Try again in a few \
                 minutes; if it persists, tell the node's operators.",
            ));
        }
        let roles: Vec<String> = report.roles().iter().map(|role| role.as_str().to_owned()).collect();
        if roles.is_empty() {
            return Err(refused(
                "Your account has no role on this node: no directory group of yours grants one. Ask the node's \
                 operators to add you to the right group.",
            ));
        }
        let identity = report.identity.clone();
        let record = self
            .member_for(
                Login {
                    issuer: identity.issuer,
                    subject: identity.subject,
                },
                report.name.clone(),
                report.email.clone(),
                report.org().cloned(),
            )
            .await?;
        let member = record.profile.id;
        if record.is_suspended() {
            self.sessions.lock().expect("sessions").end_all_of(member);
            return Err(refused(
                "Your membership on this node is suspended. Ask the node's operators.",
            ));
        }
        let random = crate::keys::random_bytes::<64>().map_err(unavailable)?;
        let previous = previous.and_then(SessionId::parse);
        let (id, cookie, session) = {
            let mut sessions = self.sessions.lock().expect("sessions");
            let (id, cookie) = sessions
                .login(member, previous, &random, crate::clock::now_ms())
                .map_err(|e| PortalError::unavailable(e.to_string()))?;
            sessions.set_roles(id, roles);
            let session = sessions.peek(id).cloned().expect("just logged in");
            (id, cookie, session)
        };
        // Kept before the cookie is handed out, so a restart right after the login keeps it too.
        let store = self.as_member(member).store().clone();
        if let Some(previous) = previous {
            let _ = store.end_session(previous.key(), member).await;
        }
        if let Err(e) = store.put_session(id.key(), session).await {
            self.sessions.lock().expect("sessions").logout(Some(id));
            return Err(unavailable(e));
        }
        info!(%member, "portal login");
        Ok(NewSession { set_cookie: cookie })
    }

    async fn viewer(&self, session: Option<&str>) -> Result<Viewer, PortalError> {
        let id = session.and_then(SessionId::parse);
        let now = crate::clock::now_ms();
        let (member, csrf, roles, persist) = {
            let mut sessions = self.sessions.lock().expect("sessions");
            let previous = id.and_then(|id| sessions.peek(id)).map(|session| session.last_seen);
            let session = sessions
                .touch(id, now)
                .map_err(|e| PortalError::login_needed(e.to_string()))?;
            // The last use is kept at most once a minute: enough for the idle timeout to survive a restart.
            let persist = previous.is_some_and(|at| now.saturating_sub(at) >= TOUCH_EVERY_MS);
            (session.member, session.csrf.clone(), session.roles.clone(), persist)
        };
        if persist
            && let Some(id) = id
            && let Err(e) = self.service.store().touch_session(id.key(), now).await
        {
            warn!(error = %e, "keeping a portal session's last use failed");
        }
        let record = self
            .service
            .store()
            .member(&member)
            .map_err(unavailable)?
            .ok_or_else(|| PortalError::login_needed("log in again"))?;
        if record.is_suspended() {
            self.sessions.lock().expect("sessions").end_all_of(member);
            return Err(PortalError::login_needed("suspended"));
        }
        Ok(Viewer {
            member: member.to_string(),
            name: record.profile.name,
            org: record.profile.org.to_string(),
            roles,
            csrf,
        })
    }

    async fn logout(&self, session: &str) {
        let Some(id) = SessionId::parse(session) else { return };
        let member = self
            .sessions
            .lock()
            .expect("sessions")
            .peek(id)
            .map(|session| session.member);
        self.sessions.lock().expect("sessions").logout(Some(id));
        if let Some(member) = member
            && let Err(e) = self.as_member(member).store().end_session(id.key(), member).await
        {
            warn!(error = %e, "ending a kept portal session failed; it ends at its timeout");
        }
    }

    async fn dashboard(&self, viewer: &Viewer) -> Result<Dashboard, PortalError> {
        let reader = self.reader(viewer)?;
        let now = crate::clock::now_ms();
        let store = self.as_member(reader.member).store().clone();
        let last_visit = store.last_visit(reader.member).map_err(unavailable)?;
        store.record_visit(reader.member, now).await.map_err(unavailable)?;
        let service = self.service.clone();
        let query = ListQuery {
            limit: DASHBOARD_WINDOW,
            newest_first: true,
            now_ms: Some(now),
            ..ListQuery::default()
        };
        let reader_for_scan = reader.clone();
        let page = tokio::task::spawn_blocking(move || {
            service.page_within(&query, Receiver::Member(&reader_for_scan), now, SCAN_BUDGET)
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        let mut by_tlp: Vec<(TlpTag, u64)> = Vec::new();
        let mut by_kind: Vec<(String, u64)> = Vec::new();
        for stored in &page.bundles {
            let body = stored.bundle.body();
            match by_tlp.iter_mut().find(|(tag, _)| tag.0 == body.tlp) {
                Some((_, count)) => *count += 1,
                None => by_tlp.push((TlpTag(body.tlp), 1)),
            }
            match by_kind.iter_mut().find(|(kind, _)| kind == body.content.kind()) {
                Some((_, count)) => *count += 1,
                None => by_kind.push((body.content.kind().to_owned(), 1)),
            }
        }
        let ids: Vec<BundleId> = page.bundles.iter().map(|stored| stored.bundle.id()).collect();
        let states = store.triage(reader.member, &ids).map_err(unavailable)?;
        let by_triage = ["new", "seen", "relevant", "not_relevant"]
            .into_iter()
            .map(|name| {
                let count = states
                    .iter()
                    .filter(|state| state.map_or("new", TriageState::name) == name)
                    .count() as u64;
                (name.to_owned(), count)
            })
            .collect();
        by_tlp.sort_by_key(|(tag, _)| tag.0);
        by_kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let new_since_visit = page
            .bundles
            .iter()
            .filter(|stored| last_visit.is_none_or(|at| stored.bundle.body().created > at))
            .count() as u64;
        let recent: Vec<Stored> = page.bundles.iter().take(10).cloned().collect();
        self.as_member(reader.member)
            .store()
            .record_read(ReadKind::Page, recent.iter().map(|stored| &stored.bundle))
            .await
            .map_err(unavailable)?;
        let federation = match &self.federation {
            None => FederationGlance::default(),
            Some(federation) => {
                let stats = federation.stats();
                let me = self.service.node_view().id;
                let members = self
                    .service
                    .rosters()
                    .entries()
                    .iter()
                    .filter(|(_, entry)| entry.node != me)
                    .map(|(_, entry)| entry.node)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as u64;
                FederationGlance {
                    federating: true,
                    connected: stats.peers_connected,
                    members,
                    outbox: stats.outbox_depth,
                }
            }
        };
        Ok(Dashboard {
            total: page.bundles.len() as u64,
            new_since_visit,
            last_visit: last_visit.map(render::time),
            by_tlp,
            by_kind,
            by_triage,
            recent: self.rows(reader.member, &recent)?,
            federation,
        })
    }

    async fn index(&self, viewer: &Viewer, filters: &IndexFilters) -> Result<IndexPage, PortalError> {
        let reader = self.reader(viewer)?;
        let member_key = reader.member.0;
        let now = crate::clock::now_ms();
        let problem = |text: String| {
            Ok(IndexPage {
                problem: Some(text),
                ..IndexPage::default()
            })
        };
        let tlp = match filters.tlp.as_deref().map(str::parse::<Tlp>) {
            None => None,
            Some(Ok(tlp)) => Some(tlp),
            Some(Err(_)) => {
                return problem("The marking filter is not one of clear, green, amber, amber+strict, red.".into());
            }
        };
        let since_ms = match filters.since.as_deref() {
            None => None,
            Some(day) => match dims_protocol::stix::time::parse(&format!("{day}T00:00:00Z")) {
                Ok(ms) => Some(ms),
                Err(_) => return problem(format!("The date {day:?} is not a day like 2026-11-01.")),
            },
        };
        let triage = match filters.triage.as_deref() {
            None => None,
            Some("new") => Some(None),
            Some(name) => match TriageState::from_name(name) {
                Some(state) => Some(Some(state)),
                None => return problem("The triage filter is not one of new, seen, relevant, not_relevant.".into()),
            },
        };
        let status = filters.status.clone().unwrap_or_else(|| "active".to_owned());
        if !["active", "all", "retracted", "superseded"].contains(&status.as_str()) {
            return problem("The status filter is not one of active, all, retracted, superseded.".into());
        }
        let after = match filters.after.as_deref() {
            None => None,
            Some(text) => match self.cursors.open(&member_key, text) {
                Some(place) => Some(place),
                None => return problem("The page link has expired. Start again from the first page.".into()),
            },
        };
        let mut query = ListQuery {
            since_ms,
            limit: PAGE_ROWS,
            after,
            newest_first: true,
            include_hidden: status != "active",
            max_tlp: tlp,
            now_ms: Some(now),
            ..ListQuery::default()
        };
        let service = self.service.clone();
        let filters = filters.clone();
        let scan_reader = reader.clone();
        let (rows, next) = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
            let wanted = |stored: &Stored| {
                let body = stored.bundle.body();
                tlp.is_none_or(|tlp| body.tlp == tlp)
                    && filters.kind.as_deref().is_none_or(|kind| body.content.kind() == kind)
                    && filters.org.as_deref().is_none_or(|org| body.author.org.as_str() == org)
                    && match status.as_str() {
                        "retracted" => stored.status.retracted_by.is_some(),
                        "superseded" => stored.status.superseded_by.is_some(),
                        _ => true,
                    }
            };
            let mut rows = Vec::new();
            let mut scanned = 0;
            loop {
                let page = service.page_within(&query, Receiver::Member(&scan_reader), now, SCAN_BUDGET)?;
                scanned += page.bundles.len().max(1);
                let states = match triage {
                    None => vec![None; page.bundles.len()],
                    Some(_) => {
                        let ids: Vec<BundleId> = page.bundles.iter().map(|stored| stored.bundle.id()).collect();
                        service.store().triage(scan_reader.member, &ids)?
                    }
                };
                for (stored, state) in page.bundles.into_iter().zip(states) {
                    if rows.len() == PAGE_ROWS {
                        return Ok((rows, Some(query.after.expect("a page after a full one"))));
                    }
                    query.after = Some(stored.cursor());
                    if wanted(&stored) && triage.is_none_or(|wanted| wanted == state) {
                        rows.push(stored);
                    }
                }
                match page.next {
                    None => return Ok((rows, None)),
                    Some(next) => query.after = Some(next),
                }
                if rows.len() == PAGE_ROWS || scanned >= SCAN_BUDGET {
                    return Ok((rows, query.after));
                }
            }
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        self.as_member(reader.member)
            .store()
            .record_read(ReadKind::Page, rows.iter().map(|stored| &stored.bundle))
            .await
            .map_err(unavailable)?;
        Ok(IndexPage {
            rows: self.rows(reader.member, &rows)?,
            next: next.map(|place| self.cursors.seal(&member_key, place)),
            problem: None,
        })
    }

    async fn bundle(&self, viewer: &Viewer, id: BundleId) -> Result<Option<BundleView>, PortalError> {
        let reader = self.reader(viewer)?;
        let now = crate::clock::now_ms();
        let Some(stored) = self
            .service
            .get(&id, Receiver::Member(&reader), now)
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        // Related: other bundles the member may see that carry one of this one's values (the first 20 values), the
        // newest of each value first, read together in one pass over the store.
        let values: Vec<String> = render::values(&stored.bundle.body().content)
            .into_iter()
            .take(RELATED)
            .collect();
        let mut related: Vec<Stored> = Vec::new();
        for other in self
            .service
            .search_values(&values, RELATED + 1, Receiver::Member(&reader), now)
            .map_err(unavailable)?
            .into_iter()
            .flatten()
        {
            if related.len() == RELATED {
                break;
            }
            if other.bundle.id() != id && !related.iter().any(|seen| seen.bundle.id() == other.bundle.id()) {
                related.push(other);
            }
        }
        self.as_member(reader.member)
            .store()
            .record_read(
                ReadKind::Get,
                std::iter::once(&stored.bundle).chain(related.iter().map(|stored| &stored.bundle)),
            )
            .await
            .map_err(unavailable)?;
        let state = self
            .service
            .store()
            .triage(reader.member, &[id])
            .map_err(unavailable)?
            .pop()
            .flatten();
        let related = self.rows(reader.member, &related)?;
        let mut view = render::view(&stored, state, related);
        view.retractable = is_own_active(&stored, reader.member, self.service.node_view().id);
        view.updatable = view.retractable && publish::form_of(&stored.bundle).is_some();
        Ok(Some(view))
    }

    async fn bulk(
        &self,
        viewer: &Viewer,
        ids: &[BundleId],
        action: BulkAction,
    ) -> Result<Option<Download>, PortalError> {
        let reader = self.reader(viewer)?;
        let now = crate::clock::now_ms();
        // Only what the member may see is touched; any other id is passed over as an absent one is. A bundle selected
        // twice (a search lists one under each value it carries) counts once.
        let mut visible: Vec<Stored> = Vec::with_capacity(ids.len());
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        for id in ids.iter().filter(|id| seen.insert(**id)) {
            if let Some(stored) = self
                .service
                .get(id, Receiver::Member(&reader), now)
                .map_err(unavailable)?
            {
                visible.push(stored);
            }
        }
        let service = self.as_member(reader.member);
        match action {
            BulkAction::Triage(state) => {
                let state = state.and_then(TriageState::from_name);
                let ids: Vec<BundleId> = visible.iter().map(|stored| stored.bundle.id()).collect();
                if !ids.is_empty() {
                    service
                        .store()
                        .set_triage(reader.member, ids, state)
                        .await
                        .map_err(unavailable)?;
                }
                Ok(None)
            }
            BulkAction::ExportStix | BulkAction::ExportCsv => {
                service
                    .store()
                    .record_read(ReadKind::Export, visible.iter().map(|stored| &stored.bundle))
                    .await
                    .map_err(unavailable)?;
                let stamp = render::time(now).replace([':', '.'], "");
                if action == BulkAction::ExportStix {
                    let bundles: Vec<&dims_protocol::VerifiedBundle> =
                        visible.iter().map(|stored| &stored.bundle).collect();
                    // The file says whom it was made for, as `dims export stix --for member:ID` does: the member
                    // the policy judged every bundle for.
                    let here = self.service.node_view().id;
                    let context = dims_protocol::stix::ExportContext {
                        made_for: Some(dims_protocol::stix::MadeFor {
                            receiver: format!("member:{}", reader.member),
                            description: format!(
                                "{} of org {} at node {here}, who selected these bundles in the portal",
                                self.name_of(&reader.member),
                                reader.org
                            ),
                            exporter: here,
                            parties: vec![dims_protocol::stix::Party::Org(here, reader.org.clone())],
                            made_ms: now,
                        }),
                        ..dims_protocol::stix::ExportContext::default()
                    };
                    let export = dims_protocol::stix::export(&bundles, &context).map_err(unavailable)?;
                    let body = serde_json::to_vec_pretty(&export.bundle).map_err(unavailable)?;
                    Ok(Some(Download {
                        content_type: "application/stix+json;version=2.1",
                        filename: format!("dims-selection-{stamp}.json"),
                        body,
                    }))
                } else {
                    Ok(Some(Download {
                        content_type: "text/csv; charset=utf-8",
                        filename: format!("dims-selection-{stamp}.csv"),
                        body: render::csv(&visible).map_err(unavailable)?,
                    }))
                }
            }
        }
    }

    async fn preview(&self, viewer: &Viewer, form: &PublishForm) -> Result<Preview, PortalError> {
        let (_, preview, _) = self.prepare(viewer, form, true, crate::clock::now_ms())?;
        Ok(preview)
    }

    async fn publish(&self, viewer: &Viewer, form: &PublishForm) -> Result<BundleId, PortalError> {
        self.reader(viewer)?;
        if !viewer.has("publisher") && !viewer.has("admin") {
            return Err(not_a_publisher());
        }
        let now = crate::clock::now_ms();
        let (author, preview, draft) = self.prepare(viewer, form, false, now)?;
        let Some(draft) = draft else {
            return Err(PortalError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not publishable",
                preview.problems.join(" "),
            ));
        };
        let member = author.member.expect("a portal author is a member");
        let service = self.as_member(member);
        let bundle = service
            .sign_as(&author, draft, now)
            .map_err(|e| PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not publishable", e.to_string()))?;
        let bundle = service.publish_signed(bundle).await.map_err(|e| match e {
            crate::service::PublishError::Store(_) => unavailable(e),
            other => PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not publishable", other.to_string()),
        })?;
        info!(%member, id = %bundle.id(), "published through the portal");
        Ok(bundle.id())
    }

    async fn search(&self, viewer: &Viewer, text: &str) -> Result<SearchResults, PortalError> {
        let reader = self.reader(viewer)?;
        let found = crate::intake::freetext(text, crate::intake::FreetextOptions { max: MAX_SEARCH_VALUES });
        let mut results = SearchResults {
            asked: found.indicators.len(),
            rejected: found.rejected.iter().map(ToString::to_string).collect(),
            ..SearchResults::default()
        };
        if let Some(cut) = &found.cut {
            results.rejected.push(cut.to_string());
        }
        let service = self.service.clone();
        let values: Vec<(String, String)> = found
            .indicators
            .iter()
            .map(|found| (found.value.to_string(), found.value.kind().name().to_owned()))
            .collect();
        let now = crate::clock::now_ms();
        let scan_reader = reader.clone();
        let hits = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
            let texts: Vec<String> = values.iter().map(|(value, _)| value.clone()).collect();
            let found = service.search_values(&texts, SEARCH_ROWS_PER_VALUE, Receiver::Member(&scan_reader), now)?;
            Ok(values
                .into_iter()
                .zip(found)
                .map(|((value, kind), bundles)| (value, kind, bundles))
                .collect::<Vec<_>>())
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        let shown: Vec<&dims_protocol::VerifiedBundle> = hits
            .iter()
            .flat_map(|(_, _, bundles)| bundles.iter().map(|stored| &stored.bundle))
            .collect();
        self.as_member(reader.member)
            .store()
            .record_read(ReadKind::Page, shown)
            .await
            .map_err(unavailable)?;
        // The member's triage states of every row, in one read.
        let ids: Vec<BundleId> = hits
            .iter()
            .flat_map(|(_, _, bundles)| bundles.iter().map(|stored| stored.bundle.id()))
            .collect();
        let mut states = self
            .service
            .store()
            .triage(reader.member, &ids)
            .map_err(unavailable)?
            .into_iter();
        for (value, kind, bundles) in hits {
            if bundles.is_empty() {
                results.missing.push(value);
            } else {
                let rows = bundles
                    .iter()
                    .map(|stored| render::row(stored, states.next().flatten()))
                    .collect();
                results.found.push((value, kind, rows));
            }
        }
        Ok(results)
    }

    async fn members(&self, viewer: &Viewer) -> Result<Vec<MemberCard>, PortalError> {
        self.reader(viewer)?;
        let admin = viewer.has("admin");
        let mut records = self.service.store().members().map_err(unavailable)?;
        records.retain(|record| admin || !record.is_suspended());
        records.sort_by_key(|record| record.profile.name.to_lowercase());
        records.iter().map(|record| self.card(viewer, record, false)).collect()
    }

    async fn member(&self, viewer: &Viewer, id: &str) -> Result<Option<MemberCard>, PortalError> {
        self.reader(viewer)?;
        let Ok(id) = id.parse::<MemberId>() else {
            return Ok(None);
        };
        let Some(record) = self.service.store().member(&id).map_err(unavailable)? else {
            return Ok(None);
        };
        if record.is_suspended() && !viewer.has("admin") {
            return Ok(None);
        }
        self.card(viewer, &record, true).map(Some)
    }

    async fn update_profile(&self, viewer: &Viewer, form: &ProfileForm) -> Result<(), PortalError> {
        let reader = self.reader(viewer)?;
        let store = self.as_member(reader.member).store().clone();
        let mut record = store
            .member(&reader.member)
            .map_err(unavailable)?
            .ok_or_else(|| PortalError::login_needed("log in again"))?;
        let given = |text: &str| {
            let text = text.trim();
            (!text.is_empty()).then(|| text.to_owned())
        };
        let profile = &mut record.profile;
        profile.time_zone = given(&form.time_zone);
        profile.nearest_airport = given(&form.airport).map(|code| code.to_ascii_uppercase());
        profile.contact.email = given(&form.email);
        profile.contact.phone = given(&form.phone);
        profile.contact.sms = given(&form.sms);
        profile.contact.im = given(&form.im);
        if let Err(field) = profile.check() {
            return Err(PortalError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not saved",
                field.to_string(),
            ));
        }
        record.updated_ms = crate::clock::now_ms();
        store.put_member(record).await.map_err(|e| match e {
            crate::store::IdentityError::Store(_) => unavailable(e),
            other => PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not saved", other.to_string()),
        })
    }

    async fn upload_cert(&self, viewer: &Viewer, armored: &str) -> Result<(), PortalError> {
        let reader = self.reader(viewer)?;
        let store = self.as_member(reader.member).store().clone();
        store
            .upload_cert(reader.member, armored.as_bytes(), crate::clock::now_ms())
            .await
            .map(drop)
            .map_err(|e| match e {
                crate::store::IdentityError::Store(_) => unavailable(e),
                other => PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not stored", other.to_string()),
            })
    }

    async fn federation(&self, viewer: &Viewer) -> Result<FederationPage, PortalError> {
        self.reader(viewer)?;
        let Some(federation) = &self.federation else {
            return Ok(FederationPage::default());
        };
        let me = self.service.node_view().id;
        let rosters = self.service.rosters().rosters();
        let stats = federation.stats();
        let peers = federation.peers().await.map_err(unavailable)?;
        let entry_of = |node: &dims_protocol::NodeId| rosters.iter().find_map(|roster| roster.entry(node).cloned());
        let mut rows: Vec<PeerRow> = peers
            .iter()
            .filter(|peer| peer.node != me)
            .map(|peer| {
                let entry = entry_of(&peer.node);
                PeerRow {
                    name: entry
                        .as_ref()
                        .map_or_else(|| "(not on a pinned roster)".to_owned(), |e| e.name.clone()),
                    node: peer.node.to_string().chars().take(12).collect(),
                    role: entry
                        .as_ref()
                        .map_or_else(String::new, |e| format!("{}, up to {}", e.role, e.ceiling.label())),
                    connected: peer.connected,
                    gossip: peer.gossip,
                    score: peer.score.map(|score| format!("{score:.1}")),
                    last_sync: peer.last_sync.as_ref().map(|sync| {
                        format!(
                            "{} rounds, fetched {}, offered {}, {} ms",
                            sync.rounds, sync.need, sync.have, sync.millis
                        )
                    }),
                    delivery_failures: peer.delivery_failures,
                    last_error: peer.last_error.clone(),
                }
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(FederationPage {
            federating: true,
            rosters: rosters
                .iter()
                .map(|roster| {
                    let roster = roster.roster();
                    (
                        roster.federation.to_string(),
                        roster.version,
                        render::time(roster.issued),
                        roster.nodes.len(),
                    )
                })
                .collect(),
            connected: stats.peers_connected,
            outbox: stats.outbox_depth,
            delivered: stats.delivered,
            abandoned: stats.abandoned,
            sync_rounds: stats.sync_rounds,
            peers: rows,
        })
    }

    async fn tokens(&self, viewer: &Viewer) -> Result<Vec<TokenRow>, PortalError> {
        let reader = self.reader(viewer)?;
        let now = crate::clock::now_ms();
        let mut tokens: Vec<TokenRow> = self
            .service
            .store()
            .tokens()
            .map_err(unavailable)?
            .into_iter()
            .filter(|record| record.owner == reader.member)
            .map(|record| render::token_row(&record, now))
            .collect();
        tokens.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(tokens)
    }

    async fn create_token(&self, viewer: &Viewer, form: &TokenForm) -> Result<String, PortalError> {
        use dims_identity::token::{AudienceScope, Scopes};
        let reader = self.reader(viewer)?;
        let refuse = |message: String| PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not created", message);
        let now = crate::clock::now_ms();
        let label = form.label.trim().to_owned();
        dims_protocol::text::check_line("label", &label, 64).map_err(|e| refuse(e.to_string()))?;
        let expires = crate::grant::parse_expiry(&form.expires, now).map_err(|e| refuse(format!("Expires: {e}")))?;
        let tlp_ceiling: Tlp = form
            .ceiling
            .parse()
            .map_err(|_| refuse("Choose a ceiling: clear, green, amber, amber+strict or red.".to_owned()))?;
        let mut audiences = Vec::new();
        for name in &form.audiences {
            audiences.push(match name.as_str() {
                "org" => AudienceScope::Org,
                "community" => AudienceScope::Community,
                "federation" => AudienceScope::Federation,
                "recipients" => AudienceScope::Recipients,
                other => return Err(refuse(format!("{other:?} is not an audience"))),
            });
        }
        if form.publish && !(viewer.has("publisher") || viewer.has("admin")) {
            return Err(PortalError::new(
                StatusCode::FORBIDDEN,
                "Not a publisher",
                "A token that publishes needs the publisher role, which you do not have.".to_owned(),
            ));
        }
        if form.publish && audiences.is_empty() {
            return Err(refuse(
                "A token that publishes needs the audiences it may publish to.".to_owned(),
            ));
        }
        if !form.read && !form.publish {
            return Err(refuse("A token must at least read or publish.".to_owned()));
        }
        let scopes = Scopes {
            read: form.read,
            publish: form.publish,
            tlp_ceiling,
            audiences: if form.publish { audiences } else { Vec::new() },
        };
        let random = crate::keys::random_bytes::<40>().map_err(unavailable)?;
        let (text, record) =
            dims_identity::token::issue(&random, label, reader.member, reader.org.clone(), scopes, now, expires);
        self.as_member(reader.member)
            .store()
            .put_token(record)
            .await
            .map_err(|e| match e {
                crate::store::IdentityError::Store(_) => unavailable(e),
                other => refuse(other.to_string()),
            })?;
        Ok(text)
    }

    async fn revoke_token(&self, viewer: &Viewer, id: &str) -> Result<(), PortalError> {
        let reader = self.reader(viewer)?;
        let id: dims_identity::token::TokenId = id.parse().map_err(|_| PortalError::not_found())?;
        let own = self
            .service
            .store()
            .tokens()
            .map_err(unavailable)?
            .into_iter()
            .any(|record| record.id == id && record.owner == reader.member);
        if !own {
            return Err(PortalError::not_found());
        }
        self.as_member(reader.member)
            .revoke_token(id, crate::clock::now_ms())
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn groups(&self, viewer: &Viewer) -> Result<Vec<GroupRow>, PortalError> {
        let reader = self.reader(viewer)?;
        let groups = self.service.store().trust_groups().map_err(unavailable)?;
        Ok(groups
            .iter()
            .map(|group| self.group_row(group, reader.member))
            .collect())
    }

    async fn group(&self, viewer: &Viewer, id: &str) -> Result<Option<GroupPage>, PortalError> {
        let reader = self.reader(viewer)?;
        let Ok(id) = id.parse::<dims_protocol::GroupId>() else {
            return Ok(None);
        };
        let Some(group) = self.service.store().trust_group(&id).map_err(unavailable)? else {
            return Ok(None);
        };
        let admin = group.admins.contains(&reader.member);
        // Who is in a group and how they were vetted is the group's own business: its members, its admins and the
        // node's admins see it.
        let insider = admin || group.members.contains_key(&reader.member) || viewer.has("admin");
        let mut page = GroupPage {
            row: self.group_row(&group, reader.member),
            insider,
            admin,
            ..GroupPage::default()
        };
        if insider {
            page.members = group
                .members
                .iter()
                .map(|(member, membership)| GroupMemberRow {
                    id: member.to_string(),
                    name: self.name_of(member),
                    state: membership.state.name().to_owned(),
                    nominated_by: self.name_of(&membership.nominated_by),
                    vouches: membership
                        .vouches
                        .iter()
                        .map(|vouch| (self.name_of(&vouch.by), vouch.attestation.clone()))
                        .collect(),
                    approved_by: membership.approved_by.as_ref().map(|by| self.name_of(by)),
                })
                .collect();
            page.members.sort_by_key(|member| member.name.to_lowercase());
            let mut nominees: Vec<(String, String)> = self
                .service
                .store()
                .members()
                .map_err(unavailable)?
                .into_iter()
                .filter(|record| !record.is_suspended() && !group.members.contains_key(&record.profile.id))
                .map(|record| (record.profile.id.to_string(), record.profile.name))
                .collect();
            nominees.sort_by_key(|(_, name)| name.to_lowercase());
            page.nominees = nominees;
        }
        Ok(Some(page))
    }

    async fn vet(&self, viewer: &Viewer, group: &str, form: &VetForm) -> Result<(), PortalError> {
        use crate::store::VettingStep;
        let reader = self.reader(viewer)?;
        let refuse = |message: String| PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not done", message);
        let group: dims_protocol::GroupId = group.parse().map_err(|_| PortalError::not_found())?;
        let member: MemberId = form
            .member
            .parse()
            .map_err(|_| refuse("Choose the member this step is about.".to_owned()))?;
        let by = reader.member;
        let step = match form.step.as_str() {
            "nominate" => VettingStep::Nominate { by, candidate: member },
            "vouch" => {
                let attestation = form.attestation.trim().to_owned();
                if attestation.is_empty() {
                    return Err(refuse(
                        "Say how you know them: a vouch carries its attestation.".to_owned(),
                    ));
                }
                VettingStep::Vouch {
                    by,
                    candidate: member,
                    attestation,
                }
            }
            "approve" => VettingStep::Approve { by, candidate: member },
            "block" => VettingStep::Block { by, member },
            "unblock" => VettingStep::Unblock { by, member },
            other => return Err(refuse(format!("{other:?} is not a vetting step."))),
        };
        self.as_member(by)
            .store()
            .vet(group, step, crate::clock::now_ms())
            .await
            .map_err(|e| match e {
                crate::store::IdentityError::Store(_) => unavailable(e),
                crate::store::IdentityError::UnknownGroup(_) => PortalError::not_found(),
                other => refuse(other.to_string()),
            })
    }

    async fn retract(&self, viewer: &Viewer, id: BundleId, reason: &str) -> Result<(), PortalError> {
        let reader = self.reader(viewer)?;
        if self.own_active(&reader, id)?.is_none() {
            return Err(PortalError::not_found());
        }
        if !viewer.has("publisher") && !viewer.has("admin") {
            return Err(not_a_publisher());
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(PortalError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Not retracted",
                "Say why it is retracted: every holder reads the reason.",
            ));
        }
        let author = self.author_of(viewer)?;
        let retraction = self
            .as_member(reader.member)
            .retract_as(&author, id, reason.to_owned(), crate::clock::now_ms())
            .await
            .map_err(|e| match e {
                crate::service::PublishError::Store(_) => unavailable(e),
                other => PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not retracted", other.to_string()),
            })?;
        info!(member = %reader.member, %id, retraction = %retraction.id(), "retracted through the portal");
        Ok(())
    }

    async fn update_form(&self, viewer: &Viewer, id: BundleId) -> Result<Option<PublishForm>, PortalError> {
        let reader = self.reader(viewer)?;
        Ok(self
            .own_active(&reader, id)?
            .and_then(|stored| publish::form_of(&stored.bundle)))
    }

    async fn admin(&self, viewer: &Viewer) -> Result<AdminPage, PortalError> {
        let reader = self.admin_of(viewer)?;
        let store = self.service.store();
        let workers = self
            .workers
            .snapshot()
            .into_iter()
            .map(|status| {
                let unhealthy = status.is_unhealthy();
                let (state, reason) = match status.state {
                    WorkerState::Running => ("running".to_owned(), None),
                    WorkerState::Idle => ("idle".to_owned(), None),
                    WorkerState::Stopped => ("stopped".to_owned(), None),
                    WorkerState::Failed { reason } => ("failed".to_owned(), Some(reason)),
                    WorkerState::Restarting {
                        reason,
                        attempt,
                        retry_in_ms,
                    } => (
                        format!(
                            "restarting (attempt {attempt}, again in {} s)",
                            retry_in_ms.div_ceil(1_000)
                        ),
                        Some(reason),
                    ),
                };
                WorkerRow {
                    name: status.name,
                    state,
                    reason,
                    since: render::time(status.since_ms),
                    unhealthy,
                }
            })
            .collect();
        let mut records = store.members().map_err(unavailable)?;
        records.sort_by_key(|record| record.profile.name.to_lowercase());
        let members = records
            .iter()
            .map(|record| AdminMemberRow {
                id: record.profile.id.to_string(),
                name: record.profile.name.clone(),
                org: record.profile.org.to_string(),
                suspended: record
                    .suspended
                    .as_ref()
                    .map(|s| format!("since {}: {}", render::time(s.since_ms), s.reason)),
                is_viewer: record.profile.id == reader.member,
            })
            .collect();
        let now = crate::clock::now_ms();
        let mut tokens: Vec<AdminTokenRow> = store
            .tokens()
            .map_err(unavailable)?
            .into_iter()
            .map(|record| AdminTokenRow {
                owner: self.name_of(&record.owner),
                token: render::token_row(&record, now),
            })
            .collect();
        tokens.sort_by(|a, b| a.owner.cmp(&b.owner).then_with(|| a.token.label.cmp(&b.token.label)));
        Ok(AdminPage {
            workers,
            members,
            tokens,
        })
    }

    async fn audit(&self, viewer: &Viewer, before: Option<u64>) -> Result<AuditPage, PortalError> {
        self.admin_of(viewer)?;
        let store = self.service.store().clone();
        let query = crate::store::AuditQuery {
            limit: Some(AUDIT_ROWS),
            before_seq: before,
            ..crate::store::AuditQuery::default()
        };
        let (mut entries, total) = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
            Ok((store.audit_entries(&query)?, store.audit_len()?))
        })
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
        entries.reverse();
        // Sequence numbers start at 1; a page that reaches entry 1 (or entries pruned before it) is the last.
        let older = match entries.last() {
            Some(oldest) if entries.len() == AUDIT_ROWS && oldest.seq > 1 => Some(oldest.seq),
            _ => None,
        };
        Ok(AuditPage {
            entries: entries
                .into_iter()
                .map(|entry| AuditRow {
                    seq: entry.seq,
                    at: render::time(entry.at_ms),
                    actor: entry.actor.to_string(),
                    surface: entry.surface.name().to_owned(),
                    action: entry.action.name().to_owned(),
                    object: entry.action.object(),
                })
                .collect(),
            older,
            total,
        })
    }

    async fn member_action(&self, viewer: &Viewer, form: &MemberAction) -> Result<(), PortalError> {
        let reader = self.admin_of(viewer)?;
        let refuse = |message: &str| PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not done", message);
        let Ok(member) = form.member.parse::<MemberId>() else {
            return Err(refuse("Choose a member of this node."));
        };
        if self.service.store().member(&member).map_err(unavailable)?.is_none() {
            return Err(refuse("There is no such member on this node."));
        }
        if member == reader.member {
            return Err(refuse(
                "You cannot suspend or reinstate yourself; ask another node admin.",
            ));
        }
        let store = self.as_member(reader.member).store().clone();
        let now = crate::clock::now_ms();
        let identity_error = |e: crate::store::IdentityError| match e {
            crate::store::IdentityError::Store(_) => unavailable(e),
            other => PortalError::new(StatusCode::UNPROCESSABLE_ENTITY, "Not done", other.to_string()),
        };
        match form.action.as_str() {
            "suspend" => {
                let reason = form.reason.trim();
                if reason.is_empty() {
                    return Err(refuse(
                        "Say why they are suspended: the reason is kept with the suspension.",
                    ));
                }
                // The store revokes their tokens with the suspension; their sessions end here and now.
                store
                    .suspend_member(member, now, reason.to_owned())
                    .await
                    .map_err(identity_error)?;
                self.sessions.lock().expect("sessions").end_all_of(member);
                info!(admin = %reader.member, %member, "member suspended through the portal");
            }
            "reinstate" => {
                store.reinstate_member(member, now).await.map_err(identity_error)?;
                info!(admin = %reader.member, %member, "member reinstated through the portal");
            }
            other => return Err(refuse(&format!("{other:?} is not suspend or reinstate."))),
        }
        Ok(())
    }

    async fn admin_revoke_token(&self, viewer: &Viewer, id: &str) -> Result<(), PortalError> {
        let reader = self.admin_of(viewer)?;
        let id: dims_identity::token::TokenId = id.parse().map_err(|_| PortalError::not_found())?;
        if self.service.store().token(&id).map_err(unavailable)?.is_none() {
            return Err(PortalError::not_found());
        }
        self.as_member(reader.member)
            .revoke_token(id, crate::clock::now_ms())
            .await
            .map(drop)
            .map_err(unavailable)
    }
}
