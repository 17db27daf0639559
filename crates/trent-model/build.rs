//! Generates the AWS KMS surface from the vendored model (`model/service-2.json`) into
//! `$OUT_DIR/kms.rs`: one Rust type per model shape, closed enums, a `FromJson` impl per input shape
//! that checks types (SerializationException) and the model's constraints (ValidationException, with
//! AWS's wording), the `Operation` enum with its parser, and the `ErrorCode` enum.
//!
//! Constraints are read from the model only; nothing here knows a KMS limit by heart.

// `writeln!` into a `String` cannot fail; a panic here is a build error naming the shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    for file in ["model/service-2.json", "model/common-errors.json", "model/extensions.json"] {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    let model: Value = read_json(&format!("{dir}/model/service-2.json"));
    let common: Value = read_json(&format!("{dir}/model/common-errors.json"));
    let extensions: Value = read_json(&format!("{dir}/model/extensions.json"));
    let mut shapes: BTreeMap<String, Value> = model["shapes"].as_object().expect("model has shapes").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    apply_extensions(&mut shapes, &extensions);
    let operations = model["operations"].as_object().expect("model has operations");

    let mut out = String::from("// Generated from model/service-2.json by build.rs. Do not edit.\n\n");
    for (name, shape) in &shapes {
        match shape["type"].as_str().expect("shape has a type") {
            "string" if shape.get("enum").is_some() => emit_enum(&mut out, name, shape),
            "string" if has_string_rule(shape) => emit_string_rule(&mut out, name, shape),
            "structure" if shape.get("exception").is_none() => emit_struct(&mut out, name, shape, &shapes),
            _ => {}
        }
    }
    emit_operations(&mut out, operations);
    emit_error_codes(&mut out, &shapes, &common);

    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(format!("{out_dir}/kms.rs"), out).expect("write generated code");
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Trent's additions to the model (values AWS does not have, such as the `ECC_ED448` key spec, and
/// opt-in request members), kept as data so the AWS model file stays byte-identical to botocore's.
fn apply_extensions(shapes: &mut BTreeMap<String, Value>, extensions: &Value) {
    for (name, shape) in extensions["shapes"].as_object().into_iter().flatten() {
        assert!(shapes.insert(name.clone(), shape.clone()).is_none(), "extension shape {name} exists in the model");
    }
    for (shape, members) in extensions["members"].as_object().into_iter().flatten() {
        let target =
            shapes.get_mut(shape).and_then(|s| s["members"].as_object_mut()).unwrap_or_else(|| panic!("extension adds members to unknown structure {shape}"));
        for (member, spec) in members.as_object().expect("members are an object") {
            assert!(target.insert(member.clone(), spec.clone()).is_none(), "extension member {shape}.{member} exists in the model");
        }
    }
    // What an enum's validation message lists is AWS's: the model's values only (not Trent's, added
    // below), in the order AWS prints them where a response of AWS recorded it
    // (`enum_message_order`), the values that order lacks (newer than the recording) after.
    let orders = extensions["enum_message_order"].as_object().cloned().unwrap_or_default();
    for name in orders.keys().filter(|name| !name.starts_with('_')) {
        assert!(shapes.get(name).is_some_and(|s| s.get("enum").is_some()), "enum_message_order names unknown enum shape {name}");
    }
    for (name, shape) in shapes.iter_mut() {
        let Some(values) = shape.get("enum").and_then(Value::as_array).cloned() else { continue };
        let mut listed = orders.get(name).and_then(Value::as_array).cloned().unwrap_or_default();
        assert!(listed.iter().all(|v| values.contains(v)), "enum_message_order of {name} names a value the model does not have");
        let newer: Vec<Value> = values.into_iter().filter(|v| !listed.contains(v)).collect();
        listed.extend(newer);
        shape["messageValues"] = Value::Array(listed);
    }
    let Some(enums) = extensions["enum_values"].as_object() else { return };
    for (shape, values) in enums {
        let target = shapes.get_mut(shape).and_then(|s| s["enum"].as_array_mut()).unwrap_or_else(|| panic!("extension names unknown enum shape {shape}"));
        target.extend(values.as_array().expect("enum_values are lists").iter().cloned());
    }
}

fn has_string_rule(shape: &Value) -> bool {
    ["min", "max", "pattern", "sensitive"].iter().any(|k| shape.get(*k).is_some())
}

// ---------------------------------------------------------------------------------------------
// Names

fn variant_name(value: &str) -> String {
    value
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase()).into_iter();
            let all_caps = part.chars().all(|c| !c.is_ascii_lowercase());
            let rest: String = if all_caps { chars.as_str().to_ascii_lowercase() } else { chars.collect() };
            first.chain(rest.chars()).collect::<String>()
        })
        .collect()
}

fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || prev.is_ascii_digit() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    match out.as_str() {
        "type" | "match" | "ref" | "self" | "mod" | "use" | "fn" => out + "_",
        _ => out,
    }
}

fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn shape_of<'a>(shapes: &'a BTreeMap<String, Value>, name: &str) -> &'a Value {
    shapes.get(name).unwrap_or_else(|| panic!("unknown shape {name}"))
}

// ---------------------------------------------------------------------------------------------
// Enums

fn emit_enum(out: &mut String, name: &str, shape: &Value) {
    let values: Vec<&str> = shape["enum"].as_array().expect("enum list").iter().map(|v| v.as_str().expect("enum value")).collect();
    let variants: Vec<String> = values.iter().map(|v| variant_name(v)).collect();
    let mut seen = std::collections::BTreeSet::new();
    for v in &variants {
        assert!(seen.insert(v), "enum {name}: two values map to variant {v}");
    }
    writeln!(out, "#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]").unwrap();
    writeln!(out, "pub enum {name} {{").unwrap();
    for (value, variant) in values.iter().zip(&variants) {
        writeln!(out, "    /// `{value}`\n    {variant},").unwrap();
    }
    writeln!(out, "}}\n\nimpl {name} {{").unwrap();
    writeln!(out, "    /// Every value, in the model's order.").unwrap();
    writeln!(out, "    pub const ALL: &'static [{name}] = &[{}];", variants.iter().map(|v| format!("{name}::{v}")).collect::<Vec<_>>().join(", ")).unwrap();
    writeln!(out, "    pub const VALUES: &'static [&'static str] = &[{}];", values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")).unwrap();
    let message_values: Vec<&str> = shape["messageValues"].as_array().expect("message values").iter().map(|v| v.as_str().expect("enum value")).collect();
    writeln!(out, "    /// The values a validation message lists: AWS's, in AWS's order.").unwrap();
    writeln!(
        out,
        "    pub const MESSAGE_VALUES: &'static [&'static str] = &[{}];",
        message_values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", ")
    )
    .unwrap();
    writeln!(out, "    pub fn as_str(self) -> &'static str {{\n        match self {{").unwrap();
    for (value, variant) in values.iter().zip(&variants) {
        writeln!(out, "            {name}::{variant} => {value:?},").unwrap();
    }
    writeln!(out, "        }}\n    }}\n").unwrap();
    writeln!(out, "    pub fn parse(value: &str) -> Option<Self> {{\n        match value {{").unwrap();
    for (value, variant) in values.iter().zip(&variants) {
        writeln!(out, "            {value:?} => Some({name}::{variant}),").unwrap();
    }
    writeln!(out, "            _ => None,\n        }}\n    }}\n}}\n").unwrap();
    writeln!(
        out,
        "impl std::fmt::Display for {name} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str()) }}\n}}\n"
    )
    .unwrap();
    writeln!(
        out,
        "impl serde::Serialize for {name} {{\n    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{ s.serialize_str(self.as_str()) }}\n}}\n"
    )
    .unwrap();
    writeln!(
        out,
        "impl<'de> serde::Deserialize<'de> for {name} {{\n    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {{\n        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;\n        Self::parse(&text).ok_or_else(|| serde::de::Error::custom(format!(\"unknown {name} value {{text}}\")))\n    }}\n}}\n"
    )
    .unwrap();
    writeln!(
        out,
        "impl FromJson for {name} {{\n    fn from_json(value: &Json, path: &str, cx: &mut Cx) -> Result<Option<Self>, KmsError> {{\n        let text = cx.string(value, path)?;\n        Ok(Self::parse(text).or_else(|| {{ cx.enum_violation(path, text, Self::MESSAGE_VALUES); None }}))\n    }}\n}}\n"
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Constrained strings: a `StringRule` constant per shape.

fn emit_string_rule(out: &mut String, name: &str, shape: &Value) {
    let min = shape["min"].as_u64().map_or("None".into(), |m| format!("Some({m})"));
    let max = shape["max"].as_u64().map_or("None".into(), |m| format!("Some({m})"));
    let pattern = shape["pattern"].as_str().map_or("None".into(), |p| format!("Some({p:?})"));
    let sensitive = shape["sensitive"].as_bool().unwrap_or(false);
    writeln!(
        out,
        "static {}: StringRule = StringRule {{ min: {min}, max: {max}, pattern: {pattern}, sensitive: {sensitive}, regex: std::sync::OnceLock::new() }};\n",
        rule_name(name)
    )
    .unwrap();
}

fn rule_name(shape: &str) -> String {
    format!("RULE_{}", snake_case(shape).to_ascii_uppercase())
}

// ---------------------------------------------------------------------------------------------
// Structures

/// The Rust type of a member that targets `target`.
fn rust_type(shapes: &BTreeMap<String, Value>, target: &str) -> String {
    let shape = shape_of(shapes, target);
    match shape["type"].as_str().expect("type") {
        "string" if shape.get("enum").is_some() => target.to_string(),
        "string" => "String".into(),
        "blob" => "Blob".into(),
        "boolean" => "bool".into(),
        "integer" => "i32".into(),
        "long" => "i64".into(),
        "timestamp" => "Timestamp".into(),
        "structure" => target.to_string(),
        "list" => format!("Vec<{}>", rust_type(shapes, shape["member"]["shape"].as_str().expect("list member"))),
        "map" => format!(
            "std::collections::BTreeMap<{}, {}>",
            rust_type(shapes, shape["key"]["shape"].as_str().expect("map key")),
            rust_type(shapes, shape["value"]["shape"].as_str().expect("map value"))
        ),
        other => panic!("shape {target}: unsupported type {other}"),
    }
}

/// An expression of type `Result<Option<T>, KmsError>` parsing `value` (a `&Json`) at `path`.
fn parse_expr(shapes: &BTreeMap<String, Value>, target: &str, value: &str, path: &str) -> String {
    let shape = shape_of(shapes, target);
    let bounds = |s: &Value| {
        let min = s["min"].as_i64().map_or("None".into(), |m| format!("Some({m})"));
        let max = s["max"].as_i64().map_or("None".into(), |m| format!("Some({m})"));
        (min, max)
    };
    match shape["type"].as_str().expect("type") {
        "string" if shape.get("enum").is_some() => format!("{target}::from_json({value}, {path}, cx)"),
        "string" if has_string_rule(shape) => format!("cx.checked_string({value}, {path}, &{})", rule_name(target)),
        "string" => format!("cx.string({value}, {path}).map(|s| Some(s.to_owned()))"),
        "blob" => {
            let (min, max) = bounds(shape);
            let sensitive = shape["sensitive"].as_bool().unwrap_or(false);
            format!("cx.blob({value}, {path}, {min}, {max}, {sensitive})")
        }
        "boolean" => format!("cx.boolean({value}, {path}).map(Some)"),
        "timestamp" => format!("cx.timestamp({value}, {path}).map(Some)"),
        "integer" | "long" => {
            let (min, max) = bounds(shape);
            format!("cx.integer({value}, {path}, {min}, {max})")
        }
        "structure" => format!("{target}::from_json({value}, {path}, cx)"),
        "list" => {
            let (min, max) = bounds(shape);
            let item = parse_expr(shapes, shape["member"]["shape"].as_str().expect("member"), "item", "&item_path");
            format!("cx.list({value}, {path}, {min}, {max}, |item, item_path, cx| {item})")
        }
        "map" => {
            let key = parse_expr(shapes, shape["key"]["shape"].as_str().expect("key"), "key", "entry_path");
            let val = parse_expr(shapes, shape["value"]["shape"].as_str().expect("value"), "val", "entry_path");
            format!("cx.map({value}, {path}, |key, val, entry_path, cx| Ok(match ({key}?, {val}?) {{ (Some(k), Some(v)) => Some((k, v)), _ => None }}))")
        }
        other => panic!("shape {target}: unsupported type {other}"),
    }
}

/// Whether `Default` can be derived: every required member's type has a default.
fn defaultable(shapes: &BTreeMap<String, Value>, shape: &Value) -> bool {
    required_members(shape).iter().all(|m| {
        let target = shape["members"][m]["shape"].as_str().expect("member shape");
        let t = shape_of(shapes, target);
        match t["type"].as_str().expect("type") {
            "string" => t.get("enum").is_none(),
            "structure" => defaultable(shapes, t),
            _ => true,
        }
    })
}

fn required_members(shape: &Value) -> Vec<String> {
    shape["required"].as_array().map_or(vec![], |r| r.iter().map(|v| v.as_str().expect("required").to_string()).collect())
}

fn emit_struct(out: &mut String, name: &str, shape: &Value, shapes: &BTreeMap<String, Value>) {
    let empty = Map::new();
    let members = shape["members"].as_object().unwrap_or(&empty);
    let required = required_members(shape);
    let derive_default = if defaultable(shapes, shape) { ", Default" } else { "" };
    writeln!(out, "#[derive(Clone, Debug, serde::Serialize{derive_default})]").unwrap();
    writeln!(out, "pub struct {name} {{").unwrap();
    for (member, spec) in members {
        let target = spec["shape"].as_str().expect("member shape");
        let ty = rust_type(shapes, target);
        if required.contains(member) {
            writeln!(out, "    #[serde(rename = {member:?})]\n    pub {}: {ty},", snake_case(member)).unwrap();
        } else {
            writeln!(out, "    #[serde(rename = {member:?}, skip_serializing_if = \"Option::is_none\")]\n    pub {}: Option<{ty}>,", snake_case(member))
                .unwrap();
        }
    }
    writeln!(out, "}}\n").unwrap();

    writeln!(out, "impl FromJson for {name} {{").unwrap();
    writeln!(out, "    fn from_json(value: &Json, path: &str, cx: &mut Cx) -> Result<Option<Self>, KmsError> {{").unwrap();
    writeln!(out, "        let object = cx.object(value, path)?;").unwrap();
    for (member, spec) in members {
        let target = spec["shape"].as_str().expect("member shape");
        let field = snake_case(member);
        let member_path = format!("&cx.child(path, {:?})", lower_camel(member));
        let parse = parse_expr(shapes, target, "v", "member_path");
        writeln!(out, "        let {field} = match object.get({member:?}) {{").unwrap();
        writeln!(out, "            Some(v) if !v.is_null() => {{ let member_path = {member_path}; Present({parse}?) }}").unwrap();
        writeln!(out, "            _ => Absent,").unwrap();
        writeln!(out, "        }};").unwrap();
    }
    let required_checks: Vec<String> = members
        .keys()
        .map(|m| {
            let field = snake_case(m);
            if required.contains(m) {
                format!("let {field} = cx.required({field}, path, {:?});", lower_camel(m))
            } else {
                format!("let {field} = {field}.optional();")
            }
        })
        .collect();
    for check in &required_checks {
        writeln!(out, "        {check}").unwrap();
    }
    let fields: Vec<String> = members.keys().map(|m| snake_case(m)).collect();
    if fields.is_empty() {
        writeln!(out, "        let _ = object;\n        Ok(Some({name} {{}}))").unwrap();
    } else {
        let pattern = fields.iter().map(|f| format!("Some({f})")).collect::<Vec<_>>().join(", ");
        writeln!(out, "        Ok(match ({},) {{", fields.join(", ")).unwrap();
        writeln!(out, "            ({pattern},) => Some({name} {{ {} }}),", fields.join(", ")).unwrap();
        writeln!(out, "            _ => None,\n        }})").unwrap();
    }
    writeln!(out, "    }}\n}}\n").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Operations

fn emit_operations(out: &mut String, operations: &Map<String, Value>) {
    let ops: Vec<(&String, &str)> =
        operations.iter().map(|(name, op)| (name, op["input"]["shape"].as_str().unwrap_or_else(|| panic!("operation {name} has no input")))).collect();
    writeln!(out, "/// One AWS KMS request, parsed and validated against the model.").unwrap();
    writeln!(out, "#[derive(Debug)]\npub enum Operation {{").unwrap();
    for (name, input) in &ops {
        writeln!(out, "    /// <https://docs.aws.amazon.com/kms/latest/APIReference/API_{name}.html>\n    {name}({input}),").unwrap();
    }
    writeln!(out, "}}\n\nimpl Operation {{").unwrap();
    writeln!(out, "    /// Parses the JSON body of operation `name`: unknown name → UnknownOperationException, bad JSON or").unwrap();
    writeln!(out, "    /// types → SerializationException, constraint violations → ValidationException.").unwrap();
    writeln!(out, "    pub fn parse(name: &str, body: &[u8]) -> Result<Operation, KmsError> {{\n        Ok(match name {{").unwrap();
    for (name, _) in &ops {
        writeln!(out, "            {name:?} => Operation::{name}(parse_input(body)?),").unwrap();
    }
    writeln!(out, "            _ => return Err(unknown_operation(name)),\n        }})\n    }}\n").unwrap();
    writeln!(out, "    /// Which operation this is, without its input.").unwrap();
    writeln!(out, "    pub fn operation_name(&self) -> OperationName {{\n        match self {{").unwrap();
    for (name, _) in &ops {
        writeln!(out, "            Operation::{name}(_) => OperationName::{name},").unwrap();
    }
    writeln!(out, "        }}\n    }}\n}}\n").unwrap();
    writeln!(out, "/// An AWS KMS operation, without its input: what a request's record, the audit log and metrics name.").unwrap();
    writeln!(out, "#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum OperationName {{").unwrap();
    for (name, _) in &ops {
        writeln!(out, "    {name},").unwrap();
    }
    writeln!(out, "}}\n\nimpl OperationName {{").unwrap();
    writeln!(out, "    /// Every operation, in the model's order.").unwrap();
    writeln!(
        out,
        "    pub const ALL: [OperationName; {}] = [{}];",
        ops.len(),
        ops.iter().map(|(n, _)| format!("OperationName::{n}")).collect::<Vec<_>>().join(", ")
    )
    .unwrap();
    writeln!(out, "\n    pub fn as_str(self) -> &'static str {{\n        match self {{").unwrap();
    for (name, _) in &ops {
        writeln!(out, "            OperationName::{name} => {name:?},").unwrap();
    }
    writeln!(out, "        }}\n    }}\n").unwrap();
    writeln!(out, "    /// The operation `name` (as after `TrentService.` in `X-Amz-Target`), if there is one.").unwrap();
    writeln!(out, "    pub fn parse(name: &str) -> Option<OperationName> {{\n        Some(match name {{").unwrap();
    for (name, _) in &ops {
        writeln!(out, "            {name:?} => OperationName::{name},").unwrap();
    }
    writeln!(out, "            _ => return None,\n        }})\n    }}\n}}\n").unwrap();
}

// ---------------------------------------------------------------------------------------------
// Error codes

fn emit_error_codes(out: &mut String, shapes: &BTreeMap<String, Value>, common: &Value) {
    let mut codes: Vec<(String, u16)> =
        shapes.iter().filter(|(_, s)| s.get("exception").is_some()).map(|(name, s)| (name.clone(), if s.get("fault").is_some() { 500 } else { 400 })).collect();
    for (name, status) in common.as_object().expect("common-errors.json is an object") {
        if name.starts_with('_') || codes.iter().any(|(c, _)| c == name) {
            continue;
        }
        codes.push((name.clone(), status.as_u64().expect("status") as u16));
    }
    codes.sort();
    writeln!(out, "/// Every error code Trent can answer: the model's exceptions plus the AWS JSON protocol's common errors.").unwrap();
    writeln!(out, "#[derive(Clone, Copy, Debug, PartialEq, Eq)]\n#[allow(clippy::enum_variant_names)]\npub enum ErrorCode {{").unwrap();
    for (name, _) in &codes {
        writeln!(out, "    {name},").unwrap();
    }
    writeln!(out, "}}\n\nimpl ErrorCode {{\n    pub fn as_str(self) -> &'static str {{\n        match self {{").unwrap();
    for (name, _) in &codes {
        writeln!(out, "            ErrorCode::{name} => {name:?},").unwrap();
    }
    writeln!(out, "        }}\n    }}\n\n    /// HTTP status: 500 for the model's fault errors, as AWS documents them.\n    pub fn status(self) -> u16 {{\n        match self {{").unwrap();
    for (name, status) in &codes {
        writeln!(out, "            ErrorCode::{name} => {status},").unwrap();
    }
    writeln!(out, "        }}\n    }}\n}}\n").unwrap();
}
