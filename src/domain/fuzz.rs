//! Property tests over every parser a caller's text reaches: whatever the
//! input, each answers `Ok` or an `Err` that says something, and never
//! panics. `PROPTEST_CASES` sets how many inputs each property tries
//! (`.ci/run` raises it); the gRPC-level twin is
//! `tests/api/hostile.rs::hostile_input_is_served_or_refused_naming_the_field`.

use proptest::prelude::*;

use super::*;

/// Text a caller might send: anything, or pieces of the grammars mixed up.
fn text() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        prop_oneof![
            Just("companies/".to_owned()),
            Just("programs/".to_owned()),
            Just("/participations/".to_owned()),
            Just("-".to_owned()),
            Just("*".to_owned()),
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just(" AND ".to_owned()),
            Just(" OR ".to_owned()),
            Just("NOT ".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(".".to_owned()),
            Just(":".to_owned()),
            Just("=".to_owned()),
            Just("!=".to_owned()),
            Just("<=".to_owned()),
            Just(">".to_owned()),
            Just(" desc".to_owned()),
            Just(",".to_owned()),
            Just("삼성".to_owned()),
            Just("\u{0}".to_owned()),
            Just("\u{202e}".to_owned()),
            Just("2025-02-30".to_owned()),
            Just("9999-12-31T23:59:60Z".to_owned()),
            "[0-9]{1,20}",
            "[a-z_.]{1,20}",
            ".{0,8}",
        ],
        0..16,
    )
    .prop_map(|v| v.concat());
    prop_oneof![".*", "[ -~]{0,200}", pieces]
}

proptest! {
    #[test]
    fn names_and_numbers_never_panic(input in text()) {
        for collection in [Collection::Companies, Collection::Smes, Collection::Programs] {
            if let Err(e) = collection.parse_name(&input) {
                prop_assert!(!e.is_empty());
            }
        }
        let _ = ResourceId::parse(&input);
        let _ = ParticipationName::parse(&input);
        let _ = BusinessNumber::parse(&input);
        let _ = BusinessNumber::with_check_digit(&input);
        let _ = CorporateNumber::parse(&input);
        let _ = KsicCode::parse(&input);
        let _ = DisplayName::parse(&input);
        let _ = check_text(&input, Lines::Single);
        let _ = check_text(&input, Lines::Multi);
        let _ = parse_group_by(std::slice::from_ref(&input));
    }

    #[test]
    fn queries_never_panic(input in text()) {
        for collection in [
            Collection::Companies,
            Collection::Smes,
            Collection::Programs,
            Collection::Participations,
        ] {
            if let Err(e) = parse_filter(collection, &input) {
                prop_assert!(!e.is_empty());
            }
            if let Err(e) = parse_order_by(collection, &input) {
                prop_assert!(!e.is_empty());
            }
        }
        let _ = parse_search(&input);
    }

    #[test]
    fn page_tokens_never_panic(input in text()) {
        let order = Order::creation();
        let shape = QueryShape {
            collection: Collection::Companies,
            parent: "",
            filter: "",
            order_by: "",
            search: "",
            show_deleted: false,
        };
        let _ = PageToken::parse(&input, &shape, &order);
    }

    #[test]
    fn dates_and_sizes_never_panic(year in any::<i32>(), month in any::<i32>(), day in any::<i32>(), size in any::<i32>(), won in any::<i64>()) {
        let _ = parse_date(year, month, day);
        let _ = parse_page_size(size);
        let _ = Won::parse(won);
    }
}
