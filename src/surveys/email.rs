//! The survey email and its reminders: plain text complete on its own plus
//! HTML, in the contact's language (English and Dutch; English otherwise),
//! with a one-click unsubscribe.

use askama::Template;

use crate::mail::outbox::NewEmail;
use crate::{AppError, AppResult};

/// The languages surveys speak; anything else gets English.
pub fn language_of(tag: &str) -> &'static str {
    if tag.to_lowercase().starts_with("nl") { "nl" } else { "en" }
}

/// Everything a survey email says.
#[derive(Debug, Clone)]
pub struct SurveyEmail {
    /// The survey.
    pub survey_id: i32,
    /// The customer's company.
    pub company: String,
    /// The contact's name.
    pub contact_name: String,
    /// The contact's email.
    pub contact_email: String,
    /// `en` or `nl`.
    pub language: String,
    /// The promises asked about, in the customer's words.
    pub promises: Vec<String>,
    /// Which waves (months) the survey covers.
    pub waves: Vec<i32>,
    /// The account manager (name, email), who receives replies.
    pub manager: Option<(String, String)>,
    /// `Some(n)` for the n-th reminder.
    pub reminder: Option<i32>,
    /// The capability carried by this email.
    pub token: String,
    /// The public base URL.
    pub base_url: String,
}

/// The words of one language.
struct Words {
    subject: &'static str,
    reminder: &'static str,
    hello: &'static str,
    intro_months: &'static str,
    intro_promised: &'static str,
    intro_general: &'static str,
    question: &'static str,
    question_general: &'static str,
    button: &'static str,
    follow_through: &'static str,
    thanks: &'static str,
    team: &'static str,
    why: &'static str,
    unsubscribe: &'static str,
    and: &'static str,
}

const ENGLISH: Words = Words {
    subject: "did we keep our promises?",
    reminder: "Reminder",
    hello: "Hello",
    intro_months: "months ago you chose us.",
    intro_promised: "When you did, we promised you:",
    intro_general: "We would like to know whether we delivered the value we promised.",
    question: "Did we keep those promises? Tell us in two minutes: one question per promise, no login needed.",
    question_general: "How is it going? Tell us in two minutes, no login needed.",
    button: "Answer the survey",
    follow_through: "Your answers go straight to your account manager and our customer-success team. If something we promised has not happened, we will act on it.",
    thanks: "Thank you,",
    team: "The customer-success team",
    why: "You receive this because you are our contact at",
    unsubscribe: "Unsubscribe from these surveys",
    and: "and",
};

const DUTCH: Words = Words {
    subject: "hebben we onze beloftes waargemaakt?",
    reminder: "Herinnering",
    hello: "Hallo",
    intro_months: "maanden geleden koos u voor ons.",
    intro_promised: "Toen beloofden we u:",
    intro_general: "We willen graag weten of we de beloofde waarde hebben geleverd.",
    question: "Hebben we die beloftes waargemaakt? Laat het ons in twee minuten weten: één vraag per belofte, zonder inloggen.",
    question_general: "Hoe gaat het? Laat het ons in twee minuten weten, zonder inloggen.",
    button: "Vul de enquête in",
    follow_through: "Uw antwoorden gaan direct naar uw accountmanager en ons customer-successteam. Als iets wat we beloofden niet is gebeurd, gaan we ermee aan de slag.",
    thanks: "Met dank,",
    team: "Het customer-successteam",
    why: "U ontvangt dit omdat u onze contactpersoon bent bij",
    unsubscribe: "Afmelden voor deze enquêtes",
    and: "en",
};

fn words(language: &str) -> &'static Words {
    if language == "nl" { &DUTCH } else { &ENGLISH }
}

#[derive(Template)]
#[template(path = "emails/survey.txt")]
struct TextPart<'a> {
    w: &'a Words,
    e: &'a SurveyEmail,
    first_name: &'a str,
    months: String,
    link: String,
    unsubscribe: String,
    signature: String,
}

#[derive(Template)]
#[template(path = "emails/survey.html")]
struct HtmlPart<'a> {
    w: &'a Words,
    e: &'a SurveyEmail,
    first_name: &'a str,
    months: String,
    link: String,
    unsubscribe: String,
    signature: String,
}

impl SurveyEmail {
    /// The link to the survey page.
    pub fn link(&self) -> String {
        format!("{}/s/{}", self.base_url, self.token)
    }

    /// The one-click unsubscribe link.
    pub fn unsubscribe_link(&self) -> String {
        format!("{}/u/{}", self.base_url, self.token)
    }

    /// The email, ready for the outbox.
    pub fn compose(&self) -> AppResult<NewEmail> {
        let w = words(&self.language);
        let first_name = self.contact_name.split_whitespace().next().unwrap_or(&self.contact_name);
        let months = match self.waves.as_slice() {
            [] => String::new(),
            [one] => one.to_string(),
            [init @ .., last] => {
                format!("{} {} {last}", init.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "), w.and)
            }
        };
        let signature = self.manager.as_ref().map_or_else(|| w.team.to_owned(), |(name, _)| name.clone());
        let render_error = |e: askama::Error| AppError::Internal(anyhow::anyhow!("rendering the survey email: {e}"));
        let (link, unsubscribe) = (self.link(), self.unsubscribe_link());
        let text = TextPart {
            w,
            e: self,
            first_name,
            months: months.clone(),
            link: link.clone(),
            unsubscribe: unsubscribe.clone(),
            signature: signature.clone(),
        }
        .render()
        .map_err(render_error)?;
        let html = HtmlPart { w, e: self, first_name, months, link, unsubscribe: unsubscribe.clone(), signature }
            .render()
            .map_err(render_error)?;
        let subject = match self.reminder {
            Some(_) => format!("{}: {}: {}", w.reminder, self.company, w.subject),
            None => format!("{}: {}", self.company, w.subject),
        };
        let purpose = self.reminder.map_or_else(|| "initial".to_owned(), |n| format!("reminder-{n}"));
        Ok(NewEmail {
            dedupe_key: format!("survey:{}:{purpose}", self.survey_id),
            kind: "survey",
            recipient: mailbox(&self.contact_name, &self.contact_email),
            reply_to: self.manager.as_ref().map(|(name, email)| mailbox(name, email)),
            subject,
            text_body: text,
            html_body: html,
            list_unsubscribe: Some(unsubscribe),
        })
    }
}

/// `Name <email>`, quoting the name so commas and the like stay intact.
pub fn mailbox(name: &str, email: &str) -> String {
    let clean: String = name.chars().filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n' | '<' | '>')).collect();
    format!("\"{clean}\" <{email}>")
}
