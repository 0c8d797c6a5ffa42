//! The directory: search members by name, team, interest or role; a member's page with
//! profile, skills, sessions attended and buddy; add and edit members.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use crdt_model::api::MemberRef;
use crdt_model::api::MemberSaved;
use crdt_model::member::{Member, Profile, Willingness};
use crdt_model::session::Session;
use crdt_model::skills::SkillLevel;
use crdt_model::text::fold;
use maud::{Markup, html};
use serde::Deserialize;

use crate::api::error::{ApiError, ApiJson, ApiQuery};
use crate::api::members;
use crate::api::state::AppState;
use crate::dashboard::Dashboard;
use crate::dashboard::layout::{
    Ctx, Form, Nav, Page, PageResult, day, given, list, member_link, para, txt, urlencode, when,
};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

/// Whether a member matches what was typed: in their name, team, role, organisation or an
/// interest, compared as people type (`text::fold`: case and accents ignored).
fn matches(m: &Member, query: &str) -> bool {
    let q = fold(query);
    q.is_empty()
        || [&m.name, &m.team, &m.role, &m.organisation]
            .into_iter()
            .chain(&m.interests)
            .any(|field| fold(field).contains(&q))
}

async fn gather(state: &AppState, q: &str) -> Result<(Vec<Member>, Vec<Member>), ApiError> {
    let all = members::list(State(state.clone()), ApiQuery(Default::default()))
        .await?
        .0;
    let found = all.iter().filter(|m| matches(m, q)).cloned().collect();
    Ok((found, all))
}

pub(crate) async fn page(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Query(search): Query<Search>,
) -> PageResult {
    let (found, all) = gather(&dash.app, &search.q).await?;
    let intro = html! {
        form.row role="search" method="get" action="/ui/members" {
            label { "Search by name, team, interest or role"
                input type="search" name="q" value=(search.q) placeholder="e.g. discovery, Platform, designer";
            }
            button type="submit" { "Search" }
        }
    };
    let live = html! {
        p.muted { (found.len()) " of " (all.len()) " members" }
        div.scroll {
            table.hide-narrow {
                thead { tr { th { "Name" } th { "Role" } th { "Team" } th.narrow-hide { "Interests" } th.narrow-hide { "Joined" } } }
                tbody {
                    @for m in &found {
                        tr {
                            td { (member_link(&m.id, &m.name)) }
                            td { (txt(&m.role)) }
                            td { @if !m.team.is_empty() { a href={ "/ui/members?q=" (urlencode(&m.team)) } { (txt(&m.team)) } } }
                            td.narrow-hide { @for i in &m.interests { span.tag { (txt(i)) } } }
                            td.narrow-hide { (day(&m.joined)) }
                        }
                    }
                }
            }
        }
    };
    let tools = html! {
        section.panel {
            h2 { "Add a member" }
            p.hint { "Anyone in the community, whether or not they run Guild yet." }
            (profile_form(&ctx, "/ui/members", None, &all, "Add member"))
        }
    };
    Ok(ctx.render(
        Page::new("Directory", Nav::Directory, live)
            .intro(intro)
            .tools(tools),
    ))
}

/// The form's fields, as the API's `Profile`: empty means "not given" when adding and
/// "clear it" when editing.
#[derive(Debug, Deserialize)]
pub(crate) struct ProfileForm {
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    organisation: String,
    #[serde(default)]
    interests: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    buddy: String,
    /// willing, not-now or not-asked.
    #[serde(default)]
    council: String,
}

impl ProfileForm {
    fn adding(self) -> Profile {
        let interests = list(&self.interests);
        Profile {
            name: Some(self.name),
            role: given(&Some(self.role)),
            team: given(&Some(self.team)),
            organisation: given(&Some(self.organisation)),
            interests: (!interests.is_empty()).then_some(interests),
            contact: given(&Some(self.contact)),
            joined: None,
            buddy: given(&Some(self.buddy)),
            council: given(&Some(self.council)),
            council_opt_in: None,
        }
    }

    fn editing(self) -> Profile {
        Profile {
            interests: Some(list(&self.interests)),
            name: Some(self.name),
            role: Some(self.role),
            team: Some(self.team),
            organisation: Some(self.organisation),
            contact: Some(self.contact),
            joined: None,
            buddy: Some(self.buddy),
            council: given(&Some(self.council)),
            council_opt_in: None,
        }
    }
}

pub(crate) async fn add(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Form(form): Form<ProfileForm>,
) -> Response {
    let added = members::add(State(dash.app.clone()), ApiJson(form.adding()))
        .await
        .map(|(_, ApiJson(saved))| added(&saved));
    ctx.done(added, "/ui/members")
}

pub(crate) async fn update(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(id): Path<String>,
    Form(form): Form<ProfileForm>,
) -> Response {
    let updated = members::update(
        State(dash.app.clone()),
        Path(id.clone()),
        ApiJson(form.editing()),
    )
    .await
    .map(|ApiJson(saved)| format!("Saved {}", saved.member.name));
    ctx.done(updated, &format!("/ui/members/{}", urlencode(&id)))
}

/// "Added Grace", and what the daemon warns about (a name much like another's...).
fn added(saved: &MemberSaved) -> String {
    let mut message = format!("Added {}", saved.member.name);
    for warning in &saved.warnings {
        message.push_str(". ");
        message.push_str(warning);
    }
    message
}

struct MemberPage {
    member: Member,
    buddy: Option<MemberRef>,
    buddy_for: Vec<MemberRef>,
    attended: Vec<Session>,
    everyone: Vec<Member>,
}

async fn gather_member(state: &AppState, key: &str) -> Result<MemberPage, ApiError> {
    let member = members::show(State(state.clone()), Path(key.to_owned()))
        .await?
        .0;
    let everyone = state.members(false).await?;
    let buddy = match &member.buddy {
        Some(id) => state.member_refs([id]).await?.pop(),
        None => None,
    };
    let buddy_for = everyone
        .iter()
        .filter(|m| m.buddy.as_deref() == Some(member.id.as_str()))
        .map(|m| MemberRef {
            id: m.id.clone(),
            name: m.name.clone(),
        })
        .collect();
    let mut attended: Vec<Session> = state
        .sessions()
        .await?
        .into_iter()
        .filter(|s| s.attendance.contains_key(&member.id))
        .collect();
    attended.reverse(); // newest first
    Ok(MemberPage {
        member,
        buddy,
        buddy_for,
        attended,
        everyone,
    })
}

pub(crate) async fn member(
    ctx: Ctx,
    State(dash): State<Dashboard>,
    Path(key): Path<String>,
) -> PageResult {
    let p = gather_member(&dash.app, &key).await?;
    let m = &p.member;
    let mut ratings: Vec<_> = m.skills.values().collect();
    ratings.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then_with(|| fold(&a.name).cmp(&fold(&b.name)))
    });
    let is_me = dash.app.identity().me.as_deref() == Some(m.id.as_str());
    let live = html! {
        section.panel {
            dl {
                @if !m.role.is_empty() { dt { "Role" } dd { (txt(&m.role)) } }
                @if !m.team.is_empty() { dt { "Team" } dd { (txt(&m.team)) } }
                @if !m.organisation.is_empty() { dt { "Organisation" } dd { (txt(&m.organisation)) } }
                @if !m.interests.is_empty() { dt { "Interests" } dd { @for i in &m.interests { span.tag { (txt(i)) } } } }
                @if !m.contact.is_empty() { dt { "Contact" } dd.prewrap { (para(&m.contact)) } }
                dt { "Joined" } dd { (day(&m.joined)) }
                dt { "Buddy" }
                dd {
                    @match &p.buddy {
                        Some(b) => (member_link(&b.id, &b.name)),
                        None => span.muted { "none" },
                    }
                }
                @if !p.buddy_for.is_empty() {
                    dt { "Buddy for" }
                    dd { @for (i, b) in p.buddy_for.iter().enumerate() { @if i > 0 { ", " } (member_link(&b.id, &b.name)) } }
                }
                dt { "Council turn" } dd { (m.council.label()) }
            }
        }
        h2 { "Skills" }
        @if ratings.is_empty() {
            p.muted { "No skills rated yet." }
        } @else {
            table {
                thead { tr { th { "Skill" } th { "Level" } th { "Wants to grow" } } }
                tbody {
                    @for r in &ratings {
                        tr {
                            td { a href={ "/ui/skills/who?skill=" (urlencode(&r.name)) } { (txt(&r.name)) } }
                            td { (r.level().map_or_else(|| "?".to_owned(), |l: SkillLevel| l.to_string())) }
                            td { @if r.grow { "yes" } }
                        }
                    }
                }
            }
        }
        h2 { "Sessions attended" }
        @if p.attended.is_empty() {
            p.muted { "None yet." }
        } @else {
            ul.plain {
                @for s in &p.attended {
                    li { a href={ "/ui/sessions/" (s.id) } { (txt(&s.title)) } " · " span.muted { (when(&s.start)) } }
                }
            }
        }
    };
    let tools = html! {
        section.panel {
            h2 { "Edit profile" }
            (profile_form(&ctx, &format!("/ui/members/{}", m.id), Some(m), &p.everyone, "Save"))
        }
    };
    let title = if is_me {
        format!("{} (you)", m.name)
    } else {
        m.name.clone()
    };
    Ok(ctx.render(Page::new(title, Nav::Directory, live).tools(tools)))
}

fn profile_form(
    ctx: &Ctx,
    action: &str,
    member: Option<&Member>,
    everyone: &[Member],
    submit: &str,
) -> Markup {
    let value = |f: fn(&Member) -> &str| member.map_or("", f).to_owned();
    let buddy = member.and_then(|m| m.buddy.clone()).unwrap_or_default();
    html! {
        form.stack method="post" action=(action) {
            (ctx.csrf())
            label { "Name" input name="name" required value=(value(|m| &m.name)) autocomplete="off"; }
            label { "Role" span.hint { "any role: product, service, research, design..." }
                input name="role" value=(value(|m| &m.role)); }
            label { "Team" input name="team" value=(value(|m| &m.team)); }
            label { "Organisation" input name="organisation" value=(value(|m| &m.organisation)); }
            label { "Interests" span.hint { "separated by commas" }
                input name="interests" value=(member.map(|m| m.interests.join(", ")).unwrap_or_default()); }
            label { "Contact" input name="contact" value=(value(|m| &m.contact)); }
            label { "Onboarding buddy"
                select name="buddy" {
                    option value="" { "none" }
                    @for other in everyone.iter().filter(|o| member.is_none_or(|m| m.id != o.id)) {
                        option value=(other.id) selected[other.id == buddy] { (txt(&other.name)) }
                    }
                }
            }
            label { "Would take a turn on the council"
                select name="council" {
                    @for w in Willingness::ALL {
                        option value=(w.as_str()) selected[member.map_or(Willingness::default(), |m| m.council) == w] { (w.label()) }
                    }
                }
            }
            div { button type="submit" { (submit) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_matches_any_field_ignoring_case_and_accents() {
        let profile = Profile {
            name: Some("Siobhán Kelly".into()),
            role: Some("Service designer".into()),
            team: Some("Platform".into()),
            interests: Some(vec!["Discovery".into()]),
            ..Profile::default()
        };
        let m = Member::new("m1", &profile, "2026-01-01").unwrap();
        for q in ["", "siobhan", "PLATFORM", "designer", "discov"] {
            assert!(matches(&m, q), "{q}");
        }
        assert!(!matches(&m, "payments"));
    }
}
