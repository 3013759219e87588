//! The digest email: plain text complete on its own plus HTML that reads
//! without images, in the user's language (English or Dutch), with an
//! unsubscribe link and List-Unsubscribe headers.

use askama::Template;

use super::content::Digest;
use crate::mail::outbox::NewEmail;
use crate::metrics::promise_kept::Tally;
use crate::{AppError, AppResult};

/// The words of one language.
pub struct Words {
    pub subject: &'static str,
    pub subject_all_clear: &'static str,
    pub hello: &'static str,
    pub intro_week: &'static str,
    pub intro_day: &'static str,
    pub all_clear: &'static str,
    pub stuck: &'static str,
    pub days_over: &'static str,
    pub in_stage: &'static str,
    pub calls_overdue: &'static str,
    pub calls_soon: &'static str,
    pub no_next_call: &'static str,
    pub followups: &'static str,
    pub opened: &'static str,
    pub answers: &'static str,
    pub answered_by: &'static str,
    pub nps: &'static str,
    pub upcoming: &'static str,
    pub wave: &'static str,
    pub due: &'static str,
    pub candidates: &'static str,
    pub asks_left: &'static str,
    pub moves: &'static str,
    pub moved_back: &'static str,
    pub your_rate: &'static str,
    pub team_rate: &'static str,
    pub verdicts: &'static str,
    pub no_verdicts: &'static str,
    pub team: &'static str,
    pub member: &'static str,
    pub kept_rate: &'static str,
    pub stuck_short: &'static str,
    pub followups_short: &'static str,
    pub trend: &'static str,
    pub open_app: &'static str,
    pub why: &'static str,
    pub settings: &'static str,
    pub unsubscribe: &'static str,
    pub verdict_kept: &'static str,
    pub verdict_partly: &'static str,
    pub verdict_not_kept: &'static str,
    pub verdict_too_early: &'static str,
}

const ENGLISH: Words = Words {
    subject: "Your Aftercare digest",
    subject_all_clear: "Your Aftercare digest: all clear",
    hello: "Hello",
    intro_week: "Here is what needs you this week, for the deals you own.",
    intro_day: "Here is what needs you today, for the deals you own.",
    all_clear: "Nothing needs you right now: no stuck deals, no calls to set, no broken promises. Well done.",
    stuck: "Stuck over their stage's target",
    days_over: "days over",
    in_stage: "in",
    calls_overdue: "Next calls overdue",
    calls_soon: "Next calls in the coming 7 days",
    no_next_call: "Deals with no next call",
    followups: "Open follow-ups: promises the customer said were not kept",
    opened: "opened",
    answers: "Survey answers received",
    answered_by: "answered by",
    nps: "recommend score",
    upcoming: "Surveys going out in the next 14 days: prepare the customer",
    wave: "months",
    due: "due",
    candidates: "Advocacy candidates",
    asks_left: "asks left this quarter",
    moves: "Stage moves",
    moved_back: "moved back",
    your_rate: "Your promise-kept rate",
    team_rate: "the team's",
    verdicts: "verdicts",
    no_verdicts: "no verdicts yet",
    team: "Your team",
    member: "Account manager",
    kept_rate: "Kept rate",
    stuck_short: "Stuck",
    followups_short: "Open follow-ups",
    trend: "Team kept rate by month",
    open_app: "Open Aftercare",
    why: "You receive this digest because you own deals in Aftercare.",
    settings: "Change when it arrives",
    unsubscribe: "Unsubscribe from digests",
    verdict_kept: "kept",
    verdict_partly: "partly kept",
    verdict_not_kept: "not kept",
    verdict_too_early: "too early to tell",
};

const DUTCH: Words = Words {
    subject: "Je Aftercare-overzicht",
    subject_all_clear: "Je Aftercare-overzicht: alles in orde",
    hello: "Hallo",
    intro_week: "Dit vraagt deze week je aandacht, voor de deals die je beheert.",
    intro_day: "Dit vraagt vandaag je aandacht, voor de deals die je beheert.",
    all_clear: "Niets vraagt nu je aandacht: geen vastgelopen deals, geen gesprekken te plannen, geen gebroken beloftes. Goed gedaan.",
    stuck: "Over de streeftermijn van hun fase",
    days_over: "dagen over",
    in_stage: "in",
    calls_overdue: "Verlopen vervolggesprekken",
    calls_soon: "Vervolggesprekken in de komende 7 dagen",
    no_next_call: "Deals zonder vervolggesprek",
    followups: "Open opvolgingen: beloftes die volgens de klant niet zijn waargemaakt",
    opened: "geopend",
    answers: "Ontvangen enquêteantwoorden",
    answered_by: "beantwoord door",
    nps: "aanbevelingsscore",
    upcoming: "Enquêtes die de komende 14 dagen uitgaan: bereid de klant voor",
    wave: "maanden",
    due: "gepland",
    candidates: "Kandidaten voor een referentie",
    asks_left: "verzoeken over dit kwartaal",
    moves: "Fasewijzigingen",
    moved_back: "teruggezet",
    your_rate: "Jouw percentage waargemaakte beloftes",
    team_rate: "dat van het team",
    verdicts: "oordelen",
    no_verdicts: "nog geen oordelen",
    team: "Je team",
    member: "Accountmanager",
    kept_rate: "Waargemaakt",
    stuck_short: "Vastgelopen",
    followups_short: "Open opvolgingen",
    trend: "Waargemaakt door het team per maand",
    open_app: "Open Aftercare",
    why: "Je ontvangt dit overzicht omdat je deals beheert in Aftercare.",
    settings: "Wijzig wanneer het komt",
    unsubscribe: "Afmelden voor overzichten",
    verdict_kept: "waargemaakt",
    verdict_partly: "deels waargemaakt",
    verdict_not_kept: "niet waargemaakt",
    verdict_too_early: "te vroeg om te zeggen",
};

/// The words for `language` (`nl`, or English).
pub fn words(language: &str) -> &'static Words {
    if language == "nl" { &DUTCH } else { &ENGLISH }
}

/// What both parts show, with the links made absolute.
pub struct View<'a> {
    pub d: &'a Digest,
    pub w: &'static Words,
    pub base: &'a str,
    pub unsubscribe: &'a str,
}

impl View<'_> {
    /// A rate with its verdict count, in words.
    pub fn rate(&self, tally: &Tally) -> String {
        match tally.rate {
            Some(rate) => format!("{:.0}% ({} {})", rate * 100.0, tally.n, self.w.verdicts),
            None => self.w.no_verdicts.to_owned(),
        }
    }

    /// A verdict in words.
    pub fn verdict(&self, code: &str) -> &'static str {
        match code {
            "kept" => self.w.verdict_kept,
            "partly" => self.w.verdict_partly,
            "not_kept" => self.w.verdict_not_kept,
            _ => self.w.verdict_too_early,
        }
    }

    /// The intro line.
    pub fn intro(&self) -> &'static str {
        if self.d.window_days == 1 { self.w.intro_day } else { self.w.intro_week }
    }

    /// The first name.
    pub fn first_name(&self) -> &str {
        self.d.name.split_whitespace().next().unwrap_or(&self.d.name)
    }
}

#[derive(Template)]
#[template(path = "emails/digest.txt")]
struct TextPart<'a> {
    v: View<'a>,
}

#[derive(Template)]
#[template(path = "emails/digest.html")]
struct HtmlPart<'a> {
    v: View<'a>,
}

/// The HTML part alone, for the preview page.
pub fn html(digest: &Digest, base_url: &str, unsubscribe: &str) -> AppResult<String> {
    let v = View { d: digest, w: words(&digest.language), base: base_url, unsubscribe };
    HtmlPart { v }.render().map_err(|e| AppError::Internal(e.into()))
}

/// The digest as an email to enqueue under `dedupe_key`.
pub fn compose(digest: &Digest, dedupe_key: String, base_url: &str, unsubscribe: &str) -> AppResult<NewEmail> {
    let w = words(&digest.language);
    let text_body = TextPart { v: View { d: digest, w, base: base_url, unsubscribe } }
        .render()
        .map_err(|e| AppError::Internal(e.into()))?;
    let subject = if digest.has_news() { w.subject } else { w.subject_all_clear };
    Ok(NewEmail {
        dedupe_key,
        kind: "digest",
        recipient: format!("{} <{}>", digest.name.replace(['<', '>', '"'], ""), digest.email),
        reply_to: None,
        subject: format!("{subject} ({})", digest.local_date.format("%Y-%m-%d")),
        text_body,
        html_body: html(digest, base_url, unsubscribe)?,
        list_unsubscribe: Some(unsubscribe.to_owned()),
    })
}
