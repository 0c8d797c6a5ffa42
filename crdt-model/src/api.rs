//! Request and response bodies of guildd's HTTP API, shared by the daemon and the CLI so the
//! two cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::member::Profile;
use crate::skills::{Helper, SkillSummary};

/// Every error response: `{ "error": { "code", "message" } }`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `not_found`, `conflict`, `unauthorized`, ...
    pub code: String,
    /// One line for people.
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// Community name.
    pub community: String,
    #[serde(default)]
    pub purpose: String,
    /// The local member's profile; `name` is required.
    pub me: Profile,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InitResponse {
    pub community_id: String,
    pub member_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddPeerRequest {
    /// A libp2p multiaddr, e.g. `/ip4/192.0.2.7/tcp/4717`.
    pub addr: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Peers {
    /// Addresses this daemon keeps dialling.
    pub dialled: Vec<String>,
    pub peers: Vec<PeerStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
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
pub struct RevokeRequest {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub all: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Revoked {
    /// Ids of the invitations revoked.
    pub revoked: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    pub ticket: String,
    pub me: Profile,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CommunitySummary {
    pub id: String,
    pub name: String,
    pub purpose: String,
    pub members: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberRef {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DocStatus {
    pub id: String,
    pub kind: String,
    /// Automerge heads, hex, sorted: two daemons hold the same document state exactly when
    /// these are equal.
    pub heads: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    pub skill: String,
    /// 0-4.
    pub level: u8,
    #[serde(default)]
    pub grow: bool,
    /// Rate on behalf of this member (someone who does not run Guild yet); default: me.
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSkillRequest {
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WhoResponse {
    pub skill: String,
    pub helpers: Vec<Helper>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Matrix {
    /// Column order for every row.
    pub skills: Vec<String>,
    pub rows: Vec<MatrixRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MatrixRow {
    pub member_id: String,
    pub name: String,
    pub team: String,
    /// One per skill column; `None` where the member has not rated the skill.
    pub levels: Vec<Option<u8>>,
    /// One per skill column: wants to grow it.
    pub grow: Vec<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StrengthsAndGaps {
    pub strengths: Vec<SkillSummary>,
    pub gaps: Vec<SkillSummary>,
}

// ----- sessions -----

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionView {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub start: String,
    pub end: String,
    pub place: String,
    pub online: String,
    pub hosts: Vec<MemberRef>,
    pub guests: Vec<String>,
    pub description: String,
    /// Member id -> going, maybe or not-going.
    pub rsvps: std::collections::BTreeMap<String, String>,
    pub attendance: Vec<MemberRef>,
    pub notes: String,
    pub proposals: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgendaItem {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub by: MemberRef,
    pub votes: usize,
    pub slot: Option<crate::session::Slot>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsvpRequest {
    pub status: String,
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendRequest {
    /// Members who came (id, prefix or name); empty means me.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesRequest {
    /// Text added at the end of the write-up.
    #[serde(default)]
    pub append: Option<String>,
    /// The whole write-up, replacing it (merged as a character diff).
    #[serde(default)]
    pub set: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    pub title: String,
    /// talk, discussion or help.
    pub kind: String,
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// true votes, false withdraws the vote.
    pub vote: bool,
    #[serde(default)]
    pub member: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    /// How many of the best-voted proposals get a slot.
    pub top: usize,
    /// Start of the first slot, RFC 3339.
    pub from: String,
    pub minutes: u32,
}

// ----- council -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTermRequest {
    pub start: String,
    pub end: String,
    /// Members (id, prefix or name).
    pub leads: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TermView {
    pub id: String,
    pub start: String,
    pub end: String,
    pub leads: Vec<MemberRef>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CouncilView {
    pub current: Vec<TermView>,
    pub upcoming: Vec<TermView>,
    pub past: Vec<TermView>,
    /// Current members who have never led.
    pub never_led: Vec<MemberRef>,
}

// ----- onboarding -----

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewStarter {
    pub member_id: String,
    pub name: String,
    pub joined: String,
    pub buddy: Option<MemberRef>,
    pub sessions_attended: usize,
}

// ----- knowledge -----

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntryView {
    pub id: String,
    #[serde(flatten)]
    pub entry: crate::knowledge::Entry,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuestionView {
    pub id: String,
    #[serde(flatten)]
    pub question: crate::knowledge::Question,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    pub title: String,
    #[serde(default)]
    pub body: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    pub body: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    pub answer: String,
}

// ----- relationships (private) -----

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
pub struct LedgerRequest {
    /// How much help (1-100); the route says whether it was given or asked.
    #[serde(default = "one")]
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
pub struct PersonDetail {
    pub standing: crate::relationships::Standing,
    pub interactions: Vec<crate::relationships::Interaction>,
    pub ledger: Vec<crate::relationships::LedgerEntry>,
}

// ----- devices -----

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceLink {
    /// Give this to your other laptop: `guild devices join CODE`. It holds your community's
    /// secret and your device secret: share it with nobody.
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceJoinRequest {
    pub code: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub peer_id: String,
    pub added: String,
    pub this_device: bool,
    pub connected: bool,
}
