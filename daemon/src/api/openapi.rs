//! The API described as an OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the bodies' `ToSchema` derives (see `routes` in
//! `mod.rs`), served at `GET /api/openapi.json` and committed as `daemon/openapi.json`.
//!
//! The handlers' annotations give each route's own answers (201, 404, 409, 507...). What
//! every route shares is added here, so it cannot be forgotten on one: the bearer token,
//! the guard's 401 and 403, and the 400/413/415/422 of a JSON body or a query string.

use std::sync::LazyLock;

use axum::Json;
use crdt_model::api::ErrorBody;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi, ToResponse};

/// The name of the bearer-token security scheme.
const TOKEN: &str = "api_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "guildd",
        description = "The local HTTP API of guildd, the Guild daemon: JSON over HTTP on a \
            loopback address. Every route needs the token in the data directory's `api-token` \
            file (`Authorization: Bearer <token>`) and a loopback `Host`. The daemon writes its \
            address to the data directory's `api-addr` file. Errors are `ErrorBody`: a stable \
            `code` for scripts and a one-line `message` for people."
    ),
    // The dashboard's one JSON route lives in its own router, with its own state.
    paths(crate::dashboard::auth::issue_link),
    components(schemas(ErrorBody), responses(DiskFull)),
    tags(
        (name = "status", description = "The daemon, its community, and creating one"),
        (name = "members", description = "The member directory and onboarding"),
        (name = "skills", description = "The skills audit: taxonomy, ratings, who can help, strengths and gaps"),
        (name = "sessions", description = "Meetups, sessions and unconferences: RSVPs, attendance, write-ups"),
        (name = "agenda", description = "An unconference's agenda: proposals, dot votes and the schedule"),
        (name = "guests", description = "Guest speakers and visitors, who are not members"),
        (name = "council", description = "Rolling leadership: the council rota and who could lead next"),
        (name = "knowledge", description = "Resources, guidelines and rituals"),
        (name = "questions", description = "Questions and answers"),
        (name = "health", description = "Is the community thriving? Sessions, attendance, drift, skills"),
        (name = "relationships", description = "Your private map of stakeholders: never leaves your devices"),
        (name = "network", description = "Peers, invitations, joining, and your other devices"),
        (name = "operations", description = "Running guildd: doctor, metrics, export, import, change log, this document"),
    )
)]
struct Base;

/// The document's start: info, tags and the security scheme; `routes` adds the paths.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut api = Base::openapi();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        TOKEN,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The token in the data directory's `api-token` file (readable only by you).",
                ))
                .build(),
        ),
    );
    for (name, description) in SHARED {
        components
            .responses
            .insert((*name).into(), RefOr::T(error_response(description)));
    }
    api.security = Some(vec![SecurityRequirement::new(TOKEN, Vec::<String>::new())]);
    api
}

/// Why the guard refuses a request with 403, whatever the route.
macro_rules! foreign_host {
    () => {
        "the `Host` or `Origin` header (or the request target) does not name a loopback \
         address, or one of them is given twice"
    };
}

/// Answers any route may give, shared as `components/responses`: name, description.
const SHARED: &[(&str, &str)] = &[
    (
        "Unauthorized",
        "No `Authorization: Bearer` header, or not the token in the data directory's \
         `api-token` file.",
    ),
    (
        "Forbidden",
        concat!("Refused because ", foreign_host!(), "."),
    ),
    (
        "BadRequest",
        "The body is not JSON, or the query string or a value is not valid; the message says \
         which.",
    ),
    (
        "PayloadTooLarge",
        "The body is larger than the route accepts: 256 KiB, 16 MiB for an import.",
    ),
    (
        "UnsupportedMediaType",
        "The body is not sent as `Content-Type: application/json`.",
    ),
    (
        "UnprocessableEntity",
        "The JSON does not fit the body's schema: a field missing, unknown or of the wrong \
         type.",
    ),
];

/// 507, for the routes that write: `(status = 507, response = DiskFull)`.
pub struct DiskFull;

impl<'s> ToResponse<'s> for DiskFull {
    fn response() -> (&'s str, RefOr<Response>) {
        (
            "DiskFull",
            RefOr::T(error_response(
                "The disk is full, so nothing was written (`disk_full`): free some space and \
                 try again.",
            )),
        )
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The whole document, as served and committed.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut api = super::routes().into_openapi();
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            add_shared_answers(operation);
        }
    }
    api
}

/// The guard's refusals on every operation; a JSON body's and a query string's where there
/// is one. An operation's own description of a status comes first: the guard's 403 is
/// added to it.
fn add_shared_answers(operation: &mut Operation) {
    let mut shared = vec![("401", "Unauthorized"), ("403", "Forbidden")];
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|body| body.content.contains_key("application/json"));
    if json_body {
        shared.extend([
            ("400", "BadRequest"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
            ("422", "UnprocessableEntity"),
        ]);
    }
    let query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    if query {
        shared.push(("400", "BadRequest"));
    }
    let responses = &mut operation.responses.responses;
    for (status, name) in shared {
        match responses.get_mut(status) {
            None => {
                responses.insert(status.into(), RefOr::Ref(Ref::from_response_name(name)));
            }
            // A route that refuses for its own reasons (not a steward) refuses a foreign
            // Host too.
            Some(RefOr::T(own)) if status == "403" => {
                own.description = format!("{}. Also when {}.", own.description, foreign_host!());
            }
            Some(_) => {}
        }
    }
}

/// This document: the API described as OpenAPI 3.1.
///
/// It describes the routes and holds no data, yet it needs the token like every route: one
/// rule with no exception is easier to keep safe, and tools that run without a daemon can
/// read the committed `daemon/openapi.json` instead.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object))
)]
pub async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(document);
    Json(&DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;

    /// The committed document, next to the daemon's Cargo.toml.
    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json")
    }

    fn generated() -> String {
        document().to_pretty_json().unwrap() + "\n"
    }

    #[test]
    fn the_committed_openapi_document_is_the_generated_one() {
        let path = committed_path();
        let generated = generated();
        if std::env::var_os("GUILD_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            panic!(
                "{} does not describe the API's routes and types (first difference at line {}: \
                 committed {:?}, generated {:?}); regenerate it with\n\n    \
                 GUILD_UPDATE_OPENAPI=1 cargo test -p guild-daemon openapi\n\nand commit it",
                path.display(),
                line + 1,
                committed.lines().nth(line).unwrap_or("(end of file)"),
                generated.lines().nth(line).unwrap_or("(end of file)"),
            );
        }
    }

    #[test]
    fn the_openapi_document_is_openapi_3_1_read_by_an_independent_parser() {
        let spec = oas3::from_json(generated()).unwrap();
        let version = spec.validate_version().unwrap();
        assert_eq!((version.major, version.minor), (3, 1));
        let operations: Vec<_> = spec.operations().collect();
        assert!(operations.len() > 70, "{} operations", operations.len());
        let mut ids = BTreeSet::new();
        for (path, method, operation) in &operations {
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: operation id {id:?} twice"
            );
            let responses = operation.responses(&spec);
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path}: no success response"
            );
            for status in ["401", "403"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
            }
            // Every `{name}` in the path is a declared path parameter, and no more.
            let in_path: BTreeSet<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                .collect();
            let declared: BTreeSet<String> = operation
                .parameters(&spec)
                .unwrap()
                .into_iter()
                .filter(|p| p.location == oas3::spec::ParameterIn::Path)
                .map(|p| p.name)
                .collect();
            let declared: BTreeSet<&str> = declared.iter().map(String::as_str).collect();
            assert_eq!(in_path, declared, "{method} {path}");
        }
    }

    #[test]
    fn every_reference_in_the_openapi_document_resolves() {
        fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        out.push(target);
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let document = serde_json::to_value(document()).unwrap();
        let mut targets = Vec::new();
        refs(&document, &mut targets);
        assert!(targets.len() > 100, "{} references", targets.len());
        for target in targets {
            let pointer = target
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{target}: not within the document"));
            assert!(document.pointer(pointer).is_some(), "{target} is missing");
        }
    }

    #[test]
    fn the_openapi_document_describes_the_token_and_known_routes() {
        let document = serde_json::to_value(document()).unwrap();
        assert_eq!(
            document["components"]["securitySchemes"][TOKEN]["scheme"],
            "bearer"
        );
        assert_eq!(document["security"], serde_json::json!([{ TOKEN: [] }]));
        for (method, path, status) in [
            ("get", "/api/status", "200"),
            ("get", "/api/openapi.json", "200"),
            ("get", "/metrics", "200"),
            ("post", "/api/members", "201"),
            ("delete", "/api/members/{id}", "204"),
            ("put", "/api/sessions/{id}/agenda/{proposal}/vote", "200"),
            ("post", "/api/import/members", "422"),
            ("post", "/api/join", "504"),
        ] {
            let responses = &document["paths"][path][method]["responses"];
            assert!(responses[status].is_object(), "{method} {path}: {status}");
        }
        // A JSON body's refusals, shared; a route's own 403 keeps its words and adds the
        // guard's.
        let remove = &document["paths"]["/api/members/{id}"]["delete"]["responses"];
        assert!(remove.get("422").is_none(), "no body, no 422: {remove}");
        let forbidden = remove["403"]["description"].as_str().unwrap();
        assert!(
            forbidden.contains("stewards") && forbidden.contains("loopback"),
            "{forbidden}"
        );
        let add = &document["paths"]["/api/members"]["post"]["responses"];
        assert_eq!(add["413"]["$ref"], "#/components/responses/PayloadTooLarge");
        assert_eq!(add["507"]["$ref"], "#/components/responses/DiskFull");
    }
}
