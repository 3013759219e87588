//! Every migration applies to a fresh database and rolls back cleanly, on
//! the backend the run uses (SQLite, or PostgreSQL with
//! `AFTERCARE_TEST_DATABASE_URL`).

use aftercare::auth::Role;
use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{DatabaseConnection, EntityName, EntityTrait};

use crate::helpers::{TestApp, TestDatabase};

/// The tables the entities read and write.
fn entity_tables() -> Vec<&'static str> {
    vec![
        entity::user::Entity.table_name(),
        entity::session::Entity.table_name(),
        entity::api_token::Entity.table_name(),
        entity::account::Entity.table_name(),
        entity::contact::Entity.table_name(),
        entity::stage::Entity.table_name(),
        entity::criterion::Entity.table_name(),
        entity::deal::Entity.table_name(),
        entity::evidence::Entity.table_name(),
        entity::stage_transition::Entity.table_name(),
        entity::deal_hold::Entity.table_name(),
        entity::audit_entry::Entity.table_name(),
    ]
}

async fn existing_tables(db: &DatabaseConnection) -> Vec<&'static str> {
    let manager = SchemaManager::new(db);
    let mut present = Vec::new();
    for table in entity_tables() {
        if manager.has_table(table).await.expect("inspecting the schema") {
            present.push(table);
        }
    }
    present
}

async fn applied(db: &DatabaseConnection) -> usize {
    Migrator::get_applied_migrations(db).await.expect("reading applied migrations").len()
}

/// Selects every column of every entity: fails if the schema lacks one.
async fn entities_match_the_schema(db: &DatabaseConnection) {
    macro_rules! select_all {
        ($($module:ident),*) => {
            $(entity::$module::Entity::find().all(db).await.unwrap_or_else(|e| panic!("{}: {e}", stringify!($module)));)*
        };
    }
    select_all!(
        user,
        session,
        api_token,
        account,
        contact,
        stage,
        criterion,
        deal,
        evidence,
        stage_transition,
        deal_hold,
        audit_entry,
        promise,
        survey,
        survey_promise,
        survey_wave,
        survey_token,
        survey_response,
        survey_answer,
        followup,
        outbox_message,
        job_lease,
        job_run,
        advocacy_ask,
        dashboard_snapshot,
        digest_unsubscribe_token,
        import,
        webhook_source,
        inbound_event,
        webhook_endpoint
    );
}

async fn fresh_connection() -> (TestDatabase, DatabaseConnection) {
    let database = TestDatabase::new().await;
    let db = aftercare::db::connect(&database.url).await.expect("connecting to the fresh database");
    (database, db)
}

#[tokio::test]
async fn each_migration_applies_to_a_fresh_database_and_rolls_back() {
    let (_database, db) = fresh_connection().await;
    let total = Migrator::migrations().len();
    assert!(total > 0);
    assert!(existing_tables(&db).await.is_empty(), "the database starts empty");

    for step in 1..=total {
        Migrator::up(&db, Some(1)).await.unwrap_or_else(|e| panic!("applying migration {step}: {e}"));
        assert_eq!(applied(&db).await, step);
        Migrator::down(&db, Some(1)).await.unwrap_or_else(|e| panic!("rolling back migration {step}: {e}"));
        assert_eq!(applied(&db).await, step - 1);
        Migrator::up(&db, Some(1)).await.unwrap_or_else(|e| panic!("re-applying migration {step}: {e}"));
    }

    assert_eq!(existing_tables(&db).await, entity_tables(), "every entity's table exists");
    assert!(Migrator::get_pending_migrations(&db).await.expect("pending migrations").is_empty());
    entities_match_the_schema(&db).await;
}

#[tokio::test]
async fn rolling_everything_back_leaves_no_table_and_the_schema_can_be_rebuilt() {
    let (_database, db) = fresh_connection().await;
    Migrator::up(&db, None).await.expect("applying every migration");

    Migrator::down(&db, None).await.expect("rolling every migration back");
    assert_eq!(applied(&db).await, 0);
    assert_eq!(existing_tables(&db).await, Vec::<&str>::new(), "rolling back drops every table");

    Migrator::up(&db, None).await.expect("applying every migration again");
    assert_eq!(applied(&db).await, Migrator::migrations().len());
    assert_eq!(existing_tables(&db).await, entity_tables());
    entities_match_the_schema(&db).await;
}

#[tokio::test]
async fn the_app_works_on_the_migrated_schema() {
    let app = TestApp::new().await;
    let member = app.user(Role::Member).await;
    let id = app.deal_in_stage(&member, "Acme rollout", "live").await;

    let deal = app.deal(&member, id).await;

    assert_eq!(deal["stage"], "live");
    assert_eq!(deal["transitions"].as_array().map(Vec::len), Some(4));
    assert_eq!(applied(&app.state.db).await, Migrator::migrations().len());
}

/// Several instances started together on one PostgreSQL database: the
/// migration lock lets one migrate while the others wait, so none fails on
/// a half-made schema. (SQLite has one process per file; there the call
/// runs once.)
#[tokio::test]
async fn instances_starting_together_migrate_once_under_the_lock() {
    let database = TestDatabase::new().await;
    let instances = if database.is_postgres() { 4 } else { 1 };
    let mut connections = Vec::new();
    for _ in 0..instances {
        connections.push(aftercare::db::connect(&database.url).await.expect("connecting"));
    }
    let results = futures::future::join_all(connections.iter().map(aftercare::db::migrate)).await;
    for result in &results {
        assert!(result.is_ok(), "every instance starts: {result:?}");
    }
    assert_eq!(applied(&connections[0]).await, Migrator::migrations().len());
    entities_match_the_schema(&connections[0]).await;
}
