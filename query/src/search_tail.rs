//! `GET /api/v1/logs/tail`: matching log records as Server-Sent Events as they are
//! acknowledged.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use lookout_model::search::SearchQuery;
use lookout_model::{Signal, TenantId};
use lookout_storage::{Appended, Reader};
use tokio::sync::broadcast::error::RecvError;

use crate::search::log_hits;

struct TailState {
    reader: Reader,
    tenant: TenantId,
    query: SearchQuery,
    receiver: tokio::sync::broadcast::Receiver<Arc<Appended>>,
    pending: VecDeque<Event>,
}

/// The event stream of a live tail: `log` events (a JSON `LogHit` each, in append order)
/// and `lagged` events (how many appends were missed when the client read too slowly).
pub fn live_tail(
    reader: Reader,
    tenant: TenantId,
    query: SearchQuery,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = reader.subscribe_appends();
    let state = TailState {
        reader,
        tenant,
        query,
        receiver,
        pending: VecDeque::new(),
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.pending.pop_front() {
                return Some((Ok(event), state));
            }
            match state.receiver.recv().await {
                Ok(appended) => state.take(&appended).await,
                Err(RecvError::Lagged(missed)) => {
                    state
                        .pending
                        .push_back(Event::default().event("lagged").data(missed.to_string()));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

impl TailState {
    async fn take(&mut self, appended: &Appended) {
        if appended.signal != Signal::Logs || appended.tenant != self.tenant {
            return;
        }
        let matching = match self
            .reader
            .filter_rows(Signal::Logs, appended.batch.clone(), self.query.clone())
            .await
        {
            Ok(matching) => matching,
            Err(error) => {
                tracing::warn!(%error, "live tail failed to filter an append");
                return;
            }
        };
        if matching.num_rows() == 0 {
            return;
        }
        match log_hits(&matching, &self.query) {
            Ok(hits) => {
                for hit in hits {
                    match Event::default().event("log").json_data(&hit) {
                        Ok(event) => self.pending.push_back(event),
                        Err(error) => tracing::warn!(%error, "live tail failed to encode a record"),
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "live tail failed to encode records"),
        }
    }
}
