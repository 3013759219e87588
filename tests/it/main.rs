//! Aftercare's integration tests: one binary, each test on its own fresh
//! database (SQLite by default; PostgreSQL when
//! `AFTERCARE_TEST_DATABASE_URL` names a server), driving the real router.

mod cli;
mod helpers;
mod smoke;
