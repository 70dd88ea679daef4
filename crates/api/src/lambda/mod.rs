//! The Lambda API (2015-03-31 and its sibling dated paths), a file per resource.

mod account;
mod aliases;
mod concurrency;
mod event_invoke_config;
mod event_source_mappings;
mod function_urls;
mod functions;
mod invoke;
mod layers;
mod policy;
pub(crate) mod provisioned_concurrency;
mod shapes;
mod tags;
mod versions;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::ApiState;

/// Every Lambda API route.
pub(crate) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            "/2015-03-31/functions",
            post(functions::create_function).get(functions::list_functions),
        )
        .route(
            "/2015-03-31/functions/",
            post(functions::create_function).get(functions::list_functions),
        )
        .route(
            "/2015-03-31/functions/{function_name}",
            get(functions::get_function).delete(functions::delete_function),
        )
        .route(
            "/2015-03-31/functions/{function_name}/configuration",
            get(functions::get_function_configuration)
                .put(functions::update_function_configuration),
        )
        .route(
            "/2015-03-31/functions/{function_name}/code",
            put(functions::update_function_code),
        )
        .route(
            "/2015-03-31/functions/{function_name}/versions",
            post(versions::publish_version).get(versions::list_versions_by_function),
        )
        .route(
            "/2015-03-31/functions/{function_name}/aliases",
            post(aliases::create_alias).get(aliases::list_aliases),
        )
        .route(
            "/2015-03-31/functions/{function_name}/aliases/{alias}",
            get(aliases::get_alias)
                .put(aliases::update_alias)
                .delete(aliases::delete_alias),
        )
        .route(
            "/2019-09-30/functions/{function_name}/provisioned-concurrency",
            put(provisioned_concurrency::put_provisioned_concurrency_config)
                .get(provisioned_concurrency::get_provisioned_concurrency_config)
                .delete(provisioned_concurrency::delete_provisioned_concurrency_config),
        )
        .route("/2018-10-31/layers", get(layers::list_layers))
        .route("/2018-10-31/layers/", get(layers::list_layers))
        .route(
            "/2018-10-31/layers/{layer_name}/versions",
            post(layers::publish_layer_version).get(layers::list_layer_versions),
        )
        .route(
            "/2018-10-31/layers/{layer_name}/versions/{version}",
            get(layers::get_layer_version).delete(layers::delete_layer_version),
        )
        .route(
            "/2015-03-31/functions/{function_name}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2014-11-13/functions/{function_name}/invoke-async",
            post(invoke::invoke_async),
        )
        .route(
            "/2014-11-13/functions/{function_name}/invoke-async/",
            post(invoke::invoke_async),
        )
        .route(
            "/2015-03-31/functions/{function_name}/policy",
            post(policy::add_permission).get(policy::get_policy),
        )
        .route(
            "/2015-03-31/functions/{function_name}/policy/{statement_id}",
            delete(policy::remove_permission),
        )
        .route(
            "/2017-10-31/functions/{function_name}/concurrency",
            put(concurrency::put_function_concurrency)
                .delete(concurrency::delete_function_concurrency),
        )
        .route(
            "/2019-09-30/functions/{function_name}/concurrency",
            get(concurrency::get_function_concurrency),
        )
        .route(
            "/2019-09-25/functions/{function_name}/event-invoke-config",
            put(event_invoke_config::put_function_event_invoke_config)
                .post(event_invoke_config::update_function_event_invoke_config)
                .get(event_invoke_config::get_function_event_invoke_config)
                .delete(event_invoke_config::delete_function_event_invoke_config),
        )
        .route(
            "/2019-09-25/functions/{function_name}/event-invoke-config/list",
            get(event_invoke_config::list_function_event_invoke_configs),
        )
        .route(
            "/2015-03-31/event-source-mappings",
            post(event_source_mappings::create_event_source_mapping)
                .get(event_source_mappings::list_event_source_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            post(event_source_mappings::create_event_source_mapping)
                .get(event_source_mappings::list_event_source_mappings),
        )
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(event_source_mappings::get_event_source_mapping)
                .put(event_source_mappings::update_event_source_mapping)
                .delete(event_source_mappings::delete_event_source_mapping),
        )
        .route(
            "/2021-10-31/functions/{function_name}/url",
            post(function_urls::create_function_url_config)
                .get(function_urls::get_function_url_config)
                .put(function_urls::update_function_url_config)
                .delete(function_urls::delete_function_url_config),
        )
        .route(
            "/2021-10-31/functions/{function_name}/urls",
            get(function_urls::list_function_url_configs),
        )
        .route(
            "/2017-03-31/tags/{resource}",
            get(tags::list_tags)
                .post(tags::tag_resource)
                .delete(tags::untag_resource),
        )
        .route(
            "/2016-08-19/account-settings",
            get(account::get_account_settings),
        )
        .route(
            "/2016-08-19/account-settings/",
            get(account::get_account_settings),
        )
}
