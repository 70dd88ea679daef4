//! The API Gateway v2 API (2018-11-29, REST-JSON under `/v2/`) for HTTP
//! APIs, a file per resource. The gateway crate serves the APIs.

mod apis;
mod error;
mod integrations;
mod routes;
mod shapes;
mod stages;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::ApiState;

/// Every apigatewayv2 route rayo answers.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/v2/apis", post(apis::create_api).get(apis::get_apis))
        .route(
            "/v2/apis/{api_id}",
            get(apis::get_api)
                .patch(apis::update_api)
                .delete(apis::delete_api),
        )
        .route(
            "/v2/apis/{api_id}/cors",
            delete(apis::delete_cors_configuration),
        )
        .route(
            "/v2/apis/{api_id}/integrations",
            post(integrations::create_integration).get(integrations::get_integrations),
        )
        .route(
            "/v2/apis/{api_id}/integrations/{integration_id}",
            get(integrations::get_integration)
                .patch(integrations::update_integration)
                .delete(integrations::delete_integration),
        )
        .route(
            "/v2/apis/{api_id}/routes",
            post(routes::create_route).get(routes::get_routes),
        )
        .route(
            "/v2/apis/{api_id}/routes/{route_id}",
            get(routes::get_route)
                .patch(routes::update_route)
                .delete(routes::delete_route),
        )
        .route(
            "/v2/apis/{api_id}/stages",
            post(stages::create_stage).get(stages::get_stages),
        )
        .route(
            "/v2/apis/{api_id}/stages/{stage_name}",
            get(stages::get_stage)
                .patch(stages::update_stage)
                .delete(stages::delete_stage),
        )
        .route(
            "/v2/apis/{api_id}/deployments",
            post(stages::create_deployment),
        )
}
