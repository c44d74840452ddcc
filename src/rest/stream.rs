//! A server stream's answer as newline-delimited JSON: one line per
//! message, as the service sends them, and a last line
//! `{"error": {...}}` if the stream ends in an error. The service's body
//! is read only as the caller reads this one, so a caller that stops
//! reading stops the export, and one that goes away cancels it. At the
//! caller's deadline the stream ends with a DEADLINE_EXCEEDED line (and
//! the call is cancelled), as a gRPC client ends it on its side.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use pin_project_lite::pin_project;
use prost_reflect::{DynamicMessage, MessageDescriptor};

use super::{BoxError, errors, status_of, transcode};

pin_project! {
    pub struct JsonLines<B> {
        #[pin]
        inner: B,
        #[pin]
        deadline: Option<tokio::time::Sleep>,
        buffer: BytesMut,
        output: MessageDescriptor,
        status_type: MessageDescriptor,
        done: bool,
    }
}

impl<B> JsonLines<B> {
    pub fn new(
        inner: B,
        output: MessageDescriptor,
        status_type: MessageDescriptor,
        deadline: Option<tokio::time::Instant>,
    ) -> Self {
        Self {
            inner,
            deadline: deadline.map(tokio::time::sleep_until),
            buffer: BytesMut::new(),
            output,
            status_type,
            done: false,
        }
    }
}

fn line(mut json: Vec<u8>) -> Bytes {
    json.push(b'\n');
    Bytes::from(json)
}

impl<B> Body for JsonLines<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let error_line = |status: &tonic::Status, status_type: &MessageDescriptor| {
            let envelope = errors::envelope(status, status_type);
            line(serde_json::to_vec(&envelope).unwrap_or_default())
        };
        loop {
            if *this.done {
                return Poll::Ready(None);
            }
            match transcode::next_frame(this.buffer) {
                Ok(Some(bytes)) => {
                    let data = match DynamicMessage::decode(this.output.clone(), bytes) {
                        Ok(message) => line(transcode::json(&message)),
                        Err(e) => {
                            *this.done = true;
                            let status = tonic::Status::internal(format!(
                                "a message of the stream could not be decoded: {e}"
                            ));
                            error_line(&status, this.status_type)
                        }
                    };
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) => {}
                Err(e) => {
                    *this.done = true;
                    let status = tonic::Status::internal(e);
                    return Poll::Ready(Some(Ok(Frame::data(error_line(
                        &status,
                        this.status_type,
                    )))));
                }
            }
            if let Some(deadline) = this.deadline.as_mut().as_pin_mut()
                && deadline.poll(cx).is_ready()
            {
                *this.done = true;
                let status = crate::api::deadline_passed();
                return Poll::Ready(Some(Ok(Frame::data(error_line(&status, this.status_type)))));
            }
            match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.buffer.extend_from_slice(&data),
                    Err(frame) => {
                        *this.done = true;
                        let status = frame.trailers_ref().and_then(status_of);
                        if let Some(status) = status {
                            return Poll::Ready(Some(Ok(Frame::data(error_line(
                                &status,
                                this.status_type,
                            )))));
                        }
                    }
                },
                Some(Err(e)) => {
                    *this.done = true;
                    let e: BoxError = e.into();
                    let status = tonic::Status::internal(format!("the stream was cut short: {e}"));
                    return Poll::Ready(Some(Ok(Frame::data(error_line(
                        &status,
                        this.status_type,
                    )))));
                }
                None => {
                    *this.done = true;
                    if !this.buffer.is_empty() {
                        let status = tonic::Status::internal("the stream ended inside a message");
                        return Poll::Ready(Some(Ok(Frame::data(error_line(
                            &status,
                            this.status_type,
                        )))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}
