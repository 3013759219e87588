//! The customer's pages, no login: the survey at `/s/{token}` and the
//! one-click unsubscribe at `/u/{token}`. The token in the link is the
//! capability; unknown and expired links get the same page.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;

use super::render;
use crate::AppState;
use crate::error::AppError;
use crate::surveys::Verdict;
use crate::surveys::page::{self, Lookup, Submitted, SurveyForm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/s/{token}", get(show_survey).post(submit_survey))
        .route("/u/{token}", get(show_unsubscribe).post(unsubscribe))
}

/// The client's address, when the server knows it.
pub struct ClientIp(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}

/// The words of the customer's pages in one language.
pub struct Words {
    lang: &'static str,
    title: &'static str,
    intro: &'static str,
    no_promises: &'static str,
    verdict_legend: &'static str,
    verdicts: [&'static str; 4],
    target: &'static str,
    comment_optional: &'static str,
    nps_legend: &'static str,
    nps_low: &'static str,
    nps_high: &'static str,
    advocacy_legend: &'static str,
    reference: &'static str,
    review: &'static str,
    comment: &'static str,
    submit: &'static str,
    errors: &'static str,
    thanks_title: &'static str,
    thanks: &'static str,
    invalid_title: &'static str,
    invalid: &'static str,
    slow_down: &'static str,
    unsubscribe_title: &'static str,
    unsubscribe_ask: &'static str,
    unsubscribe_button: &'static str,
    unsubscribed: &'static str,
}

const ENGLISH: Words = Words {
    lang: "en",
    title: "Did we keep our promises?",
    intro: "When you chose us, we made you these promises. For each one, tell us whether we kept it.",
    no_promises: "We did not record specific promises for you, so we only have a few general questions.",
    verdict_legend: "Did we keep this promise?",
    verdicts: ["Kept", "Partly kept", "Not kept", "Too early to tell"],
    target: "Target",
    comment_optional: "Comment (optional)",
    nps_legend: "How likely are you to recommend us to a friend or colleague?",
    nps_low: "Not at all likely",
    nps_high: "Extremely likely",
    advocacy_legend: "Would you be open to…",
    reference: "being a reference for other customers?",
    review: "writing a review?",
    comment: "Anything else you would like to tell us? (optional)",
    submit: "Send my answers",
    errors: "Please answer these questions:",
    thanks_title: "Thank you",
    thanks: "Your answers have reached your account manager and our customer-success team.",
    invalid_title: "This link no longer works",
    invalid: "The survey link is unknown or has expired. If you would still like to share your view, reply to the email you received.",
    slow_down: "Too many attempts in a short time. Please wait a minute and try again.",
    unsubscribe_title: "Unsubscribe",
    unsubscribe_ask: "Stop receiving these surveys?",
    unsubscribe_button: "Unsubscribe",
    unsubscribed: "You will not receive these surveys any more.",
};

const DUTCH: Words = Words {
    lang: "nl",
    title: "Hebben we onze beloftes waargemaakt?",
    intro: "Toen u voor ons koos, deden we u deze beloftes. Laat per belofte weten of we die zijn nagekomen.",
    no_promises: "We hebben geen specifieke beloftes voor u vastgelegd, dus we hebben alleen een paar algemene vragen.",
    verdict_legend: "Hebben we deze belofte waargemaakt?",
    verdicts: ["Waargemaakt", "Deels waargemaakt", "Niet waargemaakt", "Te vroeg om te zeggen"],
    target: "Doel",
    comment_optional: "Opmerking (optioneel)",
    nps_legend: "Hoe waarschijnlijk is het dat u ons aanbeveelt aan een vriend of collega?",
    nps_low: "Zeer onwaarschijnlijk",
    nps_high: "Zeer waarschijnlijk",
    advocacy_legend: "Zou u openstaan voor…",
    reference: "referentie zijn voor andere klanten?",
    review: "een review schrijven?",
    comment: "Wilt u ons verder nog iets vertellen? (optioneel)",
    submit: "Verstuur mijn antwoorden",
    errors: "Beantwoord alstublieft deze vragen:",
    thanks_title: "Dank u wel",
    thanks: "Uw antwoorden zijn bij uw accountmanager en ons customer-successteam aangekomen.",
    invalid_title: "Deze link werkt niet meer",
    invalid: "De link naar de enquête is onbekend of verlopen. Wilt u toch uw mening delen, antwoord dan op de e-mail die u ontving.",
    slow_down: "Te veel pogingen in korte tijd. Wacht een minuut en probeer het opnieuw.",
    unsubscribe_title: "Afmelden",
    unsubscribe_ask: "Wilt u deze enquêtes niet meer ontvangen?",
    unsubscribe_button: "Afmelden",
    unsubscribed: "U ontvangt deze enquêtes niet meer.",
};

fn words(language: &str) -> &'static Words {
    if language == "nl" { &DUTCH } else { &ENGLISH }
}

#[derive(Template)]
#[template(path = "public/survey.html")]
struct SurveyPage {
    w: &'static Words,
    token: String,
    form: SurveyForm,
    errors: Vec<String>,
    chosen: Vec<(String, String)>,
}

impl SurveyPage {
    fn verdict_options(&self) -> Vec<(&'static str, &'static str)> {
        Verdict::ALL.iter().zip(self.w.verdicts).map(|(v, label)| (v.as_str(), label)).collect()
    }

    fn value(&self, name: &str) -> &str {
        self.chosen.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    fn is(&self, name: &str, value: &str) -> bool {
        self.value(name) == value
    }
}

#[derive(Template)]
#[template(path = "public/message.html")]
struct MessagePage {
    w: &'static Words,
    title: &'static str,
    message: &'static str,
    company: String,
    unsubscribe_token: Option<String>,
}

fn message(
    status: StatusCode,
    w: &'static Words,
    title: &'static str,
    text: &'static str,
    company: String,
) -> Response {
    render(status, &MessagePage { w, title, message: text, company, unsubscribe_token: None })
}

fn invalid() -> Response {
    // The same page, status and words for unknown and expired links.
    message(StatusCode::NOT_FOUND, &ENGLISH, ENGLISH.invalid_title, ENGLISH.invalid, String::new())
}

fn failure(error: AppError) -> Response {
    tracing::error!(%error, "the survey page failed");
    render(
        StatusCode::INTERNAL_SERVER_ERROR,
        &MessagePage {
            w: &ENGLISH,
            title: "Something went wrong",
            message: "Please try again in a moment.",
            company: String::new(),
            unsubscribe_token: None,
        },
    )
}

async fn show_survey(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match page::lookup(&state.db, &token, state.now()).await {
        Ok(Lookup::Open(form)) => render(
            StatusCode::OK,
            &SurveyPage { w: words(&form.language), token, form, errors: Vec::new(), chosen: Vec::new() },
        ),
        Ok(Lookup::Answered(form)) => {
            let w = words(&form.language);
            message(StatusCode::OK, w, w.thanks_title, w.thanks, form.company)
        }
        Ok(Lookup::Invalid) => invalid(),
        Err(error) => failure(error),
    }
}

async fn submit_survey(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    if !state.limits.allow(&token, ip) {
        return message(StatusCode::TOO_MANY_REQUESTS, &ENGLISH, ENGLISH.title, ENGLISH.slow_down, String::new());
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    match page::submit(&state.db, &token, &pairs, state.now()).await {
        Ok(Submitted::Stored { .. }) | Ok(Submitted::AlreadyAnswered) => {
            match page::lookup(&state.db, &token, state.now()).await {
                Ok(Lookup::Answered(form)) => {
                    let w = words(&form.language);
                    message(StatusCode::OK, w, w.thanks_title, w.thanks, form.company)
                }
                Ok(_) => invalid(),
                Err(error) => failure(error),
            }
        }
        Ok(Submitted::Invalid) => invalid(),
        Err(AppError::Validation(fields)) => match page::lookup(&state.db, &token, state.now()).await {
            Ok(Lookup::Open(form)) => {
                let errors =
                    fields.iter().map(|(field, problem)| format!("{}: {problem}", question_of(&form, field))).collect();
                let page = SurveyPage { w: words(&form.language), token, form, errors, chosen: pairs };
                render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            Ok(_) => invalid(),
            Err(error) => failure(error),
        },
        Err(error) => failure(error),
    }
}

/// What the customer reads for a form field: the promise, not its id.
fn question_of(form: &SurveyForm, field: &str) -> String {
    let promise = ["verdict_", "comment_"]
        .iter()
        .filter_map(|prefix| field.strip_prefix(prefix)?.parse::<i32>().ok())
        .find_map(|id| form.promises.iter().find(|p| p.id == id));
    match (promise, field) {
        (Some(p), _) => format!("\u{201c}{}\u{201d}", p.text),
        (None, "nps") => words(&form.language).nps_legend.to_owned(),
        (None, other) => other.to_owned(),
    }
}

async fn show_unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match page::contact_of(&state.db, &token).await {
        Ok(Some((company, language))) => {
            let w = words(&language);
            render(
                StatusCode::OK,
                &MessagePage {
                    w,
                    title: w.unsubscribe_title,
                    message: w.unsubscribe_ask,
                    company,
                    unsubscribe_token: Some(token),
                },
            )
        }
        Ok(None) => invalid(),
        Err(error) => failure(error),
    }
}

async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let language = match page::contact_of(&state.db, &token).await {
        Ok(Some((_, language))) => language,
        Ok(None) => return invalid(),
        Err(error) => return failure(error),
    };
    match page::unsubscribe(&state.db, &token, state.now()).await {
        Ok(true) => {
            let w = words(&language);
            message(StatusCode::OK, w, w.unsubscribe_title, w.unsubscribed, String::new())
        }
        Ok(false) => invalid(),
        Err(error) => failure(error),
    }
}
