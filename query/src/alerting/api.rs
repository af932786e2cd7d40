//! The alerting endpoints: `GET /api/v1/alerts`, `POST /api/v1/alerts/{fingerprint}/ack`,
//! `GET|POST /api/v1/silences`, `DELETE /api/v1/silences/{id}` and
//! `GET /api/v1/notifications`.

use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use lookout_model::alerting::{
    AlertList, AlertView, NotificationList, PostableAck, PostableSilence, SilenceCreated,
    SilenceList,
};

use super::Alerting;
use crate::QueryError;

/// Routes of the alerting API.
pub fn router(alerting: Alerting) -> Router {
    Router::new()
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/{fingerprint}/ack", post(acknowledge))
        .route("/api/v1/silences", get(silences).post(add_silence))
        .route("/api/v1/silences/{id}", delete(expire_silence))
        .route("/api/v1/notifications", get(notifications))
        .with_state(alerting)
}

async fn alerts(State(alerting): State<Alerting>) -> Json<AlertList> {
    Json(AlertList {
        alerts: alerting.alerts(),
    })
}

async fn acknowledge(
    State(alerting): State<Alerting>,
    Path(fingerprint): Path<String>,
    Json(ack): Json<PostableAck>,
) -> Result<Json<AlertView>, QueryError> {
    alerting
        .acknowledge(&fingerprint, &ack.who, &ack.comment)
        .await
        .map(Json)
        .map_err(|message| {
            if message.starts_with("no firing alert") {
                QueryError::NotFound(message)
            } else {
                QueryError::BadRequest(message)
            }
        })
}

async fn silences(State(alerting): State<Alerting>) -> Json<SilenceList> {
    Json(SilenceList {
        silences: alerting.silences(),
    })
}

async fn add_silence(
    State(alerting): State<Alerting>,
    Json(silence): Json<PostableSilence>,
) -> Result<Json<SilenceCreated>, QueryError> {
    alerting
        .add_silence(silence)
        .await
        .map(|silence_id| Json(SilenceCreated { silence_id }))
        .map_err(QueryError::BadRequest)
}

async fn expire_silence(
    State(alerting): State<Alerting>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, QueryError> {
    alerting
        .expire_silence(&id)
        .await
        .map(|()| Json(serde_json::json!({ "expired": id })))
        .map_err(|message| {
            if message.starts_with("no silence") {
                QueryError::NotFound(message)
            } else {
                QueryError::BadRequest(message)
            }
        })
}

async fn notifications(State(alerting): State<Alerting>) -> Json<NotificationList> {
    Json(NotificationList {
        notifications: alerting.notifications(),
    })
}
