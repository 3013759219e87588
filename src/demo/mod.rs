//! Demo data: a small customer-success team and about forty won deals over
//! the last eighteen months, in every stage, with evidence, holds, a move
//! back, stuck deals and overdue calls. It is made through the same services
//! the UI uses, with the clock set into the past, so it obeys every rule.

pub mod scale;

use std::fmt;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use entity::{deal, outbox_message, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::AppResult;
use crate::accounts::{AccountInput, ContactInput};
use crate::auth::users::{self, NewUser};
use crate::config::Config;
use crate::mail::outbox;
use crate::metrics::profitability::{self, EconomicsInput};
use crate::pipeline::deals::{self, DealUpdate, NewDeal, OwnersInput};
use crate::pipeline::evidence::{self, EvidenceInput};
use crate::pipeline::gate::{self, MoveBackInput};
use crate::pipeline::holds::{self, HoldInput};
use crate::pipeline::stages;
use crate::surveys::promises::{self, PromiseInput};
use crate::surveys::queries::{self, SurveyFilter};
use crate::surveys::{followups, page, planner, reminders};

/// The demo admin's login.
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.aftercare.test";
/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "aftercare-demo";

/// What the demo loader made.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    /// Users added.
    pub users: usize,
    /// Deals added.
    pub deals: usize,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Loaded demo data: {} users, {} deals. Sign in as {DEMO_ADMIN_EMAIL} with password {DEMO_PASSWORD}",
            self.users, self.deals
        )
    }
}

/// Whether the database has neither users nor deals.
pub async fn is_empty(db: &DatabaseConnection) -> AppResult<bool> {
    Ok(user::Entity::find().count(db).await? == 0 && deal::Entity::find().count(db).await? == 0)
}

/// Whether the demo admin is present.
pub async fn demo_admin_exists(db: &DatabaseConnection) -> AppResult<bool> {
    Ok(user::Entity::find().filter(user::Column::Email.eq(DEMO_ADMIN_EMAIL)).count(db).await? > 0)
}

const TEAM: [(&str, &str, &str); 10] = [
    ("Ada Lindqvist", "admin", DEMO_ADMIN_EMAIL),
    ("Grace Okafor", "manager", "grace@demo.aftercare.test"),
    ("Sofia Jansen", "member", "sofia@demo.aftercare.test"),
    ("Liam Carter", "member", "liam@demo.aftercare.test"),
    ("Noor de Vries", "member", "noor@demo.aftercare.test"),
    ("Priya Patel", "member", "priya@demo.aftercare.test"),
    ("Tom Bakker", "member", "tom@demo.aftercare.test"),
    ("Jonas Weber", "member", "jonas@demo.aftercare.test"),
    ("Elena Rossi", "member", "elena@demo.aftercare.test"),
    ("Hugo Laurent", "viewer", "hugo@demo.aftercare.test"),
];
const ACCOUNT_MANAGERS: [&str; 3] =
    ["sofia@demo.aftercare.test", "liam@demo.aftercare.test", "noor@demo.aftercare.test"];
const CSMS: [&str; 2] = ["priya@demo.aftercare.test", "tom@demo.aftercare.test"];
const IMPLEMENTATION_LEADS: [&str; 2] = ["jonas@demo.aftercare.test", "elena@demo.aftercare.test"];

const COMPANIES: [(&str, &str, &str); 40] = [
    ("Northwind Logistics", "northwind.example", "Mid-market"),
    ("Brightwater Health", "brightwater.example", "Enterprise"),
    ("Kestrel Analytics", "kestrel.example", "SMB"),
    ("Van Dijk Installaties", "vandijk.example", "Mid-market"),
    ("Harbor & Pine Legal", "harborpine.example", "SMB"),
    ("Meridian Foods", "meridianfoods.example", "Enterprise"),
    ("Lumen Schools", "lumenschools.example", "Mid-market"),
    ("Atlas Freight", "atlasfreight.example", "Enterprise"),
    ("Bloom Retail Group", "bloomretail.example", "Mid-market"),
    ("Copperleaf Energy", "copperleaf.example", "Enterprise"),
    ("De Haan Accountants", "dehaan.example", "SMB"),
    ("Fjord Maritime", "fjordmaritime.example", "Mid-market"),
    ("Greenline Transit", "greenline.example", "Enterprise"),
    ("Helix Biotech", "helixbio.example", "Mid-market"),
    ("Iris Insurance", "irisinsurance.example", "Enterprise"),
    ("Juniper Hotels", "juniperhotels.example", "Mid-market"),
    ("Kade Architecten", "kade.example", "SMB"),
    ("Larkspur Media", "larkspur.example", "SMB"),
    ("Mosaic Manufacturing", "mosaicmfg.example", "Enterprise"),
    ("Nimbus Cloudworks", "nimbus.example", "Mid-market"),
    ("Oakridge Dental", "oakridge.example", "SMB"),
    ("Polder Water Board", "polderwater.example", "Enterprise"),
    ("Quayside Properties", "quayside.example", "Mid-market"),
    ("Riverbend Clinics", "riverbend.example", "Mid-market"),
    ("Saltmarsh Brewing", "saltmarsh.example", "SMB"),
    ("Tidewell Utilities", "tidewell.example", "Enterprise"),
    ("Umber Studios", "umber.example", "SMB"),
    ("Veldkamp Agri", "veldkamp.example", "Mid-market"),
    ("Willow Care Homes", "willowcare.example", "Mid-market"),
    ("Xenon Robotics", "xenonrobotics.example", "Enterprise"),
    ("Yardley Outdoor", "yardley.example", "SMB"),
    ("Zephyr Airlines", "zephyrair.example", "Enterprise"),
    ("Alder & Finch Consulting", "alderfinch.example", "SMB"),
    ("Bramble Software", "bramble.example", "Mid-market"),
    ("Cobalt Payments", "cobaltpay.example", "Enterprise"),
    ("Driftwood Travel", "driftwood.example", "SMB"),
    ("Ember Fitness", "emberfitness.example", "SMB"),
    ("Falcon Security", "falconsec.example", "Mid-market"),
    ("Granite Construction NL", "granitenl.example", "Enterprise"),
    ("Hollow Oak Publishing", "hollowoak.example", "SMB"),
];

const FIRST_NAMES: [&str; 12] =
    ["Anna", "Bram", "Chloe", "Daan", "Emma", "Finn", "Hannah", "Isaac", "Julia", "Lars", "Maria", "Olivia"];
const LAST_NAMES: [&str; 12] =
    ["Smit", "Brown", "Visser", "Meyer", "Kowalski", "Dubois", "Mulder", "Evans", "Novak", "Peters", "Berg", "Hughes"];
const HOLD_REASONS: [&str; 4] = [
    "Waiting on customer's IT to open the firewall",
    "Customer's project lead on parental leave until next month",
    "Customer paused for their year-end freeze",
    "Waiting on the customer's security review",
];

/// A small deterministic generator, so every demo looks the same.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % u64::try_from(high - low + 1).unwrap_or(1)) as i64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const PROMISES: [(&str, &str, &str); 12] = [
    ("Month-end close in 5 days instead of 10", "Finance", "5 days"),
    ("Every invoice approved within 48 hours", "Finance", "48 hours"),
    ("Planners spend half the time on weekly schedules", "Operations", "50% less time"),
    ("One dashboard replaces the three weekly spreadsheets", "Reporting", "3 spreadsheets retired"),
    ("Support tickets answered within one business day", "Service", "1 day"),
    ("New staff productive in their first week", "People", "5 days"),
    ("Audit preparation in two days instead of two weeks", "Compliance", "2 days"),
    ("Stock-outs halved within six months", "Operations", "-50%"),
    ("No more double data entry between CRM and ERP", "IT", "0 duplicate entries"),
    ("Customer onboarding in 3 days instead of 3 weeks", "Service", "3 days"),
    ("Field teams log visits from their phones", "Operations", "100% mobile"),
    ("Board report produced in one click", "Reporting", "1 click"),
];
const COMMENTS: [&str; 4] = [
    "The close really is faster now; the team noticed in the second month.",
    "Good progress, but the reporting part still needs work.",
    "We have not seen the promised time savings yet.",
    "Great partner: responsive and honest about what works.",
];

/// Adds the demo team (once).
pub async fn load_team(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<()> {
    let team_since = now - Duration::days(600);
    for (name, role, email) in TEAM {
        let input = NewUser {
            email: email.to_owned(),
            name: name.to_owned(),
            role: role.to_owned(),
            password: Some(DEMO_PASSWORD.to_owned()),
        };
        if users::id_by_email(db, "email", email).await.is_err() {
            users::add(db, input, None, team_since).await?;
        }
    }
    // Where the team works, so each digest arrives at 07:00 local.
    for (email, time_zone, language) in TEAM_ZONES {
        entity::user::Entity::update_many()
            .col_expr(entity::user::Column::TimeZone, sea_orm::sea_query::Expr::value(time_zone))
            .col_expr(entity::user::Column::Language, sea_orm::sea_query::Expr::value(language))
            .filter(entity::user::Column::Email.eq(email))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The demo team's time zones and languages (everyone else: UTC, English).
const TEAM_ZONES: [(&str, &str, &str); 8] = [
    (DEMO_ADMIN_EMAIL, "Europe/Stockholm", "en"),
    ("grace@demo.aftercare.test", "Europe/London", "en"),
    ("sofia@demo.aftercare.test", "Europe/Amsterdam", "nl"),
    ("liam@demo.aftercare.test", "America/New_York", "en"),
    ("noor@demo.aftercare.test", "Europe/Amsterdam", "nl"),
    ("priya@demo.aftercare.test", "America/Los_Angeles", "en"),
    ("tom@demo.aftercare.test", "Europe/Amsterdam", "nl"),
    ("jonas@demo.aftercare.test", "Europe/Berlin", "en"),
];

/// Loads the demo team and deals, as of `now`.
pub async fn load(db: &DatabaseConnection, config: &Config, now: DateTime<Utc>) -> AppResult<DemoSummary> {
    load_team(db, now).await?;
    let pipeline = stages::list(db).await?;
    let mut dice = Dice(0x00AF_7E2C_A2E5);
    let mut made = 0;
    for (index, (company, domain, segment)) in COMPANIES.iter().enumerate() {
        // Spread the wins over eighteen months, newest first and denser
        // recently, as a growing team's book looks.
        let n = index as i64;
        let age_days = 2 + (n * n * 540) / (COMPANIES.len() as i64).pow(2) + dice.range(0, 4);
        let won_at = (now - Duration::days(age_days))
            .date_naive()
            .and_time(NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default())
            .and_utc();
        let am = ACCOUNT_MANAGERS[index % ACCOUNT_MANAGERS.len()];
        let csm = CSMS[index % CSMS.len()];
        let lead = IMPLEMENTATION_LEADS[(index / 2) % IMPLEMENTATION_LEADS.len()];
        let contacts: Vec<ContactInput> = (0..dice.range(1, 3))
            .map(|n| {
                let first = dice.pick(&FIRST_NAMES);
                let last = dice.pick(&LAST_NAMES);
                let roles = ["Project lead", "CFO", "Head of Operations", "IT manager"];
                ContactInput {
                    name: Some(format!("{first} {last}")),
                    email: Some(format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase())),
                    role: Some(roles[n as usize % roles.len()].to_owned()),
                    language: Some(if domain.starts_with(['v', 'd', 'k', 'p']) { "nl" } else { "en" }.to_owned()),
                    survey_recipient: None,
                }
            })
            .collect();
        let champion = contacts.first().and_then(|c| c.name.clone()).unwrap_or_default();
        let input = NewDeal {
            name: Some(format!("{company} - {} plan", ["Starter", "Growth", "Scale"][index % 3])),
            closed_won_on: Some(won_at.date_naive().to_string()),
            account: Some(AccountInput {
                name: Some((*company).to_owned()),
                domain: Some((*domain).to_owned()),
                segment: Some((*segment).to_owned()),
            }),
            amount: Some(dice.range(12, 180) as f64 * 1000.0),
            currency: Some("EUR".to_owned()),
            external_id: Some(format!("demo-{:04}", index + 1)),
            owners: Some(OwnersInput {
                account_manager: Some(am.to_owned()),
                implementation_lead: Some(lead.to_owned()),
                csm: Some(csm.to_owned()),
            }),
            contacts,
        };
        let am_id = users::id_by_email(db, "owner", am).await?;
        let (deal_id, _) = deals::create(db, input, Some(am_id), won_at).await?;
        made += 1;
        // Most accounts have their economics on file; a few are still unknown.
        if index % 8 != 5 {
            let account_id = deals::get(db, deal_id, won_at).await?.summary.account.id;
            let (arr, margin, cac) = (dice.range(18, 240) * 1000, dice.range(58, 84), dice.range(40, 300) * 1000);
            let figures = EconomicsInput {
                arr: Some(Some(arr.to_string())),
                gross_margin_pct: Some(Some(margin.to_string())),
                cac: Some(Some(cac.to_string())),
            };
            profitability::update_economics(db, account_id, figures, am_id, won_at).await?;
        }
        for n in 0..dice.range(1, 3) {
            let (text, category, target) = PROMISES[(index * 5 + n as usize * 7) % PROMISES.len()];
            let input = PromiseInput {
                text: Some(text.to_owned()),
                category: Some(category.to_owned()),
                target: Some(target.to_owned()),
            };
            promises::add(db, deal_id, input, None, am_id, won_at).await?;
        }
        let lead_id = users::id_by_email(db, "owner", lead).await?;

        // Walk the deal through the stages while time allows. Some deals
        // take their time, so a few end up stuck over their SLA.
        let mut at = won_at;
        // Some customers stall: their implementation drags past the SLA.
        let stalls = index % 4 == 1;
        for (step, stage) in pipeline.iter().enumerate() {
            let Some(sla) = stage.sla_days else { break };
            // The two newest deals were signed this week: nothing done yet.
            if index < 2 {
                break;
            }
            let stretch = if stalls && stage.key == "implementing" { 400 } else { 105 };
            let typical = i64::from(sla) * dice.range(40, stretch) / 100;
            let done_at = at + Duration::days(typical.max(1)) + Duration::hours(dice.range(0, 6));
            if done_at >= now {
                break;
            }
            for criterion in &stage.criteria {
                if !criterion.required && dice.range(0, 2) == 0 {
                    continue;
                }
                let confirmed_at = done_at - Duration::days(dice.range(0, typical.clamp(0, 3)));
                let evidence = EvidenceInput {
                    criterion_id: criterion.id,
                    note: Some(format!("{champion} confirmed: {}.", criterion.text.to_lowercase())),
                    url: Some(format!("https://mail.{domain}/messages/{:x}", dice.next() % 0xFFFF_FFFF)),
                    confirmed_by: Some(champion.clone()),
                    confirmed_on: Some(confirmed_at.date_naive().to_string()),
                    supersedes_id: None,
                };
                evidence::record(db, deal_id, evidence, lead_id, confirmed_at.max(at)).await?;
            }
            // One deal shows how a step back is recorded.
            if index == 17 && step == 1 {
                let reason = "Customer withdrew the plan sign-off after a reorganisation".to_owned();
                gate::advance(db, deal_id, lead_id, done_at).await?;
                gate::move_back(
                    db,
                    deal_id,
                    MoveBackInput { reason: Some(reason) },
                    lead_id,
                    done_at + Duration::days(2),
                )
                .await?;
                at = done_at + Duration::days(2);
                break;
            }
            gate::advance(db, deal_id, lead_id, done_at).await?;
            at = done_at;
        }

        let in_flight = deals::get(db, deal_id, now).await?.summary.stage != "live";
        if in_flight {
            if index % 6 == 2 {
                let since = now - Duration::days(dice.range(2, 12)).min(now - at);
                let reason = HOLD_REASONS[index % HOLD_REASONS.len()].to_owned();
                holds::hold(db, deal_id, HoldInput { reason: Some(reason) }, lead_id, since).await?;
            }
            let next_call = now + Duration::days(dice.range(-6, 12)) + Duration::hours(dice.range(0, 8));
            let update = DealUpdate {
                next_call_at: Some(Some(next_call.format("%Y-%m-%dT%H:00:00Z").to_string())),
                next_call_lead: Some(Some(if index % 2 == 0 { csm } else { lead }.to_owned())),
                next_call_scheduler: Some(Some(am.to_owned())),
                ..Default::default()
            };
            deals::update(db, deal_id, update, am_id, at.max(now - Duration::days(7))).await?;
        }
    }
    survey_history(db, config, now, &mut dice).await?;
    Ok(DemoSummary { users: TEAM.len(), deals: made })
}

/// Replays the survey jobs week by week over the past, and has most
/// customers answer, so surveys, verdicts and follow-ups look lived-in.
async fn survey_history(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
    dice: &mut Dice,
) -> AppResult<()> {
    let policy = &config.surveys;
    let mut at = now - Duration::days(560);
    while at < now {
        planner::plan(db, policy, &config.base_url, at).await?;
        let open = queries::list(db, &SurveyFilter { status: Some("sent".to_owned()), ..Default::default() }).await?;
        for survey in open {
            let Some(sent_at) = survey.sent_at else { continue };
            // Most customers answer within a week, some after a reminder or
            // two, and some never do.
            let patience = if survey.id % 3 == 0 { 8 } else { 4 };
            if at - sent_at < Duration::days(patience) || survey.id % 5 == 3 {
                continue;
            }
            let detail = queries::get(db, survey.id).await?;
            let mut pairs = Vec::new();
            for promise in &detail.promises {
                let roll = dice.range(0, 99);
                let verdict = match roll {
                    0..=69 => "kept",
                    70..=83 => "partly",
                    84..=91 => "not_kept",
                    _ => "too_early",
                };
                pairs.push((format!("verdict_{}", promise.id), verdict.to_owned()));
                if roll % 9 == 0 {
                    pairs.push((
                        format!("comment_{}", promise.id),
                        COMMENTS[(roll as usize) % COMMENTS.len()].to_owned(),
                    ));
                }
            }
            let nps = dice.range(5, 10).max(dice.range(3, 10));
            pairs.push(("nps".to_owned(), nps.to_string()));
            if nps >= 9 && dice.range(0, 2) > 0 {
                pairs.push(("reference".to_owned(), "yes".to_owned()));
            }
            if nps >= 9 && dice.range(0, 2) == 0 {
                pairs.push(("review".to_owned(), "yes".to_owned()));
            }
            if dice.range(0, 3) == 0 {
                pairs.push(("comment".to_owned(), COMMENTS[survey.id as usize % COMMENTS.len()].to_owned()));
            }
            let token = planner::issue_token(db, survey.id, "demo", at).await?;
            page::submit(db, &token, &pairs, at).await?;
        }
        reminders::remind(db, policy, &config.base_url, at).await?;
        reminders::expire(db, at).await?;
        at += Duration::days(7);
    }
    // Follow-ups older than a month have mostly been dealt with.
    let admin = users::id_by_email(db, "owner", DEMO_ADMIN_EMAIL).await?;
    for followup in followups::list(db, Some(followups::status::OPEN), None).await? {
        if now - followup.opened_at > Duration::days(30) && followup.id % 3 != 0 {
            let note = Some("Walked the customer through the fix; they confirmed it works now.".to_owned());
            followups::resolve(
                db,
                followup.id,
                followups::ResolveInput { note },
                admin,
                followup.opened_at + Duration::days(9),
            )
            .await?;
        }
    }
    // The replayed past was delivered long ago; only this week's mail waits
    // for the sender (and lands in data/outbox/ on a fresh machine).
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value(outbox::status::SENT))
        .col_expr(outbox_message::Column::SentAt, Expr::col(outbox_message::Column::CreatedAt))
        .filter(outbox_message::Column::CreatedAt.lt(now - Duration::days(7)))
        .exec(db)
        .await?;
    Ok(())
}
