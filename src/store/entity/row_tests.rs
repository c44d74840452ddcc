//! Rows decoded by position ([`super::row`]) against sea-orm's own reading
//! of them, on every backend.

use chrono::{NaiveDate, TimeZone, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, IntoActiveModel,
    Iterable, QueryFilter, QueryOrder,
};
use sea_orm_migration::MigratorTrait;

use super::row::{Positional, all, one};
use crate::store::entity::value::{EnterpriseSize, ProgramKind, ProgramState, Region};
use crate::store::entity::{company, participation, program, sme};

/// The columns a model reads are the entity's, in the order
/// `Entity::find()` selects them.
#[test]
fn columns_are_read_in_the_entitys_order() {
    fn names<E: EntityTrait>() -> Vec<String> {
        use sea_orm::IdenStatic;
        E::Column::iter().map(|c| c.as_str().to_owned()).collect()
    }
    assert_eq!(names::<sme::Entity>(), sme::Model::COLUMNS);
    assert_eq!(names::<company::Entity>(), company::Model::COLUMNS);
    assert_eq!(names::<program::Entity>(), program::Model::COLUMNS);
    assert_eq!(
        names::<participation::Entity>(),
        participation::Model::COLUMNS
    );
}

fn time(seconds: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(seconds, 123_456_000)
        .single()
        .unwrap_or_default()
}

fn smes() -> Vec<sme::Model> {
    let bare = sme::Model {
        id: "a-bare".into(),
        display_name: "x".into(),
        business_number: None,
        corporate_number: None,
        size: EnterpriseSize::Micro,
        ksic_code: None,
        ksic_revision: None,
        region: None,
        employee_count: None,
        annual_revenue_krw: None,
        create_time: time(0),
        update_time: time(0),
        delete_time: None,
        revision: 1,
        demo: false,
    };
    let full = sme::Model {
        id: "b-full".into(),
        display_name: "대원정밀 (주) — 부산광역시 강서구 녹산산업중로 ".repeat(4),
        business_number: Some("123-45-67890".into()),
        corporate_number: Some("110111-1234567".into()),
        size: EnterpriseSize::Medium,
        ksic_code: Some("C29299".into()),
        ksic_revision: Some(i32::MAX),
        region: Some(Region::Busan),
        employee_count: Some(i32::MAX),
        annual_revenue_krw: Some(i64::MAX),
        create_time: time(1_700_000_000),
        update_time: time(2_000_000_000),
        delete_time: Some(time(2_100_000_000)),
        revision: i64::MAX,
        demo: true,
    };
    vec![bare, full]
}

fn programs() -> Vec<program::Model> {
    let bare = program::Model {
        id: "a-bare".into(),
        display_name: "p".into(),
        description: String::new(),
        host_company_id: "a-bare".into(),
        kind: ProgramKind::SmartFactory,
        region: None,
        state: ProgramState::Planned,
        start_date: None,
        end_date: None,
        budget_krw: None,
        co_hosts: None,
        funders: None,
        create_time: time(0),
        update_time: time(0),
        delete_time: None,
        revision: 1,
        demo: false,
    };
    let full = program::Model {
        id: "b-full".into(),
        display_name: "스마트공장 구축 지원 사업".into(),
        description: "동반성장 — 협력사 생산성 향상\n둘째 줄".repeat(50),
        host_company_id: "b-full".into(),
        kind: ProgramKind::EsgSupplyChain,
        region: Some(Region::Gyeonggi),
        state: ProgramState::Completed,
        start_date: NaiveDate::from_ymd_opt(1, 1, 1),
        end_date: NaiveDate::from_ymd_opt(9999, 12, 31),
        budget_krw: Some(i64::MAX),
        co_hosts: Some("[\"companies/lg\"]".into()),
        funders: Some("[]".into()),
        create_time: time(1_700_000_000),
        update_time: time(1_700_000_001),
        delete_time: Some(time(1_700_000_002)),
        revision: i64::MAX,
        demo: true,
    };
    vec![bare, full]
}

fn participations() -> Vec<participation::Model> {
    let bare = participation::Model {
        program_id: "a-bare".into(),
        id: "1".into(),
        sme_id: "a-bare".into(),
        support_amount_krw: None,
        joined_date: None,
        outcomes: "[]".into(),
        create_time: time(0),
        update_time: time(0),
        delete_time: None,
        revision: 1,
        demo: false,
    };
    let full = participation::Model {
        program_id: "b-full".into(),
        id: "참여-2".into(),
        sme_id: "b-full".into(),
        support_amount_krw: Some(i64::MAX),
        joined_date: NaiveDate::from_ymd_opt(2026, 2, 28),
        outcomes: "[{\"metric\":\"불량률\",\"baseline\":1.5}]".into(),
        create_time: time(1_700_000_000),
        update_time: time(1_700_000_000),
        delete_time: Some(time(1_800_000_000)),
        revision: i64::MAX,
        demo: true,
    };
    vec![bare, full]
}

/// Inserts `models`, then reads them back with sea-orm's model reader
/// and by position: the same values, field for field.
async fn same_both_ways<E>(db: &DatabaseConnection, models: Vec<E::Model>, order: E::Column)
where
    E: EntityTrait,
    E::Model: Positional + IntoActiveModel<E::ActiveModel> + PartialEq + std::fmt::Debug,
{
    E::insert_many(models.into_iter().map(IntoActiveModel::into_active_model))
        .exec_without_returning(db)
        .await
        .expect("insert");
    let by_name = E::find()
        .order_by_asc(order)
        .all(db)
        .await
        .expect("by name");
    let by_position = all(db, E::find().order_by_asc(order))
        .await
        .expect("by position");
    assert_eq!(by_name.len(), 2);
    assert_eq!(by_position, by_name);
    let first = one(db, E::find().filter(order.eq("b-full")))
        .await
        .expect("one");
    assert_eq!(first.as_ref(), by_name.get(1));
}

async fn check(url: &str) {
    let db = Database::connect(url).await.expect("connect");
    migration::Migrator::up(&db, None).await.expect("migrate");
    let companies = smes()
        .into_iter()
        .map(|m| crate::store::entity::enterprise_row!(m => company::Model))
        .collect();
    same_both_ways::<company::Entity>(&db, companies, company::Column::Id).await;
    same_both_ways::<sme::Entity>(&db, smes(), sme::Column::Id).await;
    same_both_ways::<program::Entity>(&db, programs(), program::Column::Id).await;
    same_both_ways::<participation::Entity>(
        &db,
        participations(),
        participation::Column::ProgramId,
    )
    .await;
    let _ = db.close().await;
}

/// Every backend: SQLite always, PostgreSQL and MariaDB/MySQL when the
/// test URLs are set (a database of the test's own, dropped after).
#[tokio::test]
async fn positional_rows_equal_sea_orms_on_every_backend() {
    let dir = tempfile::tempdir().expect("temp dir");
    check(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("rows.db").display()
    ))
    .await;
    for var in [
        "PARTNERSHIP_TEST_POSTGRES_URL",
        "PARTNERSHIP_TEST_MYSQL_URL",
    ] {
        let Ok(admin_url) = std::env::var(var) else {
            eprintln!("{var} is not set: positional rows checked on SQLite only");
            continue;
        };
        let name = format!("partnership_rows_{}", uuid::Uuid::new_v4().simple());
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let admin = Database::connect(&admin_url).await.expect("connect admin");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        check(&format!("{base}/{name}")).await;
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE {name}"))
            .await;
        let _ = admin.close().await;
    }
}
