//! The skills audit: taxonomy, ratings and their history, and what the community learns from
//! them.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{
    AddSkillRequest, ErrorBody, Matrix, MatrixRow, RateRequest, StaleReport, StrengthsAndGaps,
    WhoResponse,
};
use crdt_model::community::Community;
use crdt_model::member::Member;
use crdt_model::skills::{self, STALE_MONTHS, SkillLevel, skill_key};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::openapi::DiskFull;
use super::state::{AppState, clock, now};

/// The skills taxonomy: every skill's name, in the community's order.
#[utoipa::path(
    get,
    path = "/api/skills",
    tag = "skills",
    operation_id = "listSkills",
    responses(
        (status = 200, description = "Skill names", body = [String]),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn taxonomy(State(state): State<AppState>) -> ApiResult<Vec<String>> {
    Ok(ApiJson(state.community().await?.skill_names()))
}

/// Adds a skill to the taxonomy.
#[utoipa::path(
    post,
    path = "/api/skills",
    tag = "skills",
    operation_id = "addSkill",
    request_body = AddSkillRequest,
    responses(
        (status = 201, description = "The skill's name as stored", body = String, content_type = "application/json"),
        (status = 400, description = "The name is not valid", body = ErrorBody),
        (status = 409, description = "No community yet, or the skill exists already (whatever its case and accents)", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<AddSkillRequest>,
) -> Result<(StatusCode, ApiJson<String>), ApiError> {
    let id = state.community_id()?;
    let mut tx = state.repo.begin(&[&id]).await;
    let name =
        Community::update(tx.doc(&id)?, |c| c.add_skill(&req.name)).map_err(|e| match e {
            crdt_model::ModelError::DuplicateSkill(_) => ApiError::conflict(e.to_string()),
            e => e.into(),
        })?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(name)))
}

/// Rates a skill, for yourself or on behalf of a member (`member`).
///
/// The rating remembers who made it, since only members' own ratings count as their activity.
#[utoipa::path(
    put,
    path = "/api/skills/ratings",
    tag = "skills",
    operation_id = "rateSkill",
    request_body = RateRequest,
    responses(
        (status = 200, description = "The member rated, with their ratings", body = Member),
        (status = 400, description = "The level is not 0-4, or the skill is unknown (with a suggestion) or ambiguous", body = ErrorBody),
        (status = 403, description = "You may not rate this member's skills (the message says who may)", body = ErrorBody),
        (status = 404, description = "No such member", body = ErrorBody),
        (status = 409, description = "No community yet, or several members match", body = ErrorBody),
        (status = 507, response = DiskFull),
    )
)]
pub async fn rate(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RateRequest>,
) -> ApiResult<Member> {
    let level = SkillLevel::try_from(req.level)?;
    let skill = state.community().await?.resolve_skill(&req.skill)?;
    let me = state.me()?;
    let target = match &req.member {
        Some(key) => state.resolve_member(key).await?,
        None => state.resolve_member(&me).await?,
    };
    if target.id != me {
        state.require_editor(&target, "rate the skills in").await?;
    }
    let (now, _) = now();
    let mut tx = state.repo.begin(&[&target.id]).await;
    let doc = tx.doc(&target.id)?;
    Member::rate_in_doc(doc, &skill, level, req.grow, &me, &now)?;
    let member = Member::read(doc)?;
    tx.commit().await?;
    Ok(ApiJson(member))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WhoQuery {
    /// A skill name, whatever its case and accents, or a unique prefix of one.
    skill: String,
}

/// Who can help with a skill (practising or better, can-teach first) and who wants to learn it.
#[utoipa::path(
    get,
    path = "/api/skills/who",
    tag = "skills",
    operation_id = "whoCanHelp",
    params(WhoQuery),
    responses(
        (status = 200, description = "Helpers and learners", body = WhoResponse),
        (status = 400, description = "The skill is unknown (with a suggestion) or ambiguous", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn who(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WhoQuery>,
) -> ApiResult<WhoResponse> {
    let skill = state.community().await?.resolve_skill(&query.skill)?;
    let members = state.members(false).await?;
    Ok(ApiJson(WhoResponse {
        helpers: skills::who_can_help(&members, &skill),
        learners: skills::who_wants_to_learn(&members, &skill),
        skill,
    }))
}

/// The skills matrix: every member's level in every skill.
#[utoipa::path(
    get,
    path = "/api/skills/matrix",
    tag = "skills",
    operation_id = "skillsMatrix",
    responses(
        (status = 200, description = "Skills as columns, members as rows", body = Matrix),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn matrix(State(state): State<AppState>) -> ApiResult<Matrix> {
    let community = state.community().await?;
    let members = state.members(false).await?;
    let names: Vec<String> = skills::summarise(&community.skill_names(), &members)
        .into_iter()
        .map(|s| s.skill)
        .collect();
    let rows = members
        .iter()
        .map(|m| {
            let ratings: Vec<_> = names.iter().map(|s| m.skills.get(&skill_key(s))).collect();
            MatrixRow {
                member_id: m.id.clone(),
                name: m.name.clone(),
                team: m.team.clone(),
                levels: ratings
                    .iter()
                    .map(|r| r.and_then(|r| r.level()).map(u8::from))
                    .collect(),
                grow: ratings.iter().map(|r| r.is_some_and(|r| r.grow)).collect(),
            }
        })
        .collect();
    Ok(ApiJson(Matrix {
        skills: names,
        rows,
    }))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SinceQuery {
    /// `YYYY-MM-DD`, not in the future: compare with the audit as it stood at the end of
    /// this day [default: six months ago].
    #[param(format = Date)]
    since: Option<String>,
}

/// The day to compare the audit with: the one asked for, else six months ago ("the last
/// audit" when nobody says otherwise). True when it is the default.
pub fn audit_since(since: Option<&str>) -> Result<(time::Date, bool), ApiError> {
    let today = clock().date();
    match since {
        None => Ok((skills::months_before(today, STALE_MONTHS), true)),
        Some(day) => {
            let day = crdt_model::text::date("since", day)?;
            let day = crdt_model::when::date_of(&day)
                .ok_or_else(|| ApiError::bad_request(format!("since: {day:?} is not a date")))?;
            if day > today {
                return Err(ApiError::bad_request(format!(
                    "since: {day} is in the future; give a past day like {}",
                    skills::months_before(today, STALE_MONTHS)
                )));
            }
            Ok((day, false))
        }
    }
}

/// The community's strengths and gaps, and how they moved since the last audit.
#[utoipa::path(
    get,
    path = "/api/skills/gaps",
    tag = "skills",
    operation_id = "skillsGaps",
    params(SinceQuery),
    responses(
        (status = 200, description = "Strengths, gaps and movement", body = StrengthsAndGaps),
        (status = 400, description = "`since` is not a past date", body = ErrorBody),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn gaps(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SinceQuery>,
) -> ApiResult<StrengthsAndGaps> {
    let (since, since_is_default) = audit_since(query.since.as_deref())?;
    let community = state.community().await?;
    let members = state.members(false).await?;
    let taxonomy = community.skill_names();
    let summaries = skills::summarise(&taxonomy, &members);
    Ok(ApiJson(StrengthsAndGaps {
        strengths: skills::strengths(&summaries),
        gaps: skills::gaps(&summaries),
        since: since.to_string(),
        since_is_default,
        movement: skills::movement(&taxonomy, &members, since),
    }))
}

/// Who to nudge to re-rate: ratings untouched for six months, and members with none.
#[utoipa::path(
    get,
    path = "/api/skills/stale",
    tag = "skills",
    operation_id = "staleRatings",
    responses(
        (status = 200, description = "Stale ratings and members who never rated", body = StaleReport),
        (status = 409, description = "No community yet", body = ErrorBody),
    )
)]
pub async fn stale(State(state): State<AppState>) -> ApiResult<StaleReport> {
    let members = state.members(false).await?;
    let older_than = skills::months_before(clock().date(), STALE_MONTHS);
    let never: Vec<String> = skills::never_rated(&members)
        .into_iter()
        .map(|m| m.id.clone())
        .collect();
    Ok(ApiJson(StaleReport {
        older_than: older_than.to_string(),
        stale: skills::stale(&members, older_than),
        never_rated: state.member_refs(never.iter()).await?,
    }))
}
