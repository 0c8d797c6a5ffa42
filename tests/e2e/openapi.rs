//! `GET /api/openapi.json`: the committed description of the API, served with the token, and
//! true to the routes a real daemon answers: every documented operation is routed and
//! answers with a status the document lists for it, and every other method on a documented
//! path is refused with 405.

use guild_tests::{Daemon, HttpRequest};
use serde_json::Value;

/// The committed document (`daemon/openapi.json`).
fn committed() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../daemon/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Calls every documented operation once: path parameters `x`, an empty JSON object as the
/// body where the operation takes one. Nothing it sends can change anything: the bodies
/// lack required fields or name nobody.
fn every_operation_answers_as_documented(daemon: &Daemon, document: &Value, state: &str) {
    let token = daemon.token();
    let mut calls = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = fill_parameters(path);
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let upper = method.to_uppercase();
            let mut request = HttpRequest::new(&upper, &concrete, Some(&token));
            if operation.get("requestBody").is_some() {
                request.body = b"{}";
            }
            let (status, body) = daemon.http(&request);
            calls += 1;
            let what = format!("{state}: {upper} {concrete} answered {status} {body}");
            assert_ne!(status, 405, "{what}: documented, not routed");
            assert_ne!(
                body["error"]["message"], "no such route",
                "{what}: documented, not routed"
            );
            assert!(
                operation["responses"].get(status.to_string()).is_some(),
                "{what}: a status the document does not list"
            );
        }
    }
    assert!(calls > 70, "{calls} operations");
}

/// `/api/sessions/{id}/agenda/{proposal}` -> `/api/sessions/x/agenda/x`.
fn fill_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_served_openapi_document_is_the_committed_one_and_true_to_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let document = committed();

    // The token is required, as everywhere.
    let (status, _) = daemon.http(&HttpRequest::new("GET", "/api/openapi.json", None));
    assert_eq!(status, 401);
    let token = daemon.token();
    let (status, served) = daemon.http(&HttpRequest::new("GET", "/api/openapi.json", Some(&token)));
    assert_eq!(status, 200);
    assert!(
        served == document,
        "the daemon serves another document than daemon/openapi.json"
    );

    // Methods a documented path does not list are not routed either.
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = fill_parameters(path);
        for method in METHODS.iter().filter(|m| item.get(**m).is_none()) {
            let upper = method.to_uppercase();
            let (status, body) = daemon.http(&HttpRequest::new(&upper, &concrete, Some(&token)));
            assert_eq!(status, 405, "{upper} {concrete}: undocumented, yet {body}");
        }
    }

    every_operation_answers_as_documented(&daemon, &document, "before init");
    daemon.guild(&["init", "--community", "Described", "--name", "Ada"]);
    every_operation_answers_as_documented(&daemon, &document, "after init");
}
