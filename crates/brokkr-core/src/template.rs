//! Templates: minijinja rendering in a sandbox, JSON Schema checks of parameters, and
//! the YAML check of what comes out.
//!
//! The sandbox has no loader (no `include`, `import` or `extends`), no access to files
//! or the environment, a fuel budget that ends every loop, a recursion limit and a cap
//! on output size. Schemas are compiled offline: any `$ref` that leaves the document
//! is refused when the template is uploaded.
//!
//! Known shortcomings: fuel counts template steps, not the work inside one step, so a
//! filter over a large value (joining or sorting a long range) takes time that fuel
//! does not see; and string concatenation is not capped, so a template that keeps
//! doubling a string can exhaust memory before its fuel runs out. Renders run off the
//! async threads and a bounded number at a time, so a slow one cannot stall other
//! requests, but a deployment exposed to untrusted generators would render in a
//! separate process with memory and time limits.

use std::fmt;
use std::io;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::{Map, Value};

/// Bounds on templates, schemas and renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Render steps before a render is stopped.
    pub fuel: u64,
    /// Nesting of calls, loops and blocks.
    pub recursion: usize,
    /// Size of a template's source.
    pub max_source_bytes: usize,
    /// Size of a render's output.
    pub max_output_bytes: usize,
    /// Size of a schema, as JSON text.
    pub max_schema_bytes: usize,
    /// Nesting of a schema's objects and arrays.
    pub max_schema_depth: usize,
}

impl TemplateLimits {
    /// Limits that fit any reasonable deployment template.
    pub const DEFAULT: TemplateLimits = TemplateLimits {
        fuel: 1_000_000,
        recursion: 64,
        max_source_bytes: 256 * 1024,
        max_output_bytes: 1024 * 1024,
        max_schema_bytes: 64 * 1024,
        max_schema_depth: 32,
    };
}

impl Default for TemplateLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One parameter that failed the schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParameterIssue {
    /// JSON Pointer to the failing value (`""` for the whole parameter object).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

/// Failures of template checks and renders. Each has a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template source does not compile.
    #[error("template syntax error{}: {message}", at_line(*.line))]
    Syntax {
        /// 1-based line of the template, when known.
        line: Option<usize>,
        /// What the compiler said.
        message: String,
    },
    /// The template source is over the size limit.
    #[error("template is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The schema is not a usable JSON Schema.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// The schema refers to a document outside itself.
    #[error("schema reference `{0}` leaves the schema; only local `#` references are allowed")]
    ExternalReference(String),
    /// The parameters do not satisfy the schema.
    #[error("parameters do not match the template's schema ({} problems)", .0.len())]
    InvalidParameters(Vec<ParameterIssue>),
    /// The render ran out of fuel: a loop too long or endless.
    #[error("template render ran out of fuel after {fuel} steps")]
    OutOfFuel {
        /// The budget that ran out.
        fuel: u64,
    },
    /// The render's output passed the size limit.
    #[error("template output is larger than {limit} bytes")]
    OutputTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The render failed, for example on an undefined variable.
    #[error("template render failed{}: {message}", at_line(*.line))]
    Render {
        /// 1-based line of the template, when known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
    /// The output is not YAML.
    #[error("template output is not valid yaml: {0}")]
    OutputNotYaml(YamlError),
}

impl TemplateError {
    /// The stable, machine-readable code of this failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "invalid_template",
            Self::TooLarge { .. } => "template_too_large",
            Self::InvalidSchema(_) => "invalid_schema",
            Self::ExternalReference(_) => "schema_external_ref",
            Self::InvalidParameters(_) => "invalid_parameters",
            Self::OutOfFuel { .. } => "render_out_of_fuel",
            Self::OutputTooLarge { .. } => "render_output_too_large",
            Self::Render { .. } => "render_failed",
            Self::OutputNotYaml(_) => "render_output_not_yaml",
        }
    }

    /// Whether the failure is in what was uploaded (template or schema) rather than in
    /// a render.
    pub fn is_upload_error(&self) -> bool {
        matches!(
            self,
            Self::Syntax { .. }
                | Self::TooLarge { .. }
                | Self::InvalidSchema(_)
                | Self::ExternalReference(_)
        )
    }
}

fn at_line(line: Option<usize>) -> String {
    line.map(|line| format!(" at line {line}"))
        .unwrap_or_default()
}

/// Why a text is not YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// What the parser said.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.message, at_line(self.line))
    }
}

/// Deepest nesting of YAML collections accepted.
pub const MAX_YAML_DEPTH: usize = 256;

/// Checks that `text` holds one or more YAML documents, nested at most
/// [`MAX_YAML_DEPTH`] collections deep.
///
/// Only the parser's events are read, one at a time, never a tree: no input can make
/// the check recurse, however deep it nests.
///
/// # Errors
///
/// [`YamlError`] with the line of the first problem.
pub fn check_yaml(text: &str) -> Result<(), YamlError> {
    use yaml_rust2::Event;

    let mut parser = yaml_rust2::parser::Parser::new_from_str(text);
    let mut depth = 0usize;
    let mut documents = 0usize;
    // The parser's own `load` recurses once per nesting level; pulling events one at a
    // time does not.
    loop {
        let (event, mark) = parser.next_token().map_err(|error| YamlError {
            line: Some(error.marker().line()),
            message: error.info().to_owned(),
        })?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => documents += 1,
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(YamlError {
                        line: Some(mark.line()),
                        message: format!("collections nest deeper than {MAX_YAML_DEPTH} levels"),
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if documents == 0 {
        return Err(YamlError {
            line: None,
            message: "no yaml document".to_owned(),
        });
    }
    Ok(())
}

/// A checked template: its source compiles and its schema is usable.
#[derive(Debug)]
pub struct CheckedTemplate {
    source: String,
    schema: Value,
    validator: jsonschema::Validator,
}

impl CheckedTemplate {
    /// Compiles `source` and `schema` within `limits`.
    ///
    /// # Errors
    ///
    /// [`TemplateError`] for a syntax error, an oversized template, or an unusable or
    /// non-local schema.
    pub fn check(
        source: &str,
        schema: &Value,
        limits: &TemplateLimits,
    ) -> Result<CheckedTemplate, TemplateError> {
        if source.len() > limits.max_source_bytes {
            return Err(TemplateError::TooLarge {
                limit: limits.max_source_bytes,
            });
        }
        sandbox(limits)
            .template_from_str(source)
            .map_err(|error| TemplateError::Syntax {
                line: error.line(),
                message: describe(&error),
            })?;

        let validator = compile_schema(schema, limits)?;
        Ok(CheckedTemplate {
            source: source.to_owned(),
            schema: schema.clone(),
            validator,
        })
    }

    /// Fills defaults, validates `parameters` and renders, checking the output is YAML.
    ///
    /// # Errors
    ///
    /// [`TemplateError::InvalidParameters`] with one entry per failing value, or a
    /// render failure.
    pub fn render(
        &self,
        parameters: &Value,
        limits: &TemplateLimits,
    ) -> Result<String, TemplateError> {
        let mut parameters = parameters.clone();
        apply_defaults(&self.schema, &mut parameters);

        let issues: Vec<ParameterIssue> = self
            .validator
            .iter_errors(&parameters)
            .map(|error| ParameterIssue {
                path: error.instance_path().to_string(),
                message: error.to_string(),
            })
            .collect();
        if !issues.is_empty() {
            return Err(TemplateError::InvalidParameters(issues));
        }
        if !parameters.is_object() {
            return Err(TemplateError::InvalidParameters(vec![ParameterIssue {
                path: String::new(),
                message: "parameters must be a json object".to_owned(),
            }]));
        }

        let output = render_source(&self.source, &parameters, limits)?;
        check_yaml(&output).map_err(TemplateError::OutputNotYaml)?;
        Ok(output)
    }
}

/// Widest indentation the `indent` and `tojson` filters accept.
pub const MAX_INDENT: usize = 64;

fn sandbox(limits: &TemplateLimits) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.recursion);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // The built-in versions allocate whatever width they are given.
    env.add_filter("indent", bounded_indent);
    env.add_filter("tojson", bounded_tojson);
    env
}

fn check_indent(width: Option<usize>) -> Result<(), minijinja::Error> {
    match width {
        Some(width) if width > MAX_INDENT => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("indentation wider than {MAX_INDENT}"),
        )),
        _ => Ok(()),
    }
}

fn bounded_indent(
    value: String,
    width: Option<usize>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, minijinja::Error> {
    let width = match width {
        Some(width) => width,
        None => kwargs.get::<Option<usize>>("width")?.unwrap_or(4),
    };
    let first = first.or(kwargs.get("first")?).unwrap_or(false);
    let blank = blank.or(kwargs.get("blank")?).unwrap_or(false);
    kwargs.assert_all_used()?;
    check_indent(Some(width))?;

    let pad = " ".repeat(width);
    let body = value.strip_suffix('\n').unwrap_or(&value);
    let mut out = String::with_capacity(body.len());
    for (index, line) in body.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let wanted = (index > 0 || first) && (blank || !line.trim().is_empty());
        if wanted {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    Ok(out)
}

fn bounded_tojson(
    value: &minijinja::Value,
    indent: Option<minijinja::Value>,
    kwargs: minijinja::value::Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let width = match &indent {
        Some(indent) => indent.as_usize(),
        None => kwargs.peek::<Option<usize>>("indent")?,
    };
    check_indent(width)?;
    minijinja::filters::tojson(value, indent, kwargs)
}

fn describe(error: &minijinja::Error) -> String {
    error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned)
}

/// Renders `source` with `parameters`, within fuel and output limits, without any
/// schema or YAML check.
///
/// # Errors
///
/// [`TemplateError`] for a syntax error, an exhausted budget or a failing expression.
pub fn render_source(
    source: &str,
    parameters: &Value,
    limits: &TemplateLimits,
) -> Result<String, TemplateError> {
    let env = sandbox(limits);
    let template = env
        .template_from_str(source)
        .map_err(|error| TemplateError::Syntax {
            line: error.line(),
            message: describe(&error),
        })?;

    let mut output = BoundedWriter {
        buffer: Vec::new(),
        limit: limits.max_output_bytes,
    };
    // A panic inside the renderer fails this render, not the process.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        template.render_captured_to(parameters, &mut output)
    }))
    .map_err(|_| TemplateError::Render {
        line: None,
        message: "the template engine failed on this template".to_owned(),
    })?;
    match rendered {
        Ok(_) => {}
        Err(error) => {
            return Err(match error.kind() {
                ErrorKind::OutOfFuel => TemplateError::OutOfFuel { fuel: limits.fuel },
                ErrorKind::WriteFailure => TemplateError::OutputTooLarge {
                    limit: limits.max_output_bytes,
                },
                _ => TemplateError::Render {
                    line: error.line(),
                    message: describe(&error),
                },
            });
        }
    }

    // INVARIANT: minijinja writes only UTF-8 text.
    String::from_utf8(output.buffer).map_err(|_| TemplateError::Render {
        line: None,
        message: "output is not utf-8".to_owned(),
    })
}

struct BoundedWriter {
    buffer: Vec<u8>,
    limit: usize,
}

impl io::Write for BoundedWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + bytes.len() > self.limit {
            return Err(io::Error::other("output limit reached"));
        }
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Compiles a JSON Schema offline, refusing references outside the document.
///
/// # Errors
///
/// [`TemplateError::ExternalReference`] or [`TemplateError::InvalidSchema`].
pub fn compile_schema(
    schema: &Value,
    limits: &TemplateLimits,
) -> Result<jsonschema::Validator, TemplateError> {
    if !schema.is_object() && !schema.is_boolean() {
        return Err(TemplateError::InvalidSchema(
            "a schema must be a json object".to_owned(),
        ));
    }
    let size = serde_json::to_vec(schema).map_or(usize::MAX, |bytes| bytes.len());
    if size > limits.max_schema_bytes {
        return Err(TemplateError::InvalidSchema(format!(
            "schema is larger than {} bytes",
            limits.max_schema_bytes
        )));
    }
    check_schema_node(schema, 0, limits.max_schema_depth)?;

    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|error| TemplateError::InvalidSchema(error.to_string()))
}

fn check_schema_node(node: &Value, depth: usize, max_depth: usize) -> Result<(), TemplateError> {
    if depth > max_depth {
        return Err(TemplateError::InvalidSchema(format!(
            "schema nests deeper than {max_depth} levels"
        )));
    }
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                let is_reference = matches!(key.as_str(), "$ref" | "$dynamicRef" | "$recursiveRef");
                if is_reference {
                    match value.as_str() {
                        Some(target) if target.starts_with('#') => {}
                        Some(target) => {
                            return Err(TemplateError::ExternalReference(target.to_owned()));
                        }
                        None => {
                            return Err(TemplateError::InvalidSchema(format!(
                                "`{key}` must be a string"
                            )));
                        }
                    }
                }
                if key == "$id" && value.as_str().is_some_and(|id| !id.starts_with('#')) {
                    return Err(TemplateError::InvalidSchema(
                        "`$id` may not name another document".to_owned(),
                    ));
                }
                check_schema_node(value, depth + 1, max_depth)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| check_schema_node(item, depth + 1, max_depth)),
        _ => Ok(()),
    }
}

/// Fills missing object properties from the schema's `default`s, recursively.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) else {
        return;
    };
    fill(properties, object);
}

fn fill(properties: &Map<String, Value>, object: &mut Map<String, Value>) {
    for (name, property) in properties {
        if !object.contains_key(name) {
            if let Some(default) = property.get("default") {
                object.insert(name.clone(), default.clone());
            }
        }
        if let Some(child) = object.get_mut(name) {
            apply_defaults(property, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const WEB_SERVICE: &str = concat!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n",
        "  replicas: {{ replicas }}\n  template:\n    spec:\n      containers:\n",
        "        - name: web\n          image: \"{{ image }}\"\n",
    );

    fn web_schema() -> Value {
        json!({
            "type": "object",
            "required": ["image"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1, "default": 1},
                "image": {"type": "string", "minLength": 1}
            },
            "additionalProperties": false
        })
    }

    fn checked(source: &str, schema: Value) -> Result<CheckedTemplate, TemplateError> {
        CheckedTemplate::check(source, &schema, &TemplateLimits::DEFAULT)
    }

    #[test]
    fn guide_example_renders_to_yaml() {
        let template = checked(WEB_SERVICE, web_schema()).expect("valid template");
        let output = template
            .render(
                &json!({"replicas": 3, "image": "myapp:v1.2.3"}),
                &TemplateLimits::DEFAULT,
            )
            .expect("renders");

        assert!(output.contains("replicas: 3"), "{output}");
        assert!(output.contains("image: \"myapp:v1.2.3\""), "{output}");
    }

    #[test]
    fn schema_defaults_fill_missing_parameters() {
        let template = checked(WEB_SERVICE, web_schema()).expect("valid template");
        let output = template
            .render(&json!({"image": "a:1"}), &TemplateLimits::DEFAULT)
            .expect("renders");

        assert!(output.contains("replicas: 1"), "{output}");
    }

    #[test]
    fn each_failing_parameter_is_reported_with_its_path() {
        let template = checked(WEB_SERVICE, web_schema()).expect("valid template");
        let error = template
            .render(
                &json!({"replicas": 0, "image": 5}),
                &TemplateLimits::DEFAULT,
            )
            .expect_err("invalid parameters");

        let TemplateError::InvalidParameters(issues) = error else {
            panic!("expected invalid parameters, got {error:?}");
        };
        let mut paths: Vec<&str> = issues.iter().map(|issue| issue.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["/image", "/replicas"]);
    }

    #[test]
    fn endless_loop_runs_out_of_fuel() {
        let source =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let limits = TemplateLimits {
            max_output_bytes: usize::MAX,
            ..TemplateLimits::DEFAULT
        };

        let error = render_source(source, &json!({}), &limits).expect_err("must stop");
        assert_eq!(error.code(), "render_out_of_fuel");
    }

    #[test]
    fn large_output_is_cut_off() {
        let source = "{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}";
        let error =
            render_source(source, &json!({}), &TemplateLimits::DEFAULT).expect_err("too large");
        assert_eq!(error.code(), "render_output_too_large");
    }

    #[test]
    fn upload_checks() {
        let limits = TemplateLimits::DEFAULT;
        let code = |source: &str, schema: Value| {
            CheckedTemplate::check(source, &schema, &limits)
                .map(|_| ())
                .map_err(|e| e.code())
        };

        // a good template
        assert_eq!(code("a: {{ b }}", json!({"type": "object"})), Ok(()));
        // syntax errors name their line
        assert_eq!(code("a: 1\nb: {{ oops", json!({})), Err("invalid_template"));
        // references leaving the schema
        let remote = json!({"$ref": "https://example.com/schema.json"});
        assert_eq!(code("a: 1", remote), Err("schema_external_ref"));
        let file = json!({"properties": {"a": {"$ref": "file:///etc/passwd"}}});
        assert_eq!(code("a: 1", file), Err("schema_external_ref"));
        // local references are fine
        let local = json!({
            "$defs": {"n": {"type": "integer"}},
            "properties": {"a": {"$ref": "#/$defs/n"}}
        });
        assert_eq!(code("a: 1", local), Ok(()));
        // schemas that are not schemas
        assert_eq!(code("a: 1", json!(["no"])), Err("invalid_schema"));
        assert_eq!(code("a: 1", json!({"type": 12})), Err("invalid_schema"));
    }

    #[test]
    fn syntax_error_points_at_its_line() {
        let error = checked("a: 1\nb: 2\nc: {% if %}", json!({})).expect_err("bad syntax");
        assert!(
            matches!(error, TemplateError::Syntax { line: Some(3), .. }),
            "{error:?}"
        );
    }

    #[test]
    fn output_must_be_yaml() {
        let template = checked("a: [unclosed", json!({})).expect("compiles");
        let error = template
            .render(&json!({}), &TemplateLimits::DEFAULT)
            .expect_err("not yaml");
        assert_eq!(error.code(), "render_output_not_yaml");
    }

    #[test]
    fn undefined_variables_fail_the_render() {
        let template = checked("a: {{ missing }}", json!({})).expect("compiles");
        let error = template
            .render(&json!({}), &TemplateLimits::DEFAULT)
            .expect_err("undefined");
        assert_eq!(error.code(), "render_failed");
    }

    #[test]
    fn yaml_check() {
        assert!(check_yaml("a: 1").is_ok());
        assert!(check_yaml("a: 1\n---\nb: 2\n").is_ok());
        assert!(check_yaml("").is_err());
        assert!(check_yaml("a: [1, 2").is_err());
        assert!(check_yaml("a: b: c").is_err());
    }

    #[test]
    fn deeply_nested_yaml_is_refused_without_overflowing_the_stack() {
        let flow = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        let block = "- ".repeat(5_000);
        let mapping: String = (0..1_000)
            .map(|depth| format!("{}k:\n", " ".repeat(depth)))
            .collect();
        for deep in [flow, block, mapping] {
            assert!(check_yaml(&deep).is_err());
        }
        assert!(check_yaml(&"- ".repeat(MAX_YAML_DEPTH)).is_ok());
        assert!(check_yaml(&"- ".repeat(MAX_YAML_DEPTH + 1)).is_err());
    }

    #[test]
    fn wide_indentation_is_refused_not_allocated() {
        let limits = TemplateLimits::DEFAULT;
        for source in [
            "{{ ''|indent(18446744073709551615) }}",
            "{{ ''|indent(1000000000000) }}",
            "{{ 1|tojson(indent=18446744073709551615) }}",
            "{{ 1|tojson(1000000) }}",
        ] {
            let error = render_source(source, &json!({}), &limits).expect_err(source);
            assert_eq!(error.code(), "render_failed", "{source}");
        }
        let indented = render_source("{{ 'a\nb'|indent(2) }}", &json!({}), &limits);
        assert_eq!(indented.as_deref(), Ok("a\n  b"));
        let first = render_source(
            "{{ 'a\nb'|indent(width=2, first=true) }}",
            &json!({}),
            &limits,
        );
        assert_eq!(first.as_deref(), Ok("  a\n  b"));
        let json = render_source("{{ {'a': 1}|tojson(indent=2) }}", &json!({}), &limits);
        assert_eq!(json.as_deref(), Ok("{\n  \"a\": 1\n}"));
    }
}
