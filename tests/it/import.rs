//! CSV import from CRMs: HubSpot deals exports and Salesforce opportunity
//! reports as they come (BOM, semicolons, their date and number styles),
//! any CSV through a column mapping; only closed-won rows; idempotent by the
//! CRM's id, a changed row updating CRM fields only; bad rows reported by
//! line, column and reason, stopping the import unless skipped; contacts,
//! promises and economics through the same rules as the forms; the web
//! upload -> preview -> import flow and the command line.

use aftercare::accounts::AccountInput;
use aftercare::auth::Role;
use aftercare::auth::users::{self, NewUser};
use aftercare::error::AppError;
use aftercare::import::{self, Kind, Options, Outcome, Report, RowError, text};
use aftercare::metrics::profitability::{self, EconomicsInput};
use aftercare::pipeline::deals::{self, NewDeal, OwnersInput};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::NaiveDate;
use entity::{account, audit_entry, contact, deal, evidence, promise, stage, stage_transition};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::helpers::{NowForTests, TestApp, TestDatabase, TestUser};
use crate::web_client::{Browser, Page, SESSION_COOKIE, TableDump};

// ------------------------------------------------------------------ files

/// A HubSpot deals export: UTF-8 with a BOM, CRLF, the columns HubSpot
/// writes (and some it adds), times on close dates, US amounts, owners by
/// name and by email, a lost deal and an open one.
fn hubspot_export() -> String {
    [
        "\u{feff}Record ID,Deal Name,Deal Stage,Close Date,Amount,Deal owner,Associated Company,Pipeline,Create Date,Last Activity Date",
        "9001,Acme expansion,Closed Won,2026-01-15 14:03,\"12,000.50\",Kim Jansen,Acme BV,Sales Pipeline,2025-11-01 10:00,2026-01-20",
        "9002,Globex platform,closedwon,2026-02-01,5000,kim@example.com,Globex,Sales Pipeline,2025-12-01 09:30,",
        "9003,Initech pilot,Closed Lost,2026-02-10,800,Sam Lee,Initech,Sales Pipeline,2025-12-05 11:00,",
        "9004,\"Umbrella, phase 2\",appointmentscheduled,,,Sam Lee,Umbrella,Sales Pipeline,2026-02-20 08:00,",
    ]
    .join("\r\n")
        + "\r\n"
}

/// A Salesforce opportunities report saved by European Excel: semicolons,
/// US dates, amounts with currency codes and symbols.
fn salesforce_report() -> String {
    [
        "Opportunity ID;Opportunity Name;Account Name;Stage;Close Date;Amount;Opportunity Owner;Type;Fiscal Period",
        "0061x00000AbCdE;Hooli renewal;Hooli;Closed Won;2/27/2026;EUR 1.234,56;Sam Lee;Existing Business;Q1-2026",
        "0061x00000AbCdF;Pied Piper;Pied Piper;Closed Won;12/31/2025;$48,000.00;kim@example.com;New Business;Q4-2025",
        "0061x00000AbCdG;Raviga;Raviga;Prospecting;3/30/2026;10.000,00;Sam Lee;New Business;Q1-2026",
    ]
    .join("\n")
        + "\n"
}

/// A file with one of each bad row, and two good ones (line 2, and the row
/// on lines 9-10 whose description spans two lines).
fn export_with_bad_rows() -> String {
    [
        "Record ID,Deal Name,Deal Stage,Close Date,Amount,Deal owner,Associated Company,Description",
        "1,Good one,Closed Won,2026-01-10,100,Kim Jansen,Good Co,",
        "2,Bad date,Closed Won,2026-13-45,100,Kim Jansen,Co,",
        "3,,Closed Won,2026-01-10,100,Kim Jansen,Co,",
        "4,Unknown owner,Closed Won,2026-01-10,100,Nobody Here,Co,",
        "5,\"Dup, first\",Closed Won,2026-01-10,100,,Co,",
        "6,Bad amount,Closed Won,2026-01-10,12abc,,Co,",
        "5,\"Dup, second\",Closed Won,2026-01-10,100,,Co,",
        "7,Multi-line note,Closed Won,2026-01-10,100,,Good Co,\"Kickoff agreed,\nsee the email\"",
        "8,Future,Closed Won,2027-01-01,100,,Co,",
        "9,Unquoted amount,Closed Won,2026-01-10,1,234.00,,Co,",
        "10,Day first,Closed Won,13/01/2026,100,,Co,",
    ]
    .join("\n")
        + "\n"
}

/// The two users exports name as owners.
struct Team {
    kim: i32,
    sam: i32,
}

async fn team(app: &TestApp) -> Team {
    Team {
        kim: person(app, "Kim Jansen", "kim@example.com").await,
        sam: person(app, "Sam Lee", "sam@example.com").await,
    }
}

async fn person(app: &TestApp, name: &str, email: &str) -> i32 {
    let input = NewUser {
        email: email.to_owned(),
        name: name.to_owned(),
        role: "member".to_owned(),
        password: Some("a long enough password".to_owned()),
    };
    users::add(&app.state.db, input, None, app.clock.now_for_tests()).await.expect("adding a user").0.id
}

// ---------------------------------------------------------------- helpers

async fn run(app: &TestApp, kind: Kind, file: &str, options: &Options) -> Report {
    import::run(&app.state.db, kind, file, options, None, app.clock.now_for_tests(), &|_| {})
        .await
        .unwrap_or_else(|e| panic!("importing {kind}: {e}"))
}

async fn deals_import(app: &TestApp, file: &str) -> Report {
    run(app, Kind::Deals, file, &Options::default()).await
}

fn skipping_invalid() -> Options {
    Options { skip_invalid: true, ..Options::default() }
}

async fn deal_by_crm_id(app: &TestApp, id: &str) -> deal::Model {
    deal::Entity::find()
        .filter(deal::Column::ExternalId.eq(id))
        .one(&app.state.db)
        .await
        .expect("reading deals")
        .unwrap_or_else(|| panic!("no deal with the CRM id {id}"))
}

async fn account_of(app: &TestApp, deal: &deal::Model) -> account::Model {
    account::Entity::find_by_id(deal.account_id).one(&app.state.db).await.expect("reading").expect("the account")
}

async fn stage_key(app: &TestApp, deal: &deal::Model) -> String {
    stage::Entity::find_by_id(deal.stage_id).one(&app.state.db).await.expect("reading").expect("the stage").key
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a test date")
}

/// The errors as `line N, column "X": reason` lines.
fn error_lines(report: &Report) -> Vec<String> {
    report.errors.iter().map(ToString::to_string).collect()
}

fn assert_error(report: &Report, line: u64, column: &str, says: &str) {
    let found =
        report.errors.iter().any(|e| e.line == line && e.column.as_deref() == Some(column) && e.reason.contains(says));
    assert!(found, "expected line {line}, column {column:?}: ...{says}... among:\n{:#?}", error_lines(report));
}

fn counts(report: &Report) -> [u64; 5] {
    [report.created, report.updated, report.unchanged, report.skipped, report.error_rows]
}

// ------------------------------------------------------- the two exports

#[tokio::test]
async fn a_hubspot_export_enters_its_closed_won_deals_and_skips_the_rest() {
    let app = TestApp::new().await;
    let team = team(&app).await;

    let report = deals_import(&app, &hubspot_export()).await;

    assert_eq!(report.format, "hubspot");
    assert_eq!(counts(&report), [2, 0, 0, 2, 0], "{:#?}", report.outcomes);
    assert!(report.applied);
    let outcomes: Vec<(u64, Outcome)> = report.outcomes.iter().map(|o| (o.line, o.outcome)).collect();
    assert_eq!(outcomes, [(2, Outcome::Created), (3, Outcome::Created), (4, Outcome::Skipped), (5, Outcome::Skipped)]);
    let acme = deal_by_crm_id(&app, "9001").await;
    assert_eq!(acme.name, "Acme expansion");
    assert_eq!((acme.amount_cents, acme.currency.as_deref()), (Some(1_200_050), None));
    assert_eq!(acme.closed_won_on, date("2026-01-15"), "the time of day is dropped");
    assert_eq!(acme.account_manager_id, Some(team.kim), "owner matched by name");
    assert_eq!(account_of(&app, &acme).await.name, "Acme BV");
    assert_eq!(stage_key(&app, &acme).await, "closed_won");
    let globex = deal_by_crm_id(&app, "9002").await;
    assert_eq!(globex.account_manager_id, Some(team.kim), "owner matched by email");
    assert_eq!(globex.amount_cents, Some(500_000));
    let moves = stage_transition::Entity::find()
        .filter(stage_transition::Column::DealId.eq(acme.id))
        .all(&app.state.db)
        .await
        .expect("reading");
    assert_eq!(moves.len(), 1);
    assert_eq!((moves[0].kind.as_str(), moves[0].from_stage_id), ("created", None));
    assert_eq!(deal::Entity::find().count(&app.state.db).await.expect("count"), 2, "lost and open deals stay out");
}

#[tokio::test]
async fn a_salesforce_report_with_semicolons_us_dates_and_currency_amounts_imports() {
    let app = TestApp::new().await;
    let team = team(&app).await;

    let report = deals_import(&app, &salesforce_report()).await;

    assert_eq!(report.format, "salesforce");
    assert_eq!(counts(&report), [2, 0, 0, 1, 0], "{:#?}", error_lines(&report));
    let hooli = deal_by_crm_id(&app, "0061x00000AbCdE").await;
    assert_eq!((hooli.amount_cents, hooli.currency.as_deref()), (Some(123_456), Some("EUR")));
    assert_eq!(hooli.closed_won_on, date("2026-02-27"), "M/D/YYYY");
    assert_eq!(hooli.account_manager_id, Some(team.sam));
    let piper = deal_by_crm_id(&app, "0061x00000AbCdF").await;
    assert_eq!((piper.amount_cents, piper.currency.as_deref()), (Some(4_800_000), Some("USD")));
    assert_eq!(piper.closed_won_on, date("2025-12-31"));
}

#[tokio::test]
async fn any_csv_imports_through_a_column_mapping_and_a_won_stage_of_its_own() {
    let app = TestApp::new().await;
    let team = team(&app).await;
    let file = "Deal #,Title,Customer,Signed,Value,Rep,Tier,Status\n\
                A-1,Alpha,Alpha Inc,01.02.2026,\"1 500,00\",kim@example.com,Enterprise,won\n\
                A-2,Beta,Beta Inc,2026-02-03,750,Sam Lee,SMB,lost\n";
    let mapping = "# our spreadsheet\nexternal_id = Deal #\nname = Title\naccount = Customer\n\
                   closed_won_on = Signed\namount = Value\nowner = Rep\nsegment = Tier\nstage = Status\n";
    let options =
        Options { mapping: Some(mapping.to_owned()), won_stages: vec!["won".to_owned()], ..Options::default() };

    let report = run(&app, Kind::Deals, file, &options).await;

    assert_eq!(report.format, "mapped");
    assert_eq!(counts(&report), [1, 0, 0, 1, 0], "{:#?}", error_lines(&report));
    let alpha = deal_by_crm_id(&app, "A-1").await;
    assert_eq!((alpha.closed_won_on, alpha.amount_cents), (date("2026-02-01"), Some(150_000)));
    assert_eq!(alpha.account_manager_id, Some(team.kim));
    assert_eq!(account_of(&app, &alpha).await.segment.as_deref(), Some("Enterprise"));

    let unknown = run(&app, Kind::Deals, file, &Options::default()).await;
    assert!(unknown.file_refused, "without the mapping the columns mean nothing");
    assert!(unknown.errors[0].reason.contains("give a column mapping"), "{:?}", unknown.errors);
    let typo = Options { mapping: Some("external_id = Deal #\nname = Titel\n".to_owned()), ..Options::default() };
    let refused = run(&app, Kind::Deals, file, &typo).await;
    assert!(refused.file_refused);
    assert_eq!(error_lines(&refused), ["the mapping, line 2: the file has no column \"Titel\" (for name)"]);
}

// ------------------------------------------------------------- bad rows

#[tokio::test]
async fn bad_rows_are_reported_by_line_column_and_reason_and_stop_the_import() {
    let app = TestApp::new().await;
    team(&app).await;
    let before = TableDump::of(&app).await;

    let report = deals_import(&app, &export_with_bad_rows()).await;

    assert_error(&report, 3, "Close Date", "2026-13-45 is not a day of the calendar");
    assert_error(&report, 4, "Deal Name", "is required");
    assert_error(&report, 5, "Deal owner", "unknown owner: no user has the email or name Nobody Here");
    assert_error(&report, 6, "Record ID", "the id 5 is also on line 8");
    assert_error(&report, 7, "Amount", "must be an amount such as 1234.56");
    assert_error(&report, 8, "Record ID", "the id 5 is also on line 6");
    assert_error(&report, 11, "Close Date", "cannot be in the future");
    assert_error(&report, 13, "Close Date", "13/01/2026 is not a US date");
    let wide = report.errors.iter().find(|e| e.line == 12).expect("the row with an unquoted comma");
    assert_eq!(
        (wide.column.as_deref(), wide.reason.as_str()),
        (None, "has 9 values but the header has 8 columns (is a value with the delimiter in it not quoted?)")
    );
    assert_eq!(report.errors.len(), 9, "{:#?}", error_lines(&report));
    assert_eq!(counts(&report), [2, 0, 0, 0, 9], "the row spanning lines 9-10 is fine");
    assert!(!report.applied, "one bad row and nothing is imported");
    assert!(TableDump::of(&app).await.changed_since(&before).is_empty());

    let report = run(&app, Kind::Deals, &export_with_bad_rows(), &skipping_invalid()).await;
    assert!(report.applied);
    assert_eq!(counts(&report), [2, 0, 0, 0, 9]);
    assert_eq!(deal_by_crm_id(&app, "7").await.name, "Multi-line note");
    assert_eq!(deal::Entity::find().count(&app.state.db).await.expect("count"), 2, "only the good rows");
}

#[tokio::test]
async fn a_missing_column_a_bom_and_day_first_dates_are_handled_as_documented() {
    let app = TestApp::new().await;
    team(&app).await;
    let no_date = "\u{feff}Record ID,Deal Name,Associated Company\n1,A,B\n";
    let report = deals_import(&app, no_date).await;
    assert!(report.file_refused);
    assert_eq!(
        error_lines(&report),
        ["line 1, column \"Close Date\": the file has no such column (closed_won_on: the close date)"]
    );

    let day_first = "Opportunity ID;Opportunity Name;Account Name;Stage;Close Date\nX1;A;B;Closed Won;3/1/2026\n";
    let options = Options { day_first: true, ..Options::default() };
    assert_eq!(run(&app, Kind::Deals, day_first, &options).await.created, 1);
    assert_eq!(deal_by_crm_id(&app, "X1").await.closed_won_on, date("2026-01-03"), "3/1 read day first");
}

#[tokio::test]
async fn a_file_that_is_not_utf8_is_refused_naming_the_line_unless_read_as_windows_1252() {
    let app = TestApp::new().await;
    team(&app).await;
    let bytes = b"Record ID,Deal Name,Associated Company,Close Date\n1,Plan,Acme,2026-01-05\n2,Expansion,M\xfcller GmbH,2026-01-06\n".to_vec();

    let refused: RowError = text::decode(bytes.clone(), text::Encoding::Utf8).expect_err("Latin-1 is not UTF-8");
    assert_eq!(refused.line, 3);
    assert!(refused.reason.contains("is not UTF-8 (byte 0xFC)") && refused.reason.contains("Windows-1252"));

    let decoded = text::decode(bytes, text::Encoding::Windows1252).expect("Windows-1252 always decodes");
    assert_eq!(deals_import(&app, &decoded).await.created, 2);
    assert_eq!(account_of(&app, &deal_by_crm_id(&app, "2").await).await.name, "Müller GmbH");
}

// ------------------------------------------------------------ idempotent

#[tokio::test]
async fn importing_the_same_files_again_changes_nothing() {
    let app = TestApp::new().await;
    team(&app).await;
    deals_import(&app, &hubspot_export()).await;
    deals_import(&app, &salesforce_report()).await;
    let rows = app.row_counts().await;
    let before = TableDump::of(&app).await;

    let hubspot = deals_import(&app, &hubspot_export()).await;
    let salesforce = deals_import(&app, &salesforce_report()).await;

    assert_eq!(counts(&hubspot), [0, 0, 2, 2, 0]);
    assert_eq!(counts(&salesforce), [0, 0, 2, 1, 0]);
    assert_eq!(app.row_counts().await, rows);
    let changed = TableDump::of(&app).await.changed_since(&before);
    assert!(changed.is_empty(), "a second import changed {changed:?}");
}

#[tokio::test]
async fn a_changed_row_updates_only_the_crm_fields_and_the_deal_keeps_its_stage() {
    let app = TestApp::new().await;
    let team = team(&app).await;
    let member = app.user(Role::Member).await;
    deals_import(&app, &hubspot_export()).await;
    let acme = deal_by_crm_id(&app, "9001").await;
    app.meet_exit_criteria(&member, acme.id).await;
    assert_eq!(app.advance(&member, acme.id).await.status, StatusCode::OK);
    let moved = deal_by_crm_id(&app, "9001").await;
    let evidence_before = evidence::Entity::find().count(&app.state.db).await.expect("count");
    let before = TableDump::of(&app).await;
    app.clock.advance(chrono::Duration::days(3));

    let changed = hubspot_export().replace(
        "9001,Acme expansion,Closed Won,2026-01-15 14:03,\"12,000.50\",Kim Jansen,Acme BV",
        "9001,Acme expansion (signed),Closed Won,2026-01-16,\"13,000.00\",Sam Lee,Acme Renamed BV",
    );
    let report = deals_import(&app, &changed).await;

    assert_eq!(counts(&report), [0, 1, 1, 2, 0]);
    assert_eq!(report.outcomes[0].detail, format!("deal {}: name, amount, closed_won_on, account_manager", acme.id));
    let after = deal_by_crm_id(&app, "9001").await;
    assert_eq!(after.name, "Acme expansion (signed)");
    assert_eq!((after.amount_cents, after.closed_won_on), (Some(1_300_000), date("2026-01-16")));
    assert_eq!(after.account_manager_id, Some(team.sam));
    assert_eq!(after.updated_at, app.clock.now_for_tests());
    assert_eq!((after.stage_id, after.stage_entered_at), (moved.stage_id, moved.stage_entered_at));
    assert_eq!(stage_key(&app, &after).await, "handoff", "the import never moves a deal");
    assert_eq!(after.account_id, acme.account_id, "the account is not a CRM field of the deal");
    assert_eq!(evidence::Entity::find().count(&app.state.db).await.expect("count"), evidence_before);
    let mut changed_tables = TableDump::of(&app).await.changed_since(&before);
    changed_tables.sort_unstable();
    assert_eq!(changed_tables, ["audit_entries", "deals"]);
    let audit = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("deal.update"))
        .one(&app.state.db)
        .await
        .expect("reading")
        .expect("an audit entry for the update");
    assert_eq!(audit.subject, format!("deal:{}", acme.id));
    assert_eq!(
        audit.detail,
        "name=Acme expansion (signed), amount=13000.00, closed_won_on=2026-01-16, account_manager=sam@example.com"
    );
}

#[tokio::test]
async fn a_dry_run_reports_what_would_happen_and_changes_nothing() {
    let app = TestApp::new().await;
    team(&app).await;
    let before = TableDump::of(&app).await;

    let report = run(&app, Kind::Deals, &hubspot_export(), &Options { dry_run: true, ..Options::default() }).await;

    assert_eq!(counts(&report), [2, 0, 0, 2, 0]);
    assert!(!report.applied);
    assert!(TableDump::of(&app).await.changed_since(&before).is_empty());
    assert_eq!(entity::import::Entity::find().count(&app.state.db).await.expect("count"), 0);
}

// --------------------------------------------- the same rules as the forms

#[tokio::test]
async fn an_imported_deal_is_the_deal_the_api_would_have_entered() {
    let app = TestApp::new().await;
    let team = team(&app).await;
    let now = app.clock.now_for_tests();
    let input = NewDeal {
        name: Some("Same deal".to_owned()),
        closed_won_on: Some("2026-02-01".to_owned()),
        account: Some(AccountInput { name: Some("Same Co".to_owned()), domain: None, segment: Some("SMB".to_owned()) }),
        amount: Some(12_000.5),
        currency: Some("eur".to_owned()),
        external_id: Some("api-1".to_owned()),
        owners: Some(OwnersInput { account_manager: Some("kim@example.com".to_owned()), ..OwnersInput::default() }),
        contacts: Vec::new(),
    };
    let (created, _) = deals::create(&app.state.db, input.clone(), None, now).await.expect("the API's create");
    let file = "external_id,name,account,segment,closed_won_on,amount,currency,owner\n\
                csv-1,Same deal,Same Co,SMB,2026-02-01,12000.50,eur,Kim Jansen\n";

    assert_eq!(deals_import(&app, file).await.created, 1);

    let by_api = deal::Entity::find_by_id(created).one(&app.state.db).await.expect("reading").expect("the deal");
    let imported = deal_by_crm_id(&app, "csv-1").await;
    assert_eq!(imported.account_manager_id, Some(team.kim));
    assert_eq!(
        deal::Model { id: by_api.id, external_id: by_api.external_id.clone(), ..imported.clone() },
        by_api,
        "the same columns, the same account"
    );
    let moves = stage_transition::Entity::find()
        .order_by_asc(stage_transition::Column::DealId)
        .all(&app.state.db)
        .await
        .expect("reading");
    assert_eq!(moves.len(), 2);
    assert_eq!(
        (moves[1].kind.clone(), moves[1].to_stage_id, moves[1].at),
        (moves[0].kind.clone(), moves[0].to_stage_id, moves[0].at)
    );
    let audit: Vec<(String, String)> = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("deal.create"))
        .order_by_asc(audit_entry::Column::Id)
        .all(&app.state.db)
        .await
        .expect("reading")
        .into_iter()
        .map(|a| (a.subject, a.detail))
        .collect();
    assert_eq!(
        audit,
        [
            (format!("deal:{created}"), "Same deal".to_owned()),
            (format!("deal:{}", imported.id), "Same deal".to_owned())
        ]
    );

    // A bad currency reads the same in both.
    let refused = deals::create(
        &app.state.db,
        NewDeal { currency: Some("EURO".to_owned()), external_id: None, ..input },
        None,
        now,
    )
    .await;
    let Err(AppError::Validation(fields)) = refused else { panic!("the API refuses EURO: {refused:?}") };
    let report = deals_import(&app, &file.replace("csv-1", "csv-2").replace(",eur,", ",EURO,")).await;
    assert_error(&report, 2, "currency", &fields["currency"]);
}

#[tokio::test]
async fn contacts_are_added_to_existing_accounts_and_updated_by_email() {
    let app = TestApp::new().await;
    team(&app).await;
    deals_import(&app, &hubspot_export()).await;
    let file = "account,name,email,role,language,survey_recipient\n\
                Acme BV,Dana Scully,Dana@Acme.example,CFO,en,Yes\n\
                acme bv,Fox Mulder,fox@acme.example,,NL,no\n\
                Globex,Hank Scorpio,hank@globex.example,CEO,,TRUE\n\
                Nowhere Inc,Nobody,nobody@nowhere.example,,,\n\
                Globex,No Email,,,,\n\
                Globex,Bad Language,bad@globex.example,,english!,\n";

    let refused = run(&app, Kind::Contacts, file, &Options::default()).await;
    assert_eq!(counts(&refused), [3, 0, 0, 0, 3]);
    assert_eq!(contact::Entity::find().count(&app.state.db).await.expect("count"), 0, "nothing without --skip-invalid");
    assert_error(&refused, 5, "account", "unknown account: no account is named Nowhere Inc");
    assert_error(&refused, 6, "email", "is required");
    assert_error(&refused, 7, "language", "must be a language code such as en or nl");

    let report = run(&app, Kind::Contacts, file, &skipping_invalid()).await;
    assert_eq!(counts(&report), [3, 0, 0, 0, 3]);
    let acme = account_of(&app, &deal_by_crm_id(&app, "9001").await).await;
    let mut contacts = contact::Entity::find()
        .filter(contact::Column::AccountId.eq(acme.id))
        .all(&app.state.db)
        .await
        .expect("reading");
    contacts.sort_by(|a, b| a.email.cmp(&b.email));
    let seen: Vec<(&str, &str, &str, bool)> =
        contacts.iter().map(|c| (c.email.as_str(), c.name.as_str(), c.language.as_str(), c.survey_recipient)).collect();
    assert_eq!(
        seen,
        [("dana@acme.example", "Dana Scully", "en", true), ("fox@acme.example", "Fox Mulder", "nl", false)]
    );

    let again = run(&app, Kind::Contacts, file, &skipping_invalid()).await;
    assert_eq!(counts(&again), [0, 0, 3, 0, 3]);
    let update = "account,name,email,language,survey_recipient\nAcme BV,Dana K. Scully,dana@acme.example,nl,\n";
    let updated = run(&app, Kind::Contacts, update, &Options::default()).await;
    assert_eq!((updated.updated, updated.outcomes[0].detail.as_str()), (1, "name, language"));
    let dana = contact::Entity::find()
        .filter(contact::Column::Email.eq("dana@acme.example"))
        .one(&app.state.db)
        .await
        .expect("reading")
        .expect("Dana");
    assert_eq!((dana.name.as_str(), dana.language.as_str(), dana.survey_recipient), ("Dana K. Scully", "nl", true));
}

#[tokio::test]
async fn promises_are_recorded_once_on_the_deal_the_row_names() {
    let app = TestApp::new().await;
    team(&app).await;
    deals_import(&app, &hubspot_export()).await;
    let globex = deal_by_crm_id(&app, "9002").await;
    let file = format!(
        "deal_external_id,deal_id,text,category,target\n\
         9001,,Month-end close in 5 days instead of 10,Finance,5 days\n\
         ,{},Invoices approved within a day,Operations,\n",
        globex.id
    );

    assert_eq!(counts(&run(&app, Kind::Promises, &file, &Options::default()).await), [2, 0, 0, 0, 0]);
    let promises = promise::Entity::find().order_by_asc(promise::Column::Id).all(&app.state.db).await.expect("reading");
    let seen: Vec<(i32, &str, Option<&str>)> =
        promises.iter().map(|p| (p.deal_id, p.text.as_str(), p.target.as_deref())).collect();
    let acme = deal_by_crm_id(&app, "9001").await;
    assert_eq!(
        seen,
        [
            (acme.id, "Month-end close in 5 days instead of 10", Some("5 days")),
            (globex.id, "Invoices approved within a day", None)
        ]
    );
    assert_eq!(
        counts(&run(&app, Kind::Promises, &file, &Options::default()).await),
        [0, 0, 2, 0, 0],
        "again: nothing new"
    );

    let bad = "deal_external_id,text\nnope,Something\n9001,\n9002,Twice\n9002,Twice\n";
    let report = run(&app, Kind::Promises, bad, &Options::default()).await;
    assert_error(&report, 2, "deal_external_id", "no deal has the CRM id nope");
    assert_error(&report, 3, "text", "is required");
    assert_error(&report, 4, "text", "this promise for this deal is also on line 5");
    assert_error(&report, 5, "text", "this promise for this deal is also on line 4");
    assert_eq!(promise::Entity::find().count(&app.state.db).await.expect("count"), 2);
}

#[tokio::test]
async fn economics_set_arr_margin_and_cac_with_the_account_forms_limits() {
    let app = TestApp::new().await;
    team(&app).await;
    let member = app.user(Role::Member).await;
    deals_import(&app, &hubspot_export()).await;
    let file = "account,arr,gross_margin_pct,cac\nAcme BV,\"$120,000\",72.5 %,\"15.000,00\"\nGlobex,90000,,\n";

    let report = run(&app, Kind::Economics, file, &Options::default()).await;

    assert_eq!(counts(&report), [0, 2, 0, 0, 0], "{:?}", error_lines(&report));
    let acme = account_of(&app, &deal_by_crm_id(&app, "9001").await).await;
    assert_eq!(
        (acme.arr_cents, acme.gross_margin_pct, acme.cac_cents),
        (Some(12_000_000), Some(72.5), Some(1_500_000))
    );
    let globex = account_of(&app, &deal_by_crm_id(&app, "9002").await).await;
    assert_eq!((globex.arr_cents, globex.gross_margin_pct), (Some(9_000_000), None), "blank leaves a figure as it is");
    assert_eq!(counts(&run(&app, Kind::Economics, file, &Options::default()).await), [0, 0, 2, 0, 0]);

    let bad = "account,arr,gross_margin_pct\nAcme BV,2000000000000,120\nNowhere,1,1\n";
    let report = run(&app, Kind::Economics, bad, &Options::default()).await;
    let form = profitability::update_economics(
        &app.state.db,
        acme.id,
        EconomicsInput {
            arr: Some(Some("2000000000000".to_owned())),
            gross_margin_pct: Some(Some("120".to_owned())),
            cac: None,
        },
        member.id,
        app.clock.now_for_tests(),
    )
    .await;
    let Err(AppError::Validation(fields)) = form else { panic!("the form refuses these: {form:?}") };
    assert_error(&report, 2, "arr", &fields["arr"]);
    assert_error(&report, 2, "gross_margin_pct", &fields["gross_margin_pct"]);
    assert_error(&report, 3, "account", "unknown account");
    assert!(!report.applied);
}

// ---------------------------------------------------------------- the web

/// Posts the upload form as a browser does: multipart, with the file.
async fn upload(app: &TestApp, browser: &Browser<'_>, csrf: Option<&str>, kind: &str, name: &str, file: &[u8]) -> Page {
    let boundary = "----aftercare-test-boundary";
    let mut body = Vec::new();
    let mut field = |name: &str, value: &str| {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    };
    if let Some(csrf) = csrf {
        field("csrf", csrf);
    }
    field("kind", kind);
    field("won_stage", "");
    field("encoding", "utf-8");
    field("mapping", "");
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri("/settings/import")
        .header(header::COOKIE, format!("{SESSION_COOKIE}={}", browser.cookie().expect("signed in")))
        .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(Body::from(body))
        .expect("a valid request");
    let response = app.send(request).await;
    Page { status: response.status, headers: response.headers, html: response.text }
}

async fn manager(app: &TestApp) -> TestUser {
    app.user(Role::Manager).await
}

#[tokio::test]
async fn a_manager_uploads_a_file_reads_the_preview_and_imports_it() {
    let app = TestApp::new().await;
    team(&app).await;
    let boss = manager(&app).await;
    let browser = Browser::sign_in(&app, &boss).await;
    let page = browser.get("/settings/import").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.one("form#import-upload").attr("enctype"), Some("multipart/form-data"));
    assert_eq!(page.count("nav a[href='/settings/import']"), 1, "the settings navigation links the page");
    let before = TableDump::of(&app).await;

    let csrf = browser.csrf().await;
    let uploaded = upload(&app, &browser, Some(&csrf), "deals", "hubspot-deals.csv", hubspot_export().as_bytes()).await;

    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.html);
    let preview = browser.follow(&uploaded).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert_eq!(preview.text_of("#import-status"), "previewed");
    assert_eq!(preview.text_of("[data-count=created]"), "2");
    assert_eq!(preview.text_of("[data-count=skipped]"), "2");
    assert_eq!(preview.count("#import-rows tbody tr"), 4);
    let changed = TableDump::of(&app).await.changed_since(&before);
    assert_eq!(changed, ["imports"], "a preview stores the file and its report, and writes nothing else");

    let imported = browser.submit(&preview.form("form#import-apply")).await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.html);
    let done = browser.follow(&imported).await;
    assert_eq!(done.text_of("#import-status"), "applied");
    assert_eq!(done.count("form#import-apply"), 0, "applied once");
    assert_eq!(deal::Entity::find().count(&app.state.db).await.expect("count"), 2);
    let audit = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("import.apply"))
        .one(&app.state.db)
        .await
        .expect("reading")
        .expect("the import is in the audit log");
    assert_eq!(audit.actor_id, Some(boss.id));
    assert!(audit.detail.starts_with("deals from hubspot-deals.csv: 2 created"), "{}", audit.detail);
    let list = browser.get("/settings/import").await;
    assert_eq!(list.text_of("#recent-imports tbody tr .status"), "applied");

    let again = browser.submit(&preview.form("form#import-apply")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "an applied import cannot be applied twice");
}

#[tokio::test]
async fn a_preview_with_bad_rows_lists_them_and_imports_the_rest_only_when_asked() {
    let app = TestApp::new().await;
    team(&app).await;
    let browser = Browser::sign_in(&app, &manager(&app).await).await;
    let csrf = browser.csrf().await;
    let uploaded = upload(&app, &browser, Some(&csrf), "deals", "bad.csv", export_with_bad_rows().as_bytes()).await;
    let preview = browser.follow(&uploaded).await;
    let errors: Vec<String> = preview.all("#import-errors li").into_iter().map(|n| n.text).collect();
    assert!(errors.contains(&"line 4, column \"Deal Name\": is required".to_owned()), "{errors:#?}");
    assert_eq!(errors.len(), 9);

    let refused = browser.submit(&preview.form("form#import-apply")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text_of(".notice.notice-error").contains("Nothing was imported: 9 rows have errors"));
    assert_eq!(deal::Entity::find().count(&app.state.db).await.expect("count"), 0);

    let skip = refused.form("form#import-apply").set("skip_invalid", "true");
    let imported = browser.submit(&skip).await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.html);
    assert_eq!(deal::Entity::find().count(&app.state.db).await.expect("count"), 2);
}

#[tokio::test]
async fn a_discarded_preview_is_never_applied_and_an_unreadable_file_is_not_stored() {
    let app = TestApp::new().await;
    team(&app).await;
    let browser = Browser::sign_in(&app, &manager(&app).await).await;
    let csrf = browser.csrf().await;
    let preview =
        browser.follow(&upload(&app, &browser, Some(&csrf), "deals", "a.csv", hubspot_export().as_bytes()).await).await;
    let apply = preview.form("form#import-apply");

    let discarded = browser.submit(&preview.form("form#import-discard")).await;
    discarded.assert_redirect_to("/settings/import?done=discarded");
    assert_eq!(browser.submit(&apply).await.status, StatusCode::CONFLICT);
    assert_eq!(deal::Entity::find().count(&app.state.db).await.expect("count"), 0);

    let latin1 = b"Record ID,Deal Name,Associated Company,Close Date\n1,M\xfcller,X,2026-01-05\n";
    let refused = upload(&app, &browser, Some(&csrf), "deals", "latin1.csv", latin1).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text_of(".notice.notice-error").contains("line 2: is not UTF-8 (byte 0xFC)"), "{}", refused.html);
    assert_eq!(entity::import::Entity::find().count(&app.state.db).await.expect("count"), 1, "only the discarded one");
}

#[tokio::test]
async fn only_managers_may_import_and_every_upload_needs_the_csrf_token() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let browser = Browser::sign_in(&app, &member).await;
    assert_eq!(browser.get("/settings/import").await.status, StatusCode::FORBIDDEN);
    let csrf = browser.csrf().await;
    let refused = upload(&app, &browser, Some(&csrf), "deals", "a.csv", hubspot_export().as_bytes()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/board").await.count("nav a[href='/settings/import']"), 0, "no link for members");

    let boss = Browser::sign_in(&app, &manager(&app).await).await;
    let no_token = upload(&app, &boss, None, "deals", "a.csv", hubspot_export().as_bytes()).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let wrong_token = upload(&app, &boss, Some("not-the-token"), "deals", "a.csv", hubspot_export().as_bytes()).await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);
    assert_eq!(entity::import::Entity::find().count(&app.state.db).await.expect("count"), 0, "nothing stored");
}

// ------------------------------------------------------- the command line

fn aftercare(database: &TestDatabase, args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aftercare"))
        .args(args)
        .env("AFTERCARE_DATABASE_URL", &database.url)
        .env("AFTERCARE_LOG", "warn")
        .output()
        .expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The count after `label` in the summary (`  created          2`).
fn summary_count(out: &str, label: &str) -> Option<u64> {
    out.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(label)).then(|| words.next()?.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn the_command_line_imports_prints_a_summary_and_fails_when_errors_stop_it() {
    let database = TestDatabase::new().await;
    let files = tempfile::tempdir().expect("a folder");
    let write = |name: &str, text: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, text).expect("writing a test file");
        path.to_string_lossy().into_owned()
    };
    let hubspot = write("hubspot.csv", hubspot_export().as_bytes());
    let bad = write("bad.csv", export_with_bad_rows().as_bytes());
    assert!(aftercare(&database, &["migrate"]).0);
    assert!(aftercare(&database, &["user", "add", "--email", "kim@example.com", "--name", "Kim Jansen"]).0);
    assert!(aftercare(&database, &["user", "add", "--email", "sam@example.com", "--name", "Sam Lee"]).0);

    let (ok, out, err) = aftercare(&database, &["import", "deals", &hubspot, "--dry-run"]);
    assert!(ok, "{out}{err}");
    assert_eq!((summary_count(&out, "created"), summary_count(&out, "skipped")), (Some(2), Some(2)), "{out}");
    assert!(out.contains("Dry run, nothing was changed."), "{out}");
    let db = aftercare::db::connect(&database.url).await.expect("connect");
    assert_eq!(deal::Entity::find().count(&db).await.expect("count"), 0);

    let (ok, out, err) = aftercare(&database, &["import", "deals", &bad]);
    assert!(!ok, "errors stop the import: {out}");
    assert!(out.contains("line 3, column \"Close Date\": 2026-13-45 is not a day of the calendar"), "{out}");
    assert!(out.contains("line 12: has 9 values but the header has 8 columns"), "{out}");
    assert!(err.contains("Nothing was imported: 9 rows have errors") && err.contains("--skip-invalid"), "{err}");
    assert_eq!(deal::Entity::find().count(&db).await.expect("count"), 0);

    let (ok, out, err) = aftercare(&database, &["import", "deals", &bad, "--skip-invalid"]);
    assert!(ok, "{out}{err}");
    assert_eq!(summary_count(&out, "created"), Some(2), "{out}");
    let (ok, out, _) = aftercare(&database, &["import", "deals", &hubspot]);
    assert!(ok && out.contains("Imported."), "{out}");
    let (ok, out, _) = aftercare(&database, &["import", "deals", &hubspot]);
    assert!(ok && summary_count(&out, "unchanged") == Some(2), "{out}");
    assert!(out.contains("Nothing to change"), "{out}");
    let imports = entity::import::Entity::find().all(&db).await.expect("reading");
    assert_eq!(imports.len(), 2, "the runs that changed something are recorded");

    let custom = write("custom.csv", b"Ref;Deal;Client;Won on\nC-1;Gamma;Gamma AG;15.02.2026\n");
    let mapping = write("mapping.txt", b"external_id = Ref\nname = Deal\naccount = Client\nclosed_won_on = Won on\n");
    let (ok, out, err) = aftercare(&database, &["import", "deals", &custom, "--mapping", &mapping]);
    assert!(ok && out.contains("(mapped format)"), "{out}{err}");

    let contacts = write("contacts.csv", b"account,name,email\nGamma AG,Greta,greta@gamma.example\n");
    let (ok, out, err) = aftercare(&database, &["import", "contacts", &contacts]);
    assert!(ok && summary_count(&out, "created") == Some(1), "{out}{err}");

    let latin1 =
        write("latin1.csv", b"Record ID,Deal Name,Associated Company,Close Date\nL-1,M\xfcller,X,2026-01-05\n");
    let (ok, out, _) = aftercare(&database, &["import", "deals", &latin1]);
    assert!(!ok && out.contains("line 2: is not UTF-8 (byte 0xFC)"), "{out}");
    let (ok, out, err) = aftercare(&database, &["import", "deals", &latin1, "--encoding", "windows-1252"]);
    assert!(ok && summary_count(&out, "created") == Some(1), "{out}{err}");
}
