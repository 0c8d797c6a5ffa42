//! Request and response bodies of guildd's HTTP API, shared by the daemon and the CLI so the
//! two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::member::{Member, Profile};
use crate::skills::{Helper, SkillMovement, SkillSummary, StaleRatings};

/// Every error response: `{ "error": { "code", "message" } }`, plus `details` where a
/// route has more to say.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `not_found`, `conflict`, `unauthorized`, ...
    pub code: String,
    /// One line for people.
    pub message: String,
    /// Machine-readable detail where a route has more to say, such as the report of an
    /// import refused for its bad rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitRequest {
    /// Community name.
    pub community: String,
    #[serde(default)]
    pub purpose: String,
    /// The local member's profile; `name` is required.
    pub me: Profile,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitResponse {
    pub community_id: String,
    pub member_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    pub version: String,
    pub data_dir: String,
    pub api_addr: String,
    pub community: Option<CommunitySummary>,
    /// The member this daemon acts for.
    pub me: Option<MemberRef>,
    pub documents: Vec<DocStatus>,
    /// This daemon's libp2p peer id.
    pub peer_id: String,
    /// Where it listens for peers (actual addresses, ports resolved).
    pub listen_addrs: Vec<String>,
    pub peers: Vec<PeerStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerStatus {
    pub peer_id: String,
    pub connected: bool,
    pub addrs: Vec<String>,
    /// Proved membership of this community on the current connection.
    pub member: bool,
    /// RFC 3339 time of the last completed sync exchange.
    pub last_sync: Option<String>,
    /// The peer holds exactly our heads for every document we share.
    pub in_sync: bool,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// How the connection runs, while connected: `direct` (one of us dialled the other),
    /// `relayed` (through a hub's relay: see `via_hub`) or `hole-punched` (made direct from
    /// a relayed one).
    #[serde(default)]
    pub path: Option<String>,
    /// The hub's peer id, for a relayed connection.
    #[serde(default)]
    pub via_hub: Option<String>,
}

/// The community's hubs, and how this daemon stands with them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubsReport {
    pub hubs: Vec<HubStatus>,
    /// What AutoNAT found: `public` (a hub dialled us back), `private` (behind a NAT or a
    /// firewall) or `unknown` (no hub has tested us yet).
    pub reachability: String,
    /// Our addresses a hub reached us on (when public).
    pub reachable_addrs: Vec<String>,
    /// This daemon serves as a hub (`guildd run --hub`).
    pub serving: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubStatus {
    /// Its libp2p address, ending with `/p2p/<peer id>`.
    pub addr: String,
    /// Name of the steward who added it.
    pub added_by: String,
    /// RFC 3339.
    pub added: String,
    /// Connected to it now.
    pub connected: bool,
    /// We hold a relay reservation on it (members reach us through it).
    pub reserved: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HubRequest {
    /// The hub's libp2p address with its peer id, e.g.
    /// `/ip4/203.0.113.7/tcp/4717/p2p/12D3KooW...`.
    pub addr: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddPeerRequest {
    /// A libp2p multiaddr, e.g. `/ip4/192.0.2.7/tcp/4717`.
    pub addr: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Peers {
    /// Addresses this daemon keeps dialling.
    pub dialled: Vec<String>,
    pub peers: Vec<PeerStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    /// Give this to the new member: `guild join TICKET --name NAME`. It holds the community
    /// secret, so share it like a password.
    pub ticket: String,
    pub community_id: String,
    pub addrs: Vec<String>,
}

/// `POST /api/invites`: a new invitation.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteRequest {
    /// How many daemons may join with it (default 1).
    #[serde(default)]
    pub uses: Option<u64>,
    /// When it stops working: a duration from now (`90m`, `12h`, `7d`) or an RFC 3339 time
    /// (default 7 days).
    #[serde(default)]
    pub expires: Option<String>,
}

/// One invitation, as `guild invite list` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InviteInfo {
    /// A short id (a prefix of the hash the community document lists).
    pub id: String,
    pub by: MemberRef,
    /// RFC 3339.
    pub expires: String,
    pub uses: u64,
    pub used: u64,
    /// `open`, `used up`, `expired`, `revoked`.
    pub state: String,
}

/// `POST /api/invites/revoke`: one invitation by id (or id prefix), or every open one.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevokeRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub all: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Revoked {
    /// Ids of the invitations revoked.
    pub revoked: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JoinRequest {
    pub ticket: String,
    pub me: Profile,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommunitySummary {
    pub id: String,
    pub name: String,
    pub purpose: String,
    pub members: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberRef {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DocStatus {
    pub id: String,
    pub kind: String,
    /// Automerge heads, hex, sorted: two daemons hold the same document state exactly when
    /// these are equal.
    pub heads: Vec<String>,
}

/// A member as added or updated, with anything worth a second look (a name already in use).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberSaved {
    #[serde(flatten)]
    pub member: Member,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateRequest {
    /// A skill name, whatever its case and accents, or a unique prefix of one.
    pub skill: String,
    /// 0-4: none, aware, practising, experienced, can teach.
    #[cfg_attr(feature = "openapi", schema(maximum = 4))]
    pub level: u8,
    /// Wants to grow it; absent keeps what the member said before.
    #[serde(default)]
    pub grow: Option<bool>,
    /// Rate on behalf of this member (someone who does not run Guild yet); default: me.
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddSkillRequest {
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoResponse {
    pub skill: String,
    /// Practising or better, can-teach first.
    pub helpers: Vec<Helper>,
    /// Who wants to grow it, furthest from it first: pair them with the helpers.
    #[serde(default)]
    pub learners: Vec<Helper>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Matrix {
    /// Column order for every row.
    pub skills: Vec<String>,
    pub rows: Vec<MatrixRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatrixRow {
    pub member_id: String,
    pub name: String,
    pub team: String,
    /// One per skill column; `None` where the member has not rated the skill.
    pub levels: Vec<Option<u8>>,
    /// One per skill column: wants to grow it.
    pub grow: Vec<bool>,
}

impl Matrix {
    /// The matrix as CSV records, header first: member id, name, team, then per skill its
    /// level (empty if unrated) and "yes" if the member wants to grow it. Text that a
    /// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is quoted with `'`:
    /// names come from other members' daemons.
    pub fn csv_records(&self) -> Vec<Vec<String>> {
        let mut header = vec!["member_id".to_owned(), "name".into(), "team".into()];
        for skill in &self.skills {
            header.push(not_a_formula(skill));
            header.push(not_a_formula(&format!("{skill} (grow)")));
        }
        let rows = self.rows.iter().map(|row| {
            let mut record = vec![
                not_a_formula(&row.member_id),
                not_a_formula(&row.name),
                not_a_formula(&row.team),
            ];
            for (level, grow) in row.levels.iter().zip(&row.grow) {
                record.push(level.map(|l| l.to_string()).unwrap_or_default());
                record.push(if *grow { "yes".into() } else { String::new() });
            }
            record
        });
        std::iter::once(header).chain(rows).collect()
    }
}

/// A CSV cell that spreadsheets show as text, never evaluate (OWASP's CSV injection advice).
fn not_a_formula(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StrengthsAndGaps {
    pub strengths: Vec<SkillSummary>,
    pub gaps: Vec<SkillSummary>,
    /// The day the audit is compared with (`YYYY-MM-DD`, end of day).
    #[serde(default)]
    pub since: String,
    /// True when `since` is the default (six months ago) rather than a day asked for.
    #[serde(default)]
    pub since_is_default: bool,
    /// Skills whose strength changed since then, biggest change first.
    #[serde(default)]
    pub movement: Vec<SkillMovement>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaleReport {
    /// Ratings last changed before this day (`YYYY-MM-DD`) are stale.
    pub older_than: String,
    /// Members to nudge to re-rate, the longest-untouched first.
    pub stale: Vec<StaleRatings>,
    /// Members who have rated nothing yet.
    pub never_rated: Vec<MemberRef>,
}

// ----- sessions -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub id: String,
    pub title: String,
    pub kind: String,
    /// RFC 3339 with the session's offset; the CLI shows it in the reader's time zone.
    pub start: String,
    pub end: String,
    pub place: String,
    pub online: String,
    pub hosts: Vec<MemberRef>,
    /// Guest speakers: the community's guests, then names typed before guests were kept
    /// (those have an empty id).
    pub guests: Vec<GuestRef>,
    pub description: String,
    /// Who answered, by name.
    pub rsvps: Vec<RsvpView>,
    /// Members who came (members only: the figures health counts).
    pub attendance: Vec<MemberRef>,
    /// Guests who came, kept apart from members.
    #[serde(default)]
    pub guest_attendance: Vec<GuestRef>,
    pub notes: String,
    pub proposals: usize,
    /// Who created it; `None` for sessions from before it was recorded.
    #[serde(default)]
    pub created_by: Option<MemberRef>,
    #[serde(default)]
    pub cancelled: Option<CancellationView>,
    /// Rooms or tracks running in parallel (unconferences).
    #[serde(default)]
    pub rooms: Vec<String>,
    /// Votes per member (unconferences); 0 means no limit.
    #[serde(default)]
    pub vote_budget: u64,
    /// Scheduled slots, by time then room order.
    #[serde(default)]
    pub slots: Vec<SlotView>,
    /// Slots that cannot both happen as planned (after concurrent moves), in words.
    #[serde(default)]
    pub clashes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestRef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub organisation: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RsvpView {
    #[serde(flatten)]
    pub member: MemberRef,
    /// going, maybe or not-going.
    pub status: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancellationView {
    pub at: String,
    pub by: MemberRef,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlotView {
    /// The proposal's id.
    pub proposal: String,
    pub title: String,
    pub kind: String,
    pub by: MemberRef,
    pub start: String,
    pub end: String,
    /// Empty for a session with one room.
    pub room: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgendaItem {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub by: MemberRef,
    /// Votes that count (each member's earliest votes within the session's budget).
    pub votes: usize,
    pub slot: Option<crate::session::Slot>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RsvpRequest {
    pub status: String,
    #[serde(default)]
    pub member: Option<String>,
}

/// Who came (POST), or whose attendance entries to take back (DELETE).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttendRequest {
    /// Members (id, prefix or name); with no guests either, empty means me.
    #[serde(default)]
    pub members: Vec<String>,
    /// Guests (id, prefix or name) from the community's guest list.
    #[serde(default)]
    pub guests: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotesRequest {
    /// A paragraph added at the end of the write-up.
    #[serde(default)]
    pub append: Option<String>,
    /// The whole write-up, replacing it (merged as a character diff).
    #[serde(default)]
    pub set: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProposeRequest {
    pub title: String,
    /// talk, discussion or help.
    pub kind: String,
    /// The presenter, if not me (a member: guests cannot propose).
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VoteRequest {
    /// true votes, false withdraws the vote.
    pub vote: bool,
    /// Who votes, if not me (a member: guests cannot vote).
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleRequest {
    /// How many of the best-voted proposals get a slot [default: as many as fit]; not 0.
    #[serde(default)]
    pub top: Option<usize>,
    /// Start of the first slot, as people write times (see `crdt_model::when`).
    pub from: String,
    #[serde(default = "thirty")]
    pub minutes: u32,
    /// The writer's time zone for `from` without an offset.
    #[serde(default)]
    pub tz: Option<String>,
}

fn thirty() -> u32 {
    30
}

/// Moves a proposal's slot by hand.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveRequest {
    /// The new start, as people write times; a clock time alone is on the session's day.
    pub at: String,
    /// Length [default: the slot's current length].
    #[serde(default)]
    pub minutes: Option<u32>,
    /// Room [default: the slot's current room].
    #[serde(default)]
    pub room: Option<String>,
    #[serde(default)]
    pub tz: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelRequest {
    /// true cancels, false reinstates.
    pub cancelled: bool,
    #[serde(default)]
    pub reason: String,
}

// ----- guests -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestView {
    pub id: String,
    pub name: String,
    pub organisation: String,
    pub note: String,
    pub added_by: MemberRef,
    pub added: String,
    /// Sessions they spoke at and came to.
    pub spoke_at: usize,
    pub came_to: usize,
}

// ----- council -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTermRequest {
    pub start: String,
    pub end: String,
    /// Members (id, prefix or name).
    pub leads: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TermView {
    pub id: String,
    pub start: String,
    pub end: String,
    pub leads: Vec<MemberRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CouncilView {
    pub current: Vec<TermView>,
    pub upcoming: Vec<TermView>,
    pub past: Vec<TermView>,
    /// Current members who have never led.
    pub never_led: Vec<MemberRef>,
    /// Current members by what they said about taking a turn.
    #[serde(default)]
    pub willing: Vec<MemberRef>,
    #[serde(default)]
    pub not_now: Vec<MemberRef>,
    #[serde(default)]
    pub not_asked: Vec<MemberRef>,
}

// ----- change log -----

/// One entry of the community's change log, with names for people.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogView {
    pub id: String,
    /// RFC 3339.
    pub at: String,
    pub by: MemberRef,
    /// `member.removed`, `council.term_added`, `session.cancelled`, ...
    pub action: String,
    pub subject: String,
    pub summary: String,
}

// ----- onboarding -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewStarter {
    pub member_id: String,
    pub name: String,
    pub joined: String,
    pub buddy: Option<MemberRef>,
    pub sessions_attended: usize,
}

// ----- knowledge -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryView {
    pub id: String,
    #[serde(flatten)]
    pub entry: crate::knowledge::Entry,
    /// The name of who shared it.
    #[serde(default)]
    pub shared_by_name: String,
    /// The title of the session it came from.
    #[serde(default)]
    pub session_title: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuestionView {
    pub id: String,
    #[serde(flatten)]
    pub question: crate::knowledge::Question,
    /// Names of who asked and answered, by id; guests' names end with "(guest)".
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AskRequest {
    pub title: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswerRequest {
    pub body: String,
    /// A guest's answer, recorded by me: the guest (id, prefix or name).
    #[serde(default)]
    pub guest: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptRequest {
    pub answer: String,
}

// ----- relationships (private) -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRequest {
    /// coffee, lunch, meeting, event, call, message or other.
    pub kind: String,
    /// `YYYY-MM-DD` [default: today].
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerRequest {
    /// How much help (1-100); the route says whether it was given or asked.
    #[serde(default = "one")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100, default = 1))]
    pub amount: i64,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub note: String,
}

fn one() -> i64 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonDetail {
    pub standing: crate::relationships::Standing,
    pub interactions: Vec<crate::relationships::Interaction>,
    pub ledger: Vec<crate::relationships::LedgerEntry>,
}

// ----- dashboard -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DashboardLink {
    /// Opens the dashboard once: a one-time code, not the API token, so nothing that
    /// stays in the browser's history can open it again.
    pub url: String,
    /// The code stops working after this long (and after its first use).
    pub expires_in_secs: u64,
}

// ----- devices -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceLink {
    /// Give this to your other laptop: `guild devices join CODE`. It holds your community's
    /// secret and your device secret: share it with nobody.
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceJoinRequest {
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceStatus {
    pub peer_id: String,
    pub added: String,
    pub this_device: bool,
    pub connected: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_csv_quotes_what_a_spreadsheet_would_run() {
        let matrix = Matrix {
            skills: vec!["Discovery".into()],
            rows: vec![MatrixRow {
                member_id: "m1".into(),
                name: "=HYPERLINK(\"http://evil.example\")".into(),
                team: "Platform".into(),
                levels: vec![Some(4)],
                grow: vec![true],
            }],
        };
        assert_eq!(
            matrix.csv_records(),
            [
                vec!["member_id", "name", "team", "Discovery", "Discovery (grow)"],
                vec![
                    "m1",
                    "'=HYPERLINK(\"http://evil.example\")",
                    "Platform",
                    "4",
                    "yes"
                ],
            ]
        );
    }
}
