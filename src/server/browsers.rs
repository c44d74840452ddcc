//! CORS and gRPC-Web, for the calls that may come from a browser.
//!
//! A browser's call carries an `Origin` header (every cross-origin call
//! and every POST does), speaks gRPC-Web, or asks a CORS preflight
//! (`OPTIONS`); those pass `tower_http`'s CORS layer and `tonic_web`'s
//! translation as before. A gRPC call over HTTP/2 with none of these (every
//! generated client, grpcurl, the other services) goes straight on: it
//! needs neither, and both cost it on every call (the CORS layer's lists
//! are copied per call and its `Vary` header added to every response).
//! Anything else over HTTP/1 still meets `tonic_web`, which answers it
//! 400 as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, Version};
use pin_project_lite::pin_project;
use tonic::body::Body;
use tower::Layer;
use tower_http::cors::{Cors, CorsLayer};

/// The layer: `cors` and gRPC-Web for browsers' calls only.
pub fn layer<S>(cors: CorsLayer) -> impl Layer<S, Service = Browsers<S>> + Clone {
    let cors = Arc::new(cors);
    tower::layer::layer_fn(move |inner| Browsers {
        inner,
        cors: cors.clone(),
    })
}

#[derive(Clone)]
pub struct Browsers<S> {
    inner: S,
    cors: Arc<CorsLayer>,
}

/// Whether a call needs the browser layers (see the module's notes).
fn from_browser<B>(req: &Request<B>) -> bool {
    req.version() != Version::HTTP_2
        || req.method() == Method::OPTIONS
        || req.headers().contains_key(http::header::ORIGIN)
        || req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc-web"))
}

type Browser<S> = Cors<tonic_web::GrpcWebService<S>>;

impl<S, ResBody> tower::Service<Request<Body>> for Browsers<S>
where
    S: tower::Service<Request<Body>, Response = Response<ResBody>> + Clone,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError> + std::fmt::Display,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<<Browser<S> as tower::Service<Request<Body>>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The inner service was made ready; the call takes it and leaves a
        // clone in its place (tower's convention for a cloned service).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if from_browser(&req) {
            let mut browser = self.cors.layer(tonic_web::GrpcWebLayer::new().layer(inner));
            ResponseFuture::Browser {
                future: browser.call(req),
            }
        } else {
            ResponseFuture::Direct {
                future: inner.call(req),
            }
        }
    }
}

pin_project! {
    /// A browser's call's answer, or another's.
    #[project = Projected]
    pub enum ResponseFuture<B, D> {
        Browser { #[pin] future: B },
        Direct { #[pin] future: D },
    }
}

impl<B, D, E, ResBody> Future for ResponseFuture<B, D>
where
    B: Future<Output = Result<Response<Body>, E>>,
    D: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Browser { future } => future.poll(cx),
            Projected::Direct { future } => future.poll(cx).map_ok(|r| r.map(Body::new)),
        }
    }
}
