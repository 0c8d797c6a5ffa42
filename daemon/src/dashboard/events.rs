//! `GET /ui/events`: server-sent events telling open pages that a document changed, made
//! here or synced in from a peer (`Repo::subscribe`). An `EventSource` cannot send an
//! Authorization header, so the session cookie authenticates it (see `auth`).

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::Dashboard;
use super::auth::Session;

/// Changes arriving together (a sync brings many) become one event: pages refresh at
/// most this often.
const COALESCE: Duration = Duration::from_millis(250);

pub(crate) async fn stream(
    State(dash): State<Dashboard>,
    Extension(session): Extension<Session>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = dash.app.repo.subscribe();
    let events = futures::stream::unfold(
        (dash, session, changes),
        |(mut dash, session, mut changes)| async move {
            let next = tokio::select! {
                next = changes.recv() => next,
                _ = dash.stop.wait_for(|stop| *stop) => return None,
            };
            if let Err(RecvError::Closed) = next {
                return None;
            }
            // A signed-out or expired session hears nothing more.
            dash.sessions.get(&session.id, Instant::now())?;
            tokio::time::sleep(COALESCE).await;
            loop {
                match changes.try_recv() {
                    Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return None,
                }
            }
            let event = Event::default().event("change").data("changed");
            Some((Ok(event), (dash, session, changes)))
        },
    );
    Sse::new(events).keep_alive(KeepAlive::default())
}
