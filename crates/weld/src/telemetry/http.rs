//! OTLP's protobuf sent with weld's own reqwest (rustls with ring, already
//! built for `weld add`) instead of a second HTTP stack.

use anyhow::{Context as _, Result};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

use super::EXPORT_TIMEOUT;

/// Sends OTLP's protobuf with weld's reqwest (rustls with ring, already
/// built for `weld add`) instead of a second HTTP stack. The SDK calls it
/// from its own threads; the request runs on weld's tokio runtime.
#[derive(Debug, Clone)]
pub(super) struct OtlpHttp {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl OtlpHttp {
    pub(super) fn new(runtime: tokio::runtime::Handle) -> Result<Self> {
        // reqwest is built without a crypto provider of its own.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .context("could not set up the HTTP client for OTLP export")?;
        Ok(Self { client, runtime })
    }
}

/// Largest answer read from a collector (it answers with a short protobuf).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

#[async_trait::async_trait]
impl HttpClient for OtlpHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let mut response = client.execute(request).await?;
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                *headers = std::mem::take(response.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, HttpError>(answer.body(Bytes::from(body))?)
        });
        sent.await.map_err(|error| Box::new(error) as HttpError)?
    }
}
