//! The console's access rules, through its router (no socket). The API
//! router behind the proxy is a small stand-in that says what reached it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::any;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

fn console(open: bool) -> Router {
    let api = Router::new().fallback(any(|request: Request<Body>| async move {
        let cookie = request.headers().contains_key(header::COOKIE);
        format!("{} {} cookie={cookie}", request.method(), request.uri())
    }));
    let state = Arc::new(rayo_state::SqliteState::open_in_memory().unwrap());
    router(ConsoleConfig {
        open,
        credentials: ConsoleCredentials::parse(["admin:s3cret", "viewer:look:read-only"]).unwrap(),
        test_events: state.clone(),
        objects: state.clone(),
        functions: state,
        region: Region {
            name: "us-east-1".into(),
            account_id: "000000000000".into(),
        },
        runtimes: vec!["python3.11".into()],
        api,
        metrics: Some(Router::new().route(
            "/summary",
            axum::routing::get(|| async { r#"{"functions":[]}"# }),
        )),
    })
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String, Option<String>) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), cookie)
}

async fn sign_in(router: &Router, key: &str, secret: &str) -> (String, String) {
    let (status, body, cookie) = send(
        router,
        Request::post("/api/session")
            .header("host", "rayo.test")
            .header("origin", "http://rayo.test")
            .body(Body::from(format!(
                r#"{{"accessKeyId":"{key}","secretAccessKey":"{secret}"}}"#
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie.unwrap(), token)
}

fn post(path: &str, cookie: &str, token: Option<&str>, origin: &str) -> Request<Body> {
    let mut request = Request::post(path)
        .header("host", "rayo.test")
        .header("origin", origin)
        .header("cookie", cookie);
    if let Some(token) = token {
        request = request.header(CSRF_HEADER, token);
    }
    request.body(Body::from("{}")).unwrap()
}

#[tokio::test]
async fn closed_console_needs_a_sign_in() {
    let console = console(false);
    let (status, body, cookie) = send(
        &console,
        Request::get("/api/session").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!((status, cookie), (StatusCode::OK, None));
    assert!(body.contains(r#""signedIn":false"#), "{body}");
    let (status, _, _) = send(
        &console,
        Request::get("/api/aws/2015-03-31/functions")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body, _) = send(
        &console,
        Request::post("/api/session")
            .body(Body::from(
                r#"{"accessKeyId":"admin","secretAccessKey":"wrong"}"#,
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn requests_are_forwarded_without_the_console_cookie() {
    let console = console(false);
    let (cookie, token) = sign_in(&console, "admin", "s3cret").await;
    let (status, body, _) = send(
        &console,
        Request::get("/api/aws/2015-03-31/functions?MaxItems=5")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "GET /2015-03-31/functions?MaxItems=5 cookie=false");
    let (status, body, _) = send(
        &console,
        post(
            "/api/aws/2015-03-31/functions/f/invocations",
            &cookie,
            Some(&token),
            "http://rayo.test",
        ),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::OK,
            "POST /2015-03-31/functions/f/invocations cookie=false"
        )
    );
    // Only the APIs the console uses: not S3, not function URLs.
    for path in ["/api/aws/bucket/key", "/api/aws/_rayo/url/abc/"] {
        let (status, _, _) = send(
            &console,
            Request::get(path)
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn mutating_requests_need_the_token_and_this_origin() {
    let console = console(false);
    let (cookie, token) = sign_in(&console, "admin", "s3cret").await;
    let path = "/api/aws/2015-03-31/functions";
    for (token, origin) in [
        (None, "http://rayo.test"),
        (Some("0".repeat(64).as_str()), "http://rayo.test"),
        (Some(token.as_str()), "http://evil.test"),
        (Some(token.as_str()), "null"),
    ] {
        let (status, body, _) = send(&console, post(path, &cookie, token, origin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{token:?} {origin}: {body}");
    }
    let (status, _, _) = send(
        &console,
        post(path, &cookie, Some(&token), "http://rayo.test"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn read_only_reads_but_changes_nothing() {
    let console = console(false);
    let (cookie, token) = sign_in(&console, "viewer", "look").await;
    let origin = "http://rayo.test";
    let (status, _, _) = send(
        &console,
        Request::get("/api/aws/2015-03-31/functions")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut logs_read = post("/api/aws/", &cookie, Some(&token), origin);
    logs_read.headers_mut().insert(
        "x-amz-target",
        HeaderValue::from_static("Logs_20140328.FilterLogEvents"),
    );
    assert_eq!(send(&console, logs_read).await.0, StatusCode::OK);
    let mut logs_write = post("/api/aws/", &cookie, Some(&token), origin);
    logs_write.headers_mut().insert(
        "x-amz-target",
        HeaderValue::from_static("AWSEvents.PutRule"),
    );
    assert_eq!(send(&console, logs_write).await.0, StatusCode::FORBIDDEN);
    for path in [
        "/api/aws/2015-03-31/functions",
        "/api/aws/2015-03-31/functions/f/invocations",
        "/api/functions/f/test-events/e",
    ] {
        let (status, body, _) = send(&console, post(path, &cookie, Some(&token), origin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("AccessDeniedException"), "{body}");
    }
}

#[tokio::test]
async fn metrics_are_behind_the_sign_in() {
    let console = console(false);
    let get = |cookie: Option<&str>| {
        let mut request = Request::get("/api/metrics/summary?range=1h");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.body(Body::empty()).unwrap()
    };
    assert_eq!(send(&console, get(None)).await.0, StatusCode::UNAUTHORIZED);
    let (cookie, _) = sign_in(&console, "viewer", "look").await;
    let (status, body, _) = send(&console, get(Some(&cookie))).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, r#"{"functions":[]}"#)
    );
}

#[tokio::test]
async fn open_console_hands_out_a_session() {
    let console = console(true);
    let (status, body, cookie) = send(
        &console,
        Request::get("/api/session").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""role":"admin""#), "{body}");
    let cookie = cookie.unwrap();
    // The same session on the next visit, and still a token for changes.
    let (_, again, new_cookie) = send(
        &console,
        Request::get("/api/session")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((again, new_cookie), (body, None));
    let (status, _, _) = send(
        &console,
        post(
            "/api/aws/2015-03-31/functions",
            &cookie,
            None,
            "http://rayo.test",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn s3_triggers_are_checked_and_need_a_writer() {
    let console = console(false);
    let put = |cookie: &str, token: &str, bucket: &str| {
        Request::put(format!("/api/s3/buckets/{bucket}/notifications/n1"))
            .header("host", "rayo.test")
            .header("origin", "http://rayo.test")
            .header("cookie", cookie)
            .header(CSRF_HEADER, token)
            .body(Body::from(
                r#"{"Function":"f","Events":["s3:ObjectCreated:*"]}"#,
            ))
            .unwrap()
    };
    let (cookie, token) = sign_in(&console, "admin", "s3cret").await;
    let (status, body, _) = send(&console, put(&cookie, &token, "missing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("NoSuchBucket"), "{body}");
    let (status, body, _) = send(
        &console,
        Request::get("/api/s3/notifications?function=f")
            .header("cookie", &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"Buckets":[],"Notifications":[]}"#);
    let (cookie, token) = sign_in(&console, "viewer", "look").await;
    let (status, body, _) = send(&console, put(&cookie, &token, "missing")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}
