//! Database statements as spans of the call that ran them, when spans are
//! exported (`telemetry`): each statement is a client span named by its
//! kind and table (`SELECT sme`), with `db.system.name`,
//! `db.operation.name` and `db.collection.name`, and its real start and
//! end. Only the statement's leading keyword and the table's name are
//! read from its text, never a value (values are bound, not written into
//! it, and quoted text is skipped in any case).
//!
//! Statements are seen through sea-orm's per-connection callback, which
//! runs on the task of the call that ran the statement (inside its span)
//! and also covers statements run inside transactions. Statements run by
//! no call (the health probe, start-up) are not traced.

use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes every statement on `conn` a span of its call, if spans are
/// exported.
pub(super) fn trace(conn: &mut DatabaseConnection) {
    if !crate::telemetry::exporting() {
        return;
    }
    let system = match conn.get_database_backend() {
        DatabaseBackend::Postgres => "postgresql",
        DatabaseBackend::MySql => "mysql",
        _ => "sqlite",
    };
    let tracer = opentelemetry::global::tracer(crate::telemetry::SCOPE);
    conn.set_metric_callback(move |info| statement_span(&tracer, system, info));
}

fn statement_span(tracer: &BoxedTracer, system: &'static str, info: &sea_orm::metric::Info<'_>) {
    let parent = tracing::Span::current().context();
    if !parent.span().span_context().is_valid() {
        return;
    }
    let end = SystemTime::now();
    let start = end.checked_sub(info.elapsed).unwrap_or(end);
    let Summary { operation, table } = summarize(&info.statement.sql);
    let mut attributes = vec![
        KeyValue::new("db.system.name", system),
        KeyValue::new("db.operation.name", operation.clone()),
    ];
    let name = match table {
        Some(table) => {
            let name = format!("{operation} {table}");
            attributes.push(KeyValue::new("db.collection.name", table));
            name
        }
        None => operation,
    };
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    if info.failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

/// What a statement does and to which table.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `BEGIN`, … (the main
    /// statement's keyword after any `WITH`).
    operation: String,
    /// The table read (first after `FROM`), written (after `INTO`, or
    /// `UPDATE`) or deleted from, when the statement names one.
    table: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    /// A keyword or identifier, quoted or not, with the parentheses open
    /// around it.
    Word { text: String, depth: u32 },
    /// The dot of a qualified name.
    Dot,
    /// Anything else: punctuation, numbers, placeholders, literals.
    Other,
}

fn summarize(sql: &str) -> Summary {
    let tokens = tokenize(sql);
    let word_at = |i: usize| match tokens.get(i) {
        Some(Token::Word { text, depth }) => Some((text.as_str(), *depth)),
        _ => None,
    };
    let keyword = |i: usize| word_at(i).map(|(w, d)| (w.to_ascii_uppercase(), d));
    let Some((first, _)) = keyword(0) else {
        return Summary {
            operation: "OTHER".to_owned(),
            table: None,
        };
    };
    // A WITH's main statement is its first SELECT/INSERT/UPDATE/DELETE
    // outside every parenthesis.
    let main = if first == "WITH" {
        (1..tokens.len()).find(|&i| {
            keyword(i).is_some_and(|(w, d)| {
                d == 0 && matches!(w.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE")
            })
        })
    } else {
        Some(0)
    };
    let Some(main) = main else {
        return Summary {
            operation: first,
            table: None,
        };
    };
    let Some((operation, depth)) = keyword(main) else {
        return Summary {
            operation: first,
            table: None,
        };
    };
    let after = |marker: &str| {
        (main + 1..tokens.len())
            .find(|&i| keyword(i).is_some_and(|(w, d)| d == depth && w == marker))
            .and_then(|i| table_at(&tokens, i + 1, depth))
    };
    let table = match operation.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" | "REPLACE" => after("INTO"),
        "UPDATE" => table_at(&tokens, main + 1, depth),
        _ => None,
    };
    Summary { operation, table }
}

/// The table named at `i` (the last part of `schema.table`), if a name
/// is there at `depth` (not a subquery).
fn table_at(tokens: &[Token], i: usize, depth: u32) -> Option<String> {
    let Token::Word { text, depth: d } = tokens.get(i)? else {
        return None;
    };
    if *d != depth {
        return None;
    }
    let mut name = text;
    let mut j = i + 1;
    while let (Some(Token::Dot), Some(Token::Word { text, .. })) =
        (tokens.get(j), tokens.get(j + 1))
    {
        name = text;
        j += 2;
    }
    Some(name.clone())
}

/// Words (identifiers and keywords) and dots; literals, numbers,
/// placeholders and punctuation are one `Other` each (their text is not
/// kept), comments and whitespace nothing, and parentheses set the depth.
fn tokenize(sql: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut depth: u32 = 0;
    let mut chars = sql.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '.' => tokens.push(Token::Dot),
            // A literal: skipped whole ('' inside is an escaped quote).
            '\'' => {
                tokens.push(Token::Other);
                while let Some((_, c)) = chars.next() {
                    if c == '\'' {
                        if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '"' | '`' => {
                let close = c;
                let mut text = String::new();
                for (_, c) in chars.by_ref() {
                    if c == close {
                        break;
                    }
                    text.push(c);
                }
                tokens.push(Token::Word { text, depth });
            }
            '-' if chars.peek().is_some_and(|(_, n)| *n == '-') => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|(_, n)| *n == '*') => {
                chars.next();
                let mut last = ' ';
                for (_, c) in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, n)) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' || n == '$' {
                        end = i + n.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token::Word {
                    text: sql[start..end].to_owned(),
                    depth,
                });
            }
            c if c.is_whitespace() => {}
            // Numbers, placeholders ($1, ?), operators, commas.
            _ => {
                while chars
                    .peek()
                    .is_some_and(|(_, n)| n.is_ascii_alphanumeric() || *n == '_')
                {
                    chars.next();
                }
                tokens.push(Token::Other);
            }
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> (String, Option<String>) {
        let s = summarize(sql);
        (s.operation, s.table)
    }

    fn is(op: &str, table: Option<&str>) -> (String, Option<String>) {
        (op.to_owned(), table.map(str::to_owned))
    }

    #[test]
    fn kinds_and_tables() {
        assert_eq!(
            of(r#"SELECT "sme"."id", "sme"."name" FROM "sme" WHERE "sme"."id" = $1"#),
            is("SELECT", Some("sme"))
        );
        assert_eq!(
            of("select `a`.`x` from `partnership`.`program` as `a` where `x` = ?"),
            is("SELECT", Some("program"))
        );
        assert_eq!(
            of(r#"INSERT INTO "company" ("id", "name") VALUES ($1, $2) RETURNING "id""#),
            is("INSERT", Some("company"))
        );
        assert_eq!(
            of(r#"UPDATE "participation" SET "state" = $1 WHERE "id" = $2"#),
            is("UPDATE", Some("participation"))
        );
        assert_eq!(
            of("DELETE FROM request_id WHERE created_at < ?"),
            is("DELETE", Some("request_id"))
        );
        assert_eq!(of("BEGIN"), is("BEGIN", None));
        assert_eq!(of("  commit "), is("COMMIT", None));
        assert_eq!(of(""), is("OTHER", None));
        assert_eq!(of("$1"), is("OTHER", None));
    }

    #[test]
    fn the_main_statement_of_a_with_and_not_a_subquery() {
        assert_eq!(
            of("WITH x AS (SELECT id FROM journal WHERE seq > $1) UPDATE sme SET v = 1 FROM x"),
            is("UPDATE", Some("sme"))
        );
        assert_eq!(
            of("SELECT count(*) FROM (SELECT id FROM sme) AS t"),
            is("SELECT", None)
        );
        assert_eq!(
            of("SELECT a, (SELECT max(b) FROM other) FROM main_table"),
            is("SELECT", Some("main_table"))
        );
    }

    #[test]
    fn never_a_value() {
        // Literals written into the text are skipped, even when they look
        // like SQL; so are comments.
        assert_eq!(
            of("SELECT 'FROM secret' FROM /* FROM hidden */ sme -- FROM x\n WHERE n = '홍''길동'"),
            is("SELECT", Some("sme"))
        );
        assert_eq!(of("DELETE FROM 'not a table'"), is("DELETE", None));
        assert_eq!(of("UPDATE 42 SET"), is("UPDATE", None));
    }
}
