//! The SQL each backend is sent for filters, searches, orders and
//! keyset cursors (identifier quotes removed for reading).

use sea_orm::sea_query::{Asterisk, Query, SelectStatement};

use super::*;
use crate::domain::{Cursor, Literal, ResourceId, parse_filter, parse_order_by, parse_search};
use crate::store::{Programs, Smes};

const BACKENDS: [DbBackend; 3] = [DbBackend::Postgres, DbBackend::MySql, DbBackend::Sqlite];

/// `stmt` as `backend` writes it, values inlined, identifier quotes
/// removed.
fn text(backend: DbBackend, stmt: &SelectStatement) -> String {
    backend.build(stmt).to_string().replace(['"', '`'], "")
}

/// `SELECT * FROM <T's table> WHERE <condition>`, as `backend` writes it.
fn select<T: Table>(backend: DbBackend, condition: Condition) -> String {
    let stmt = Query::select()
        .column(Asterisk)
        .from(T::Entity::default())
        .cond_where(condition)
        .to_owned();
    text(backend, &stmt)
}

fn filter<T: Table>(backend: DbBackend, text: &str) -> String {
    let f = parse_filter(T::COLLECTION, text)
        .expect("valid filter")
        .expect("a filter");
    select::<T>(backend, Compiler::<T>::new(backend).filter(&f))
}

fn order_by<T: Table>(backend: DbBackend, order: &str) -> String {
    let order = parse_order_by(T::COLLECTION, order).expect("valid order");
    let mut stmt = Query::select();
    stmt.column(Asterisk).from(T::Entity::default());
    for (expr, dir, nulls) in Compiler::<T>::new(backend).order_by(&order) {
        match nulls {
            Some(nulls) => stmt.order_by_expr_with_nulls(expr, dir, nulls),
            None => stmt.order_by_expr(expr, dir),
        };
    }
    text(backend, &stmt)
}

fn after<T: Table>(backend: DbBackend, order: &str, values: Vec<Literal>, id: &str) -> String {
    let order = parse_order_by(T::COLLECTION, order).expect("valid order");
    let cursor = Cursor {
        values,
        keys: vec![ResourceId::parse(id).expect("valid id")],
        total_size: None,
    };
    select::<T>(backend, Compiler::<T>::new(backend).after(&order, &cursor))
}

fn search<T: Table>(backend: DbBackend, text: &str) -> String {
    let search = parse_search(text).expect("valid search").expect("a search");
    select::<T>(backend, Compiler::<T>::new(backend).search(&search))
}

/// Comparisons are the same everywhere; a nullable field's is false
/// where it is unset, so NOT means "does not match".
#[test]
fn comparisons_are_two_valued() {
    for b in BACKENDS {
        assert_eq!(
            filter::<Smes>(b, "size = SMALL AND employee_count >= 10"),
            "SELECT * FROM smes WHERE size = 'SMALL' AND (employee_count >= 10 AND employee_count IS NOT NULL)"
        );
        assert_eq!(
            filter::<Smes>(b, "region != SEOUL"),
            "SELECT * FROM smes WHERE NOT (region = 'SEOUL' AND region IS NOT NULL)"
        );
        assert_eq!(
            filter::<Smes>(b, "business_number = null"),
            "SELECT * FROM smes WHERE business_number IS NULL"
        );
    }
}

/// A traversal is a subquery over live related rows; negation stays
/// outside it (SMEs in no such program) or inside it (programs with a
/// participant other than the SME).
#[test]
fn traversals_are_subqueries_over_live_rows() {
    for b in BACKENDS {
        assert_eq!(
            filter::<Smes>(b, "programs.kind = SMART_FACTORY"),
            "SELECT * FROM smes WHERE smes.id IN (SELECT participation.sme_id FROM participations AS participation INNER JOIN programs AS program ON program.id = participation.program_id WHERE participation.delete_time IS NULL AND program.delete_time IS NULL AND program.kind = 'SMART_FACTORY')"
        );
        assert_eq!(
            filter::<Smes>(b, "NOT programs.host_company = \"companies/acme\""),
            "SELECT * FROM smes WHERE NOT smes.id IN (SELECT participation.sme_id FROM participations AS participation INNER JOIN programs AS program ON program.id = participation.program_id WHERE participation.delete_time IS NULL AND program.delete_time IS NULL AND program.host_company_id = 'acme')"
        );
        assert_eq!(
            filter::<Programs>(b, "participations.sme != \"smes/s1\""),
            "SELECT * FROM programs WHERE programs.id IN (SELECT participation.program_id FROM participations AS participation WHERE participation.delete_time IS NULL AND (NOT participation.sme_id = 's1'))"
        );
    }
}

/// Text matches escape LIKE's metacharacters: PostgreSQL matches the
/// lower-cased `search_name` with `\`, the others the display name with
/// `!` and an explicit ESCAPE; a business number's digits match the
/// indexed expression without dashes.
#[test]
fn text_matches_escape_per_dialect() {
    let display_name = r#"display_name = "삼성*" OR display_name : "50%_""#;
    assert_eq!(
        filter::<Programs>(DbBackend::Postgres, display_name),
        r"SELECT * FROM programs WHERE search_name LIKE LOWER('삼성%') OR search_name LIKE LOWER(E'%50\\%\\_%')"
    );
    assert_eq!(
        search::<Smes>(DbBackend::Postgres, "123-45"),
        "SELECT * FROM smes WHERE search_name LIKE LOWER('%123-45%') OR ((replace(business_number, '-', '')) LIKE '%12345%' AND business_number IS NOT NULL)"
    );
    for b in [DbBackend::MySql, DbBackend::Sqlite] {
        assert_eq!(
            filter::<Programs>(b, display_name),
            "SELECT * FROM programs WHERE display_name LIKE '삼성%' ESCAPE '!' OR display_name LIKE '%50!%!_%' ESCAPE '!'"
        );
        assert_eq!(
            search::<Smes>(b, "123-45"),
            "SELECT * FROM smes WHERE display_name LIKE '%123-45%' ESCAPE '!' OR ((replace(business_number, '-', '')) LIKE '%12345%' ESCAPE '!' AND business_number IS NOT NULL)"
        );
    }
}

/// Ties break on the key columns, in the direction of the last key;
/// unset values sort last ascending, first descending (MariaDB has no
/// NULLS FIRST, so it orders by IS NULL first).
#[test]
fn orders_break_ties_by_key_and_place_unset_values() {
    assert_eq!(
        order_by::<crate::store::Participations>(DbBackend::Sqlite, "create_time desc"),
        "SELECT * FROM participations ORDER BY create_time DESC, program_id DESC, id DESC"
    );
    for b in [DbBackend::Postgres, DbBackend::Sqlite] {
        assert_eq!(
            order_by::<Programs>(b, "start_date desc"),
            "SELECT * FROM programs ORDER BY start_date DESC NULLS FIRST, id DESC"
        );
    }
    assert_eq!(
        order_by::<Programs>(DbBackend::MySql, "start_date desc"),
        "SELECT * FROM programs ORDER BY start_date IS NULL DESC, start_date DESC, id DESC"
    );
}

/// The keyset after a cursor: one row comparison when every key is set
/// and runs one way (with a bound on the leading key for the index),
/// else key by key with unset values in their place.
#[test]
fn keysets_start_after_the_cursor() {
    for b in BACKENDS {
        assert_eq!(
            after::<Programs>(b, "display_name asc", vec![Literal::Text("x".into())], "p1"),
            "SELECT * FROM programs WHERE display_name >= 'x' AND (display_name, id) > ('x', 'p1')"
        );
        let date = chrono::NaiveDate::from_ymd_opt(2025, 1, 2).expect("a date");
        assert_eq!(
            after::<Programs>(b, "start_date asc", vec![Literal::Date(date)], "p1"),
            "SELECT * FROM programs WHERE start_date > '2025-01-02' OR start_date IS NULL OR (start_date = '2025-01-02' AND id > 'p1')"
        );
        let name = Literal::Text("가".into());
        let order = "employee_count desc, display_name";
        assert_eq!(
            after::<Smes>(b, order, vec![Literal::Int(5), name.clone()], "s9"),
            "SELECT * FROM smes WHERE employee_count < 5 OR (employee_count = 5 AND (display_name > '가' OR (display_name = '가' AND id > 's9')))"
        );
        assert_eq!(
            after::<Smes>(b, order, vec![Literal::Null, name], "s9"),
            "SELECT * FROM smes WHERE employee_count IS NOT NULL OR (employee_count IS NULL AND (display_name > '가' OR (display_name = '가' AND id > 's9')))"
        );
    }
}

/// Every documented field of every collection is a column of its table
/// or a traversal, so a new field cannot be left unmapped.
#[test]
fn every_field_has_a_column_or_a_traversal() {
    fn check<T: Table>() {
        for spec in crate::domain::fields_of(T::COLLECTION) {
            assert!(
                T::column(spec.field).is_some() || Traversal::of(spec.field).is_some(),
                "{:?}.{} has no column",
                T::COLLECTION,
                spec.path
            );
        }
    }
    check::<crate::store::Companies>();
    check::<Smes>();
    check::<Programs>();
    check::<crate::store::Participations>();
}

/// A search is read through the trigram indexes only when it holds a word
/// of three characters they can take trigrams from.
#[test]
fn searches_with_a_three_character_word_are_served_by_trigrams() {
    let served = |text: &str| {
        let search = parse_search(text).expect("valid").expect("a search");
        Compiler::<Smes>::served_by_trigrams(&search)
    };
    for text in ["일테크", "Han", "124-81", "대원정 밀", "a-bcd"] {
        assert!(served(text), "{text}");
    }
    for text in ["정밀", "1-2-3", "a b", "ab-cd", "대원 정밀"] {
        assert!(!served(text), "{text}");
    }
}
