//! The skills audit: taxonomy, self-ratings, and what the community learns from them.

use axum::extract::State;
use axum::http::StatusCode;
use crdt_model::GuildDoc;
use crdt_model::api::{
    AddSkillRequest, Matrix, MatrixRow, RateRequest, StrengthsAndGaps, WhoResponse,
};
use crdt_model::community::Community;
use crdt_model::member::Member;
use crdt_model::skills::{self, SkillLevel, skill_key};
use serde::Deserialize;

use super::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use super::state::{AppState, now};

pub async fn taxonomy(State(state): State<AppState>) -> ApiResult<Vec<String>> {
    Ok(ApiJson(state.community().await?.skill_names()))
}

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

pub async fn rate(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RateRequest>,
) -> ApiResult<Member> {
    let level = SkillLevel::try_from(req.level)?;
    let skill = state.community().await?.resolve_skill(&req.skill)?;
    let member_id = match &req.member {
        Some(key) => state.resolve_member(key).await?.id,
        None => state.resolve_member(&state.me()?).await?.id,
    };
    let (now, _) = now();
    let mut tx = state.repo.begin(&[&member_id]).await;
    let member = Member::update(tx.doc(&member_id)?, |m| {
        m.rate(&skill, level, req.grow, &now);
        Ok(m.clone())
    })?;
    tx.commit().await?;
    Ok(ApiJson(member))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoQuery {
    skill: String,
}

pub async fn who(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<WhoQuery>,
) -> ApiResult<WhoResponse> {
    let skill = state.community().await?.resolve_skill(&query.skill)?;
    let members = state.members(false).await?;
    Ok(ApiJson(WhoResponse {
        helpers: skills::who_can_help(&members, &skill),
        skill,
    }))
}

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

pub async fn gaps(State(state): State<AppState>) -> ApiResult<StrengthsAndGaps> {
    let community = state.community().await?;
    let members = state.members(false).await?;
    let summaries = skills::summarise(&community.skill_names(), &members);
    Ok(ApiJson(StrengthsAndGaps {
        strengths: skills::strengths(&summaries),
        gaps: skills::gaps(&summaries),
    }))
}
