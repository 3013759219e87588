//! Email: the transactional [`outbox`] and the transports that deliver it.
//! SMTP (`AFTERCARE_SMTP_URL`) in production; without it, `.eml` files in
//! `data/outbox/`, so a newcomer sees real messages.

pub mod outbox;

use anyhow::Context;
use entity::outbox_message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

/// Where email goes.
#[derive(Debug, Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in a folder.
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Builds messages from outbox rows and hands them to the transport.
#[derive(Debug, Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// At most this many messages in flight at once.
    pub concurrency: usize,
    /// Posts webhook deliveries.
    pub http: reqwest::Client,
}

impl Mailer {
    /// The mailer the settings describe.
    pub fn from_config(config: &MailConfig) -> anyhow::Result<Self> {
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("AFTERCARE_SMTP_URL is not a valid smtp:// or smtps:// URL")?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&config.outbox_dir)
                    .with_context(|| format!("creating the mail folder {}", config.outbox_dir.display()))?;
                Transport::Files(AsyncFileTransport::new(&config.outbox_dir))
            }
        };
        let from =
            config.from.parse().with_context(|| format!("AFTERCARE_MAIL_FROM {:?} is not an address", config.from))?;
        // Webhook deliveries leave through HTTP; rustls uses ring, like the
        // rest of the binary.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(crate::webhooks::outbound::TIMEOUT)
            .user_agent(concat!("Aftercare/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("preparing the HTTP client for webhooks")?;
        Ok(Self { transport, from, concurrency: config.concurrency.max(1), http })
    }

    /// Sends one outbox row; the error text is kept on the row.
    pub async fn send(&self, row: &outbox_message::Model) -> Result<(), String> {
        let message = self.build(row)?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| format!("SMTP: {e}")),
            Transport::Files(files) => {
                files.send(message).await.map(|_| ()).map_err(|e| format!("writing the file: {e}"))
            }
        }
    }

    fn build(&self, row: &outbox_message::Model) -> Result<Message, String> {
        let to: Mailbox = row.recipient.parse().map_err(|e| format!("recipient {:?}: {e}", row.recipient))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(row.message_id.clone()));
        if let Some(reply_to) = row.reply_to.as_deref().and_then(|r| r.parse().ok()) {
            builder = builder.reply_to(reply_to);
        }
        if let Some(unsubscribe) = &row.list_unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{unsubscribe}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(row.text_body.clone()))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(row.html_body.clone()));
        builder.multipart(body).map_err(|e| format!("building the message: {e}"))
    }
}
