//! Who may change what. The daemon making a change enforces it and says who may (403):
//! - a session: its hosts, who created it, and the community's stewards;
//! - anything a member shared, proposed or recorded (a resource, a proposal, an attendance
//!   entry, a guest's record): that member, and the stewards.
//!
//! Stewards are `Community::stewards`: the current council leads, else the founder.

use crdt_model::session::Session;

use super::error::ApiError;
use super::state::{AppState, clock};

/// My member id if I may change `session`; otherwise 403 naming who may `what`.
pub async fn change_session(
    state: &AppState,
    session: &Session,
    what: &str,
) -> Result<String, ApiError> {
    let me = state.me()?;
    if session.may_change(&me) || is_steward(state, &me).await? {
        return Ok(me);
    }
    let mut who = vec![format!(
        "the hosts ({})",
        names(state, session.hosts.keys()).await?
    )];
    if !session.created_by.is_empty() && !session.hosts.contains_key(&session.created_by) {
        who.push(format!(
            "who created it ({})",
            names(state, [&session.created_by]).await?
        ));
    }
    refuse(state, who, what).await
}

/// My member id if I am one of `owners` (who shared, proposed or recorded something) or a
/// steward; otherwise 403: "only who shared it (Ada) or stewards (Ann) can remove ...".
/// With `session`, its hosts and creator may too.
pub async fn owner_or_steward(
    state: &AppState,
    owners: &[&str],
    role: &str,
    session: Option<&Session>,
    what: &str,
) -> Result<String, ApiError> {
    let me = state.me()?;
    let owners: std::collections::BTreeSet<String> = owners
        .iter()
        .filter(|o| !o.is_empty())
        .map(|o| (*o).to_owned())
        .collect();
    if owners.contains(&me)
        || session.is_some_and(|s| s.may_change(&me))
        || is_steward(state, &me).await?
    {
        return Ok(me);
    }
    let mut who = Vec::new();
    if !owners.is_empty() {
        who.push(format!("{role} ({})", names(state, owners.iter()).await?));
    }
    if let Some(s) = session {
        who.push(format!(
            "the hosts ({})",
            names(state, s.hosts.keys()).await?
        ));
    }
    refuse(state, who, what).await
}

async fn is_steward(state: &AppState, me: &str) -> Result<bool, ApiError> {
    Ok(state.community().await?.is_steward(me, clock().date()))
}

async fn refuse(state: &AppState, mut who: Vec<String>, what: &str) -> Result<String, ApiError> {
    let stewards = state.community().await?.stewards(clock().date());
    who.push(format!(
        "stewards ({})",
        names(state, stewards.iter()).await?
    ));
    let last = who.pop().unwrap_or_default();
    let who = if who.is_empty() {
        last
    } else {
        format!("{} or {last}", who.join(", "))
    };
    Err(ApiError::forbidden(format!("only {who} can {what}")))
}

async fn names(
    state: &AppState,
    ids: impl IntoIterator<Item = &String>,
) -> Result<String, ApiError> {
    Ok(state
        .member_refs(ids)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", "))
}
