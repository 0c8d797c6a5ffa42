//! What every handler shares: the repo, who we are, and typed reads of the community.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crdt_model::api::MemberRef;
use crdt_model::community::{Community, LogEntry};
use crdt_model::knowledge::Knowledge;
use crdt_model::lookup::{self, Found};
use crdt_model::member::Member;
use crdt_model::session::Session;
use crdt_model::{DocKind, GuildDoc};

use super::error::ApiError;
pub use crate::node::Identity;
use crate::node::Node;
use crate::repo::{Repo, Txn};

#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

pub struct Shared {
    pub repo: Arc<Repo>,
    /// Who this daemon is, and its network (see `crate::node`).
    pub node: Arc<Node>,
    pub token: String,
    pub data_dir: PathBuf,
    pub api_addr: SocketAddr,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Shared {
    pub fn identity(&self) -> Identity {
        self.node.identity()
    }

    pub fn community_id(&self) -> Result<String, ApiError> {
        self.identity()
            .community
            .ok_or_else(ApiError::not_initialised)
    }

    pub fn me(&self) -> Result<String, ApiError> {
        self.identity().me.ok_or_else(ApiError::not_initialised)
    }

    pub async fn community(&self) -> Result<Arc<Community>, ApiError> {
        let id = self.community_id()?;
        if self.identity().me.is_none() {
            return Err(ApiError::conflict(
                "still joining: the community has not arrived from the inviter yet",
            ));
        }
        self.view::<Community>(&id)
            .await?
            .ok_or_else(|| ApiError::internal(format!("community document {id} is missing")))
    }

    /// A typed document, `None` if this daemon does not hold it.
    pub async fn read_doc<T>(&self, id: &str) -> Result<Option<T>, ApiError>
    where
        T: GuildDoc + Clone + Send + Sync + 'static,
    {
        Ok(self.view::<T>(id).await?.map(|view| T::clone(&view)))
    }

    /// The document `id` if the community's index lists it as a `T` and it is here.
    async fn indexed<T>(&self, id: &str) -> Result<Option<T>, ApiError>
    where
        T: GuildDoc + Clone + Send + Sync + 'static,
    {
        let listed = self
            .community()
            .await?
            .docs
            .get(id)
            .is_some_and(|entry| DocKind::parse(&entry.kind) == Some(T::KIND));
        if !listed {
            return Ok(None);
        }
        self.read_doc(id).await
    }

    /// A typed, shared view of a document, `None` if this daemon does not hold it.
    pub async fn view<T>(&self, id: &str) -> Result<Option<Arc<T>>, ApiError>
    where
        T: GuildDoc + Send + Sync + 'static,
    {
        Ok(self.repo.view::<T>(id).await.transpose()?)
    }

    /// Every member in the directory (removed ones only if asked), sorted by name.
    pub async fn members(&self, include_removed: bool) -> Result<Vec<Member>, ApiError> {
        let community = self.community().await?;
        let mut members = Vec::new();
        for id in community.docs_of(DocKind::Member) {
            // A member document announced in the index may not have arrived yet.
            if let Some(member) = self.read_doc::<Member>(id).await?
                && (include_removed || !member.removed)
            {
                members.push(member);
            }
        }
        members.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(members)
    }

    /// Finds a current member by exact id, unique id prefix (4+ characters), unique name or
    /// unique name prefix, whatever the case and accents ("siobhan" finds "Siobhán"), so
    /// people can type what they remember.
    pub async fn resolve_member(&self, key: &str) -> Result<Member, ApiError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(ApiError::bad_request("member must not be empty"));
        }
        // The usual case, an exact id (the CLI's "me"): one document, not the directory.
        if let Some(member) = self.indexed::<Member>(key).await? {
            return live(member);
        }
        let members = self.members(false).await?;
        match lookup::find(&members, key, |m| &m.id, |m| &m.name) {
            Found::One(member) => Ok(member.clone()),
            Found::None => Err(ApiError::not_found(format!("no member {key:?}"))),
            Found::Many(many) => Err(ApiError::conflict(format!(
                "{key:?} matches {} members ({}); use the member id",
                many.len(),
                many.iter()
                    .map(|m| format!("{} {}", m.id, m.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Refuses (403) unless this daemon's member may change `target`'s profile or ratings
    /// (see `Member::editable_by`): they themselves, a steward, or whoever added them while
    /// they do not run Guild. Returns my member id.
    pub async fn require_editor(&self, target: &Member, what: &str) -> Result<String, ApiError> {
        let me = self.me()?;
        let community = self.community().await?;
        let today = clock().date();
        if target.editable_by(&me, community.is_steward(&me, today)) {
            return Ok(me);
        }
        let stewards = community.stewards(today);
        let mut who = vec![target.name.clone()];
        let adder_may = !target.added_by.is_empty() && target.devices.is_empty();
        if adder_may && !stewards.contains(&target.added_by) {
            let adder = self.member_refs([&target.added_by]).await?;
            who.extend(
                adder
                    .into_iter()
                    .map(|a| format!("{} (who added them)", a.name)),
            );
        }
        let stewards = self.member_refs(stewards.iter()).await?;
        let stewards: Vec<String> = stewards.into_iter().map(|m| m.name).collect();
        who.push(format!("a steward ({})", stewards.join(", ")));
        Err(ApiError::forbidden(format!(
            "only {} can {what} {} profile",
            lookup::join_names(&who, "or"),
            possessive(&target.name)
        )))
    }
}

/// "Bea's", "James'".
fn possessive(name: &str) -> String {
    if name.ends_with('s') {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

impl Shared {
    /// Every session this daemon holds, by start time.
    pub async fn sessions(&self) -> Result<Vec<Session>, ApiError> {
        let community = self.community().await?;
        let mut sessions = Vec::new();
        for id in community.docs_of(DocKind::Session) {
            if let Some(session) = self.read_doc::<Session>(id).await? {
                sessions.push(session);
            }
        }
        sessions.sort_by(|a, b| {
            a.start_time()
                .cmp(&b.start_time())
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(sessions)
    }

    /// A session by id, unique id prefix (4+ characters), or unique title (prefix),
    /// case-insensitive.
    pub async fn resolve_session(&self, key: &str) -> Result<Session, ApiError> {
        let key = key.trim();
        if let Some(session) = self.indexed::<Session>(key).await? {
            return Ok(session);
        }
        let sessions = self.sessions().await?;
        let lower = key.to_lowercase();
        let mut found: Vec<&Session> = sessions
            .iter()
            .filter(|s| {
                (key.len() >= 4 && s.id.starts_with(key)) || s.title.to_lowercase() == lower
            })
            .collect();
        if found.is_empty() && !lower.is_empty() {
            found = sessions
                .iter()
                .filter(|s| s.title.to_lowercase().starts_with(&lower))
                .collect();
        }
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::not_found(format!("no session {key:?}"))),
            many => Err(ApiError::conflict(format!(
                "{key:?} matches {} sessions; use the session id",
                many.len()
            ))),
        }
    }

    /// The knowledge documents (normally one; two if two members created one concurrently
    /// before syncing, in which case reads merge them and writes go to the first).
    pub async fn knowledge(&self) -> Result<Vec<Knowledge>, ApiError> {
        let community = self.community().await?;
        let mut docs = Vec::new();
        for id in community.docs_of(DocKind::Knowledge) {
            if let Some(k) = self.read_doc::<Knowledge>(id).await? {
                docs.push(k);
            }
        }
        Ok(docs)
    }

    /// Names for member ids, for views; unknown ids keep the id as their name.
    pub async fn member_refs(
        &self,
        ids: impl IntoIterator<Item = &String>,
    ) -> Result<Vec<MemberRef>, ApiError> {
        let members = self.members(true).await?;
        Ok(ids
            .into_iter()
            .map(|id| MemberRef {
                id: id.clone(),
                name: members
                    .iter()
                    .find(|m| &m.id == id)
                    .map_or_else(|| id.clone(), |m| m.name.clone()),
            })
            .collect())
    }

    /// The member a request acts for: `key` if given (someone who does not run Guild yet),
    /// else me. Must be a current member.
    pub async fn acting_member(&self, key: Option<&str>) -> Result<Member, ApiError> {
        let key = match key {
            Some(key) => key.to_owned(),
            None => self.me()?,
        };
        self.resolve_member(&key).await.map_err(|e| {
            if e.status == axum::http::StatusCode::NOT_FOUND {
                ApiError::bad_request(format!("{} (only members can do this)", e.message))
            } else {
                e
            }
        })
    }
}

impl Shared {
    /// Refuses (403) unless this daemon's member is a steward today (see
    /// `Community::stewards`): `what` completes "only stewards can ...". Returns my id.
    pub async fn require_steward(&self, what: &str) -> Result<String, ApiError> {
        let me = self.me()?;
        let community = self.community().await?;
        let today = clock().date();
        if community.is_steward(&me, today) {
            return Ok(me);
        }
        let stewards = community.stewards(today);
        let names = self.member_refs(stewards.iter()).await?;
        Err(ApiError::forbidden(format!(
            "only stewards ({}) can {what}",
            names
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// Records a removal, cancellation or role change in the community's change log, in the
/// same transaction as the change itself (`tx` must hold the community document).
pub fn log_change(
    tx: &mut Txn<'_>,
    community_id: &str,
    by: &str,
    action: &str,
    subject: &str,
    summary: String,
) -> Result<(), ApiError> {
    let entry = LogEntry {
        at: now().0,
        by: by.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        summary,
    };
    Community::update(tx.doc(community_id)?, |c| {
        c.record(&new_id(), entry);
        Ok(())
    })?;
    Ok(())
}

fn live(member: Member) -> Result<Member, ApiError> {
    if member.removed {
        Err(ApiError::not_found(format!(
            "member {} ({}) was removed",
            member.id, member.name
        )))
    } else {
        Ok(member)
    }
}

/// The daemon's clock (see [`crate::clock`]).
pub fn clock() -> time::OffsetDateTime {
    crate::clock::now()
}

/// Current time as RFC 3339 and today's date, the two forms the model stores.
pub fn now() -> (String, String) {
    let now = clock();
    let rfc3339 = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let today = rfc3339.get(..10).unwrap_or_default().to_owned();
    (rfc3339, today)
}

/// A fresh random document id.
pub fn new_id() -> String {
    crdt_model::DocId::from_random(rand::random()).to_string()
}
