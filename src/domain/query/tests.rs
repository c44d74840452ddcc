//! Unit tests of the query parsers.
use super::filter::{MAX_FILTER_BYTES, MAX_FILTER_TERMS};
use super::search::MAX_SEARCH_CHARS;
use super::*;
use crate::domain::Collection;

fn programs(text: &str) -> Result<Option<Filter>, String> {
    parse_filter(Collection::Programs, text)
}

#[test]
fn filters_become_typed_trees() {
    let f = programs(
        r#"kind = SMART_FACTORY AND host_company = "companies/samsung" AND start_date >= 2025-01-01"#,
    )
    .unwrap()
    .unwrap();
    let Filter::All(parts) = f else { panic!() };
    assert_eq!(
        parts[0],
        Filter::Compare {
            field: Field::Kind,
            op: Op::Eq,
            value: Literal::Text("SMART_FACTORY".into())
        }
    );
    assert_eq!(
        parts[1],
        Filter::Compare {
            field: Field::HostCompany,
            op: Op::Eq,
            value: Literal::Text("samsung".into())
        }
    );
    assert!(matches!(
        parts[2],
        Filter::Compare {
            op: Op::Ge,
            value: Literal::Date(_),
            ..
        }
    ));
    assert!(
        programs("kind = PROGRAM_KIND_SMART_FACTORY OR NOT (state = ACTIVE)")
            .unwrap()
            .is_some()
    );
    assert_eq!(
        programs(r#"display_name = "삼성*""#).unwrap(),
        Some(Filter::Matches {
            field: Field::DisplayName,
            wildcard: Wildcard::Prefix,
            text: "삼성".into()
        })
    );
    assert_eq!(programs("  ").unwrap(), None);
}

#[test]
fn bad_filters_say_what_is_wrong() {
    for (text, says) in [
        ("colour = RED", "not a filterable field"),
        ("kind = PURPLE", "not a value of kind"),
        ("budget_krw > lots", "whole number"),
        ("start_date > 2025-13-01", "YYYY-MM-DD"),
        ("kind > SMART_FACTORY", "enum"),
        ("display_name < \"a\"", "text"),
        ("samsung", "bare value"),
        ("host_company = \"smes/x\"", "companies/{company}"),
        ("kind = null", "always set"),
        ("kind = (state = ACTIVE)", "single value"),
        ("kind = ", "cannot be read as an AIP-160 filter"),
        ("update_time > \"yesterday\"", "timestamp"),
    ] {
        let err = programs(text).unwrap_err();
        assert!(err.contains(says), "{text}: {err}");
    }
    let deep = format!(
        "{}kind = ESG_SUPPLY_CHAIN{}",
        "(".repeat(20),
        ")".repeat(20)
    );
    assert!(programs(&deep).unwrap_err().contains("deeper"));
    let wide = vec!["budget_krw > 1"; MAX_FILTER_TERMS + 1].join(" OR ");
    assert!(programs(&wide).unwrap_err().contains("comparisons"));
    assert!(programs(&"a".repeat(MAX_FILTER_BYTES + 1)).is_err());
}

#[test]
fn orders_name_orderable_fields_once() {
    let o = parse_order_by(Collection::Programs, "budget_krw desc, display_name").unwrap();
    assert_eq!(o.keys.len(), 2);
    assert!(o.keys[0].descending && !o.ties_descending());
    assert_eq!(
        parse_order_by(Collection::Smes, "").unwrap(),
        Order::creation()
    );
    for bad in [
        "kind",
        "budget_krw sideways",
        "display_name, display_name",
        "a,,b",
        "display_name; DROP TABLE programs",
    ] {
        assert!(parse_order_by(Collection::Programs, bad).is_err(), "{bad}");
    }
}

#[test]
fn searches_know_business_numbers() {
    let s = parse_search(" 124-81 ").unwrap().unwrap();
    assert_eq!(s.digits.as_deref(), Some("12481"));
    assert_eq!(parse_search("삼성").unwrap().unwrap().digits, None);
    assert_eq!(parse_search("").unwrap(), None);
    assert!(parse_search(&"가".repeat(MAX_SEARCH_CHARS + 1)).is_err());
}

#[test]
fn size_errors_suggest_the_sizes_of_the_collection() {
    let companies = parse_filter(Collection::Companies, "size = HUGE").expect_err("no such size");
    assert!(
        companies.contains("LARGE, MIDDLE_STANDING") && !companies.contains("MICRO"),
        "{companies}"
    );
    let smes = parse_filter(Collection::Smes, "size = HUGE").expect_err("no such size");
    assert!(
        smes.contains("MEDIUM, SMALL, MICRO") && !smes.contains("LARGE"),
        "{smes}"
    );
    // Every size stays accepted: a filter valid once stays valid.
    assert!(parse_filter(Collection::Companies, "size = ENTERPRISE_SIZE_SMALL").is_ok());
    assert!(parse_filter(Collection::Smes, "size = LARGE").is_ok());
}

#[test]
fn unparsable_filters_say_so_once() {
    let e = parse_filter(Collection::Programs, "AND kind = X").expect_err("a bare AND");
    assert!(!e.contains("is not a valid"), "{e}");
    assert!(e.starts_with("cannot be read as an AIP-160 filter"), "{e}");
}

#[test]
fn creation_order_is_told_apart_either_way() {
    for text in ["", "create_time", "create_time desc"] {
        let order = parse_order_by(Collection::Smes, text).expect("valid");
        assert!(order.is_creation(), "{text:?}");
    }
    for text in ["display_name", "create_time, display_name", "update_time"] {
        let order = parse_order_by(Collection::Smes, text).expect("valid");
        assert!(!order.is_creation(), "{text:?}");
    }
}
