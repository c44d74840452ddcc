//! The HTTP routes of the API, read from each method's `google.api.http`
//! option (AIP-127) in the descriptor set: a verb, a path template whose
//! variables bind request fields, and where the body goes.

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value};

/// The option's full name.
const HTTP_OPTION: &str = "google.api.http";

/// Where a method's request body goes (`HttpRule.body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body: every field not in the path comes from the query string.
    None,
    /// `*`: the body is the request, less the fields in the path.
    Whole,
    /// The body is this top-level field of the request.
    Field(String),
}

/// One HTTP binding of a method.
#[derive(Debug, Clone)]
pub struct Route {
    pub verb: http::Method,
    pub template: Template,
    pub body: BodyRule,
    pub method: MethodDescriptor,
    /// `/package.Service/Method`, the gRPC path the call is made on.
    pub grpc_path: String,
}

/// A parsed path template, e.g. `/v1/{name=programs/*/participations/*}:undelete`.
#[derive(Debug, Clone)]
pub struct Template {
    /// As written in the proto.
    pub text: String,
    parts: Vec<Part>,
    /// The bound fields, each over `parts[start..end]`.
    pub vars: Vec<Var>,
    /// The custom verb after the last `:`, e.g. `undelete`.
    verb: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `*`: one segment.
    Any,
    /// `**`: the rest of the path (last part only).
    Rest,
}

#[derive(Debug, Clone)]
pub struct Var {
    /// Dotted field path in the request, e.g. `sme.name`.
    pub field: String,
    start: usize,
    end: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{method}: {reason}")]
    Invalid { method: String, reason: String },
    #[error("the descriptor set has no `{HTTP_OPTION}` option")]
    NoHttpOption,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| format!("template `{text}` does not start with `/`"))?;
        // The verb: a `:` outside braces, after the last `/`.
        let mut depth = 0;
        let mut verb_at = None;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                '/' if depth == 0 => verb_at = None,
                ':' if depth == 0 => verb_at = Some(i),
                _ => {}
            }
        }
        let (path, verb) = match verb_at {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_owned())),
            None => (rest, None),
        };
        let mut parts = Vec::new();
        let mut vars = Vec::new();
        let mut chars = path;
        while !chars.is_empty() {
            if let Some(inner) = chars.strip_prefix('{') {
                let close = inner
                    .find('}')
                    .ok_or_else(|| format!("template `{text}`: unclosed `{{`"))?;
                let (field, pattern) = match inner[..close].split_once('=') {
                    Some((f, p)) => (f, p),
                    None => (&inner[..close], "*"),
                };
                let start = parts.len();
                for segment in pattern.split('/') {
                    parts.push(part(segment));
                }
                vars.push(Var {
                    field: field.to_owned(),
                    start,
                    end: parts.len(),
                });
                chars = &inner[close + 1..];
            } else {
                let end = chars.find('/').unwrap_or(chars.len());
                parts.push(part(&chars[..end]));
                chars = &chars[end..];
            }
            chars = chars.strip_prefix('/').unwrap_or(chars);
        }
        if parts[..parts.len().saturating_sub(1)].contains(&Part::Rest) {
            return Err(format!("template `{text}`: `**` before the end"));
        }
        Ok(Self {
            text: text.to_owned(),
            parts,
            vars,
            verb,
        })
    }

    /// The bound fields' values if `path` (percent-encoded, as sent) matches,
    /// each value percent-decoded.
    pub fn matches(&self, path: &str) -> Option<Vec<(&str, String)>> {
        let rest = path.strip_prefix('/')?;
        let (rest, verb) = match rest.rsplit_once('/') {
            Some((_, last)) => match last.split_once(':') {
                Some((_, v)) => (&rest[..rest.len() - v.len() - 1], Some(v)),
                None => (rest, None),
            },
            None => match rest.split_once(':') {
                Some((p, v)) => (p, Some(v)),
                None => (rest, None),
            },
        };
        if verb != self.verb.as_deref() {
            return None;
        }
        let segments: Vec<&str> = rest.split('/').collect();
        let rest_at = (self.parts.last() == Some(&Part::Rest)).then(|| self.parts.len() - 1);
        match rest_at {
            Some(n) if segments.len() < n => return None,
            None if segments.len() != self.parts.len() => return None,
            _ => {}
        }
        for (part, segment) in self.parts.iter().zip(&segments) {
            match part {
                Part::Literal(l) if l != segment => return None,
                Part::Any if segment.is_empty() => return None,
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(self.vars.len());
        for var in &self.vars {
            let end = if rest_at == Some(var.end - 1) {
                segments.len()
            } else {
                var.end
            };
            let raw = segments[var.start..end].join("/");
            let value = percent_encoding::percent_decode_str(&raw)
                .decode_utf8()
                .ok()?
                .into_owned();
            out.push((var.field.as_str(), value));
        }
        Some(out)
    }

    /// The template with each variable as `{field}`, as OpenAPI paths are
    /// written.
    pub fn openapi_path(&self) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < self.parts.len() {
            out.push('/');
            if let Some(var) = self.vars.iter().find(|v| v.start == i) {
                out.push('{');
                out.push_str(&var.field);
                out.push('}');
                i = var.end;
                continue;
            }
            match &self.parts[i] {
                Part::Literal(l) => out.push_str(l),
                Part::Any => out.push('*'),
                Part::Rest => out.push_str("**"),
            }
            i += 1;
        }
        if let Some(verb) = &self.verb {
            out.push(':');
            out.push_str(verb);
        }
        out
    }

    /// The pattern a variable's value must have, e.g. `programs/*/participations/*`.
    pub fn var_pattern(&self, var: &Var) -> String {
        self.parts[var.start..var.end]
            .iter()
            .map(|p| match p {
                Part::Literal(l) => l.as_str(),
                Part::Any => "*",
                Part::Rest => "**",
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

fn part(segment: &str) -> Part {
    match segment {
        "*" => Part::Any,
        "**" => Part::Rest,
        l => Part::Literal(l.to_owned()),
    }
}

/// Every binding of every method in `pool` that has the option, in the
/// order of the files, services and methods.
pub fn routes(pool: &DescriptorPool) -> Result<Vec<Route>, RuleError> {
    let option = pool
        .get_extension_by_name(HTTP_OPTION)
        .ok_or(RuleError::NoHttpOption)?;
    let mut out = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let options = method.options();
            if !options.has_extension(&option) {
                continue;
            }
            let Value::Message(rule) = &*options.get_extension(&option) else {
                continue;
            };
            let invalid = |reason: String| RuleError::Invalid {
                method: method.full_name().to_owned(),
                reason,
            };
            let grpc_path = format!("/{}/{}", service.full_name(), method.name());
            out.push(route(rule, &method, &grpc_path).map_err(&invalid)?);
            if let Some(Value::List(more)) =
                rule.get_field_by_name("additional_bindings").as_deref()
            {
                for binding in more {
                    if let Value::Message(binding) = binding {
                        out.push(route(binding, &method, &grpc_path).map_err(&invalid)?);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A route for a method of a service whose proto is not ours (so has no
/// option), such as `GET /healthz` for the gRPC health check.
pub fn fixed(
    pool: &DescriptorPool,
    verb: http::Method,
    template: &str,
    service: &str,
    method: &str,
) -> Result<Route, RuleError> {
    let invalid = |reason: String| RuleError::Invalid {
        method: format!("{service}.{method}"),
        reason,
    };
    let descriptor = pool
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == method))
        .ok_or_else(|| invalid("not in the descriptor set".to_owned()))?;
    Ok(Route {
        verb,
        template: Template::parse(template).map_err(invalid)?,
        body: BodyRule::None,
        grpc_path: format!("/{service}/{method}"),
        method: descriptor,
    })
}

fn route(
    rule: &DynamicMessage,
    method: &MethodDescriptor,
    grpc_path: &str,
) -> Result<Route, String> {
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let (verb, path) = [
        ("get", http::Method::GET),
        ("put", http::Method::PUT),
        ("post", http::Method::POST),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ]
    .into_iter()
    .find_map(|(field, verb)| text(field).map(|p| (verb, p)))
    .ok_or_else(|| "an HTTP rule without a verb this server serves".to_owned())?;
    let template = Template::parse(&path)?;
    let input = method.input();
    for var in &template.vars {
        check_field_path(&input, &var.field)?;
    }
    let body = match text("body").as_deref() {
        None => BodyRule::None,
        Some("*") => BodyRule::Whole,
        Some(field) => {
            input
                .get_field_by_name(field)
                .ok_or_else(|| format!("body field `{field}` is not in the request"))?;
            BodyRule::Field(field.to_owned())
        }
    };
    Ok(Route {
        verb,
        template,
        body,
        method: method.clone(),
        grpc_path: grpc_path.to_owned(),
    })
}

/// A dotted path of singular fields ending in a string.
fn check_field_path(message: &prost_reflect::MessageDescriptor, path: &str) -> Result<(), String> {
    let mut message = message.clone();
    let mut names = path.split('.').peekable();
    while let Some(name) = names.next() {
        let field = message
            .get_field_by_name(name)
            .ok_or_else(|| format!("path variable `{path}` is not a field of the request"))?;
        match field.kind() {
            prost_reflect::Kind::Message(m) if names.peek().is_some() => message = m,
            prost_reflect::Kind::String if names.peek().is_none() && !field.is_list() => {}
            _ => return Err(format!("path variable `{path}` is not a string field")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_binds_its_variables_and_verb() {
        let t = Template::parse("/v1/{name=programs/*/participations/*}:undelete").unwrap();
        assert_eq!(
            t.matches("/v1/programs/p-1/participations/x%2Dy:undelete"),
            Some(vec![("name", "programs/p-1/participations/x-y".to_owned())])
        );
        assert_eq!(t.matches("/v1/programs/p-1/participations/x"), None);
        assert_eq!(t.matches("/v1/programs/p-1/participations/x:delete"), None);
        assert_eq!(t.matches("/v1/programs//participations/x:undelete"), None);
        assert_eq!(t.openapi_path(), "/v1/{name}:undelete");
        assert_eq!(t.var_pattern(&t.vars[0]), "programs/*/participations/*");
    }

    #[test]
    fn a_collection_and_its_custom_methods_are_told_apart() {
        let list = Template::parse("/v1/smes").unwrap();
        let batch = Template::parse("/v1/smes:batchGet").unwrap();
        let get = Template::parse("/v1/{name=smes/*}").unwrap();
        assert!(list.matches("/v1/smes").is_some());
        assert!(list.matches("/v1/smes:batchGet").is_none());
        assert!(batch.matches("/v1/smes:batchGet").is_some());
        assert!(get.matches("/v1/smes:batchGet").is_none());
        assert_eq!(
            get.matches("/v1/smes/acme"),
            Some(vec![("name", "smes/acme".to_owned())])
        );
        assert!(get.matches("/v1/smes/acme/more").is_none());
        assert!(get.matches("/v1/smes/%FF").is_none(), "not UTF-8");
    }

    #[test]
    fn every_api_method_has_a_route() {
        let pool = DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        let routes = routes(&pool).unwrap();
        for service in pool
            .services()
            .filter(|s| s.package_name() == "partnership.v1")
        {
            for method in service.methods() {
                assert!(
                    routes.iter().any(|r| r.method == method),
                    "{} has no HTTP rule",
                    method.full_name()
                );
            }
        }
    }
}
