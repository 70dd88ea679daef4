//! The browser app's files, built into `console/dist` and embedded in the
//! binary, so the console loads nothing from anywhere but rayo.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../../console/dist"]
struct Dist;

/// `/`: the app's page.
pub(crate) async fn index() -> Response {
    serve("index.html", "no-store")
}

/// `/assets/{file}`: scripts and styles.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    serve(&file, "no-cache")
}

fn serve(file: &str, cache_control: &'static str) -> Response {
    let Some(content) = Dist::get(file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache_control),
        ],
        content.data.into_owned(),
    )
        .into_response()
}
