//! The size limit on request messages. A message over the limit is refused
//! with RESOURCE_EXHAUSTED (gRPC's convention) as soon as its length prefix
//! arrives, before any of it is buffered, so a large request costs the
//! server nothing.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use tonic::Status;

/// The tower layer limiting each request message to `max` bytes.
pub fn layer<S>(max: usize) -> impl tower::Layer<S, Service = MessageLimit<S>> + Clone {
    tower::layer::layer_fn(move |inner| MessageLimit { inner, max })
}

#[derive(Clone)]
pub struct MessageLimit<S> {
    inner: S,
    max: usize,
}

impl<S, B> tower::Service<http::Request<B>> for MessageLimit<S>
where
    S: tower::Service<http::Request<tonic::body::Body>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let max = self.max;
        self.inner.call(req.map(|inner| {
            tonic::body::Body::new(LimitedBody {
                inner,
                max,
                header: [0; 5],
                header_len: 0,
                remaining: 0,
            })
        }))
    }
}

pin_project! {
    /// Follows the gRPC length-prefixed framing of a request body and fails
    /// on the first message longer than `max`.
    struct LimitedBody<B> {
        #[pin]
        inner: B,
        max: usize,
        header: [u8; 5],
        header_len: usize,
        remaining: usize,
    }
}

fn too_large(len: usize, max: usize) -> Status {
    crate::api::failure(
        crate::api::Reason::MessageTooLarge,
        format!("request message of {len} bytes is over the server's limit of {max} bytes"),
        &[
            ("limit_bytes", max.to_string()),
            ("message_bytes", len.to_string()),
        ],
        None,
    )
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = Bytes;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let frame = match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let Some(data) = frame.data_ref() {
            let mut rest = data.as_ref();
            while !rest.is_empty() {
                if *this.remaining > 0 {
                    let skip = (*this.remaining).min(rest.len());
                    *this.remaining -= skip;
                    rest = &rest[skip..];
                    continue;
                }
                let take = (5 - *this.header_len).min(rest.len());
                this.header[*this.header_len..*this.header_len + take]
                    .copy_from_slice(&rest[..take]);
                *this.header_len += take;
                rest = &rest[take..];
                if *this.header_len == 5 {
                    *this.header_len = 0;
                    let [_, a, b, c, d] = *this.header;
                    let len =
                        usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
                    if len > *this.max {
                        return Poll::Ready(Some(Err(Box::new(too_large(len, *this.max)))));
                    }
                    *this.remaining = len;
                }
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
