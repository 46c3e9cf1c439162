//! Backups as JSON Lines, and the *tagged JSON* form of a [`Value`] that round-trips exactly.
//!
//! A backup holds one entry per line, in key order:
//! `{"key": K, "value": V}` where `K` is the key as a JSON string if it is UTF-8, else
//! `{"$bytes": "<base64>"}`, and `V` is the value in tagged JSON:
//!
//! * `null`, booleans, strings, arrays and objects are plain JSON;
//! * finite numbers other than `-0` are plain JSON numbers (shortest form that reads back
//!   bit-exactly);
//! * `{"$undefined": true}` is `undefined`;
//! * `{"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}` are those numbers;
//! * `{"$bigint": "<decimal digits>"}` is a BigInt;
//! * `{"$bytes": "<base64, standard alphabet, padded>"}` is a `Uint8Array`;
//! * an object that itself has exactly one property whose name starts with `$` is written as
//!   `{"$object": {...}}`, so it is not mistaken for a tag;
//! * `{"$utf16": [code units]}` is a string with a lone surrogate (JSON text cannot hold one
//!   as a string, and JSON parsers refuse `"\ud800"`), e.g. `{"$utf16": [97, 55296, 98]}` for
//!   `"a\uD800b"`;
//! * `{"$entries": [[key, value], ...]}` is an object one of whose keys has a lone surrogate;
//!   each key is a string or `{"$utf16": [...]}`.
//!
//! Property order is kept. Import reports the line number of the first bad line; blank lines
//! are skipped. Every value the store holds survives export and import: a line may nest as
//! deeply as the tagged JSON of a value of [`MAX_DEPTH`] levels does (JSON parsers' own
//! limit, 128, is not used), and a value nested more deeply is refused with the line and
//! the path.

use super::codec::MAX_DEPTH;
use super::{Namespace, StoreError, WriteBatch, WriteOp, display_key};
use crate::value::{BigInt, Key, Value, Wtf16};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value as J};
use std::io::{BufRead, Write};

/// Entries written per batch when importing.
const IMPORT_BATCH: usize = 1000;

/// The deepest JSON [`parse_tagged_json`] and an import read: a backup line (one level,
/// `{"key": …, "value": …}`) holding the tagged JSON of a value of [`MAX_DEPTH`] levels whose
/// every object has a key with a lone surrogate (three JSON levels each: `{"$entries": [[k,
/// v]]}`) and whose innermost value is `{"$utf16": [...]}` (two more), with room for one
/// level more, so that a value just past the limit is refused with its path. Deeper text is
/// refused before it is parsed, so parsing cannot exhaust the stack.
const JSON_MAX_DEPTH: usize = 1 + 3 * (MAX_DEPTH + 1) + 2;

fn utf16_json(w: &Wtf16) -> J {
    let mut m = Map::with_capacity(1);
    m.insert(
        "$utf16".to_owned(),
        J::Array(w.units().iter().map(|&u| J::from(u)).collect()),
    );
    J::Object(m)
}

/// Parses one line or argument of tagged JSON, nested at most [`JSON_MAX_DEPTH`] levels.
pub fn parse_tagged_json(text: &str) -> Result<Value, StoreError> {
    let json = parse_json(text).map_err(StoreError::TaggedJson)?;
    let value = value_from_tagged_json(&json)?;
    check_depth(&value)?;
    Ok(value)
}

/// Refuses a value nested more deeply than the store keeps.
fn check_depth(value: &Value) -> Result<(), StoreError> {
    value.depth_within(MAX_DEPTH).map(|_| ()).map_err(|path| {
        let path = crate::value::path_text(path.iter().rev().map(String::as_str));
        StoreError::TaggedJson(crate::value::too_deep_message(&format!("the value{path}")))
    })
}

/// JSON text as a `serde_json` value, with our nesting bound instead of the parser's
/// recursion limit of 128 (which values of the store's [`MAX_DEPTH`] exceed).
fn parse_json(text: &str) -> Result<J, String> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > JSON_MAX_DEPTH {
                    return Err(format!(
                        "JSON nested more than {JSON_MAX_DEPTH} levels deep: {}",
                        crate::value::NESTING_RULE
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let json =
        serde::Deserialize::deserialize(&mut de).map_err(|e| format!("invalid JSON: {e}"))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(json)
}

/// The tagged JSON form of a value (see the module documentation).
pub fn value_to_tagged_json(value: &Value) -> J {
    fn tag(name: &str, v: J) -> J {
        let mut m = Map::with_capacity(1);
        m.insert(name.to_owned(), v);
        J::Object(m)
    }
    match value {
        Value::Undefined => tag("$undefined", J::Bool(true)),
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => {
            let n = *n;
            if n.is_nan() {
                tag("$number", J::from("NaN"))
            } else if n == f64::INFINITY {
                tag("$number", J::from("Infinity"))
            } else if n == f64::NEG_INFINITY {
                tag("$number", J::from("-Infinity"))
            } else if n == 0.0 && n.is_sign_negative() {
                tag("$number", J::from("-0"))
            } else if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                J::from(n as i64)
            } else {
                serde_json::Number::from_f64(n).map_or(J::Null, J::Number)
            }
        }
        Value::BigInt(b) => tag("$bigint", J::from(b.as_str())),
        Value::String(s) => J::String(s.clone()),
        Value::Wtf16(w) => utf16_json(w),
        Value::Bytes(b) => tag("$bytes", J::String(B64.encode(b))),
        Value::Array(items) => J::Array(items.iter().map(value_to_tagged_json).collect()),
        Value::Object(pairs) if pairs.iter().any(|(k, _)| matches!(k, Key::Wtf16(_))) => {
            let entries = pairs
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::String(s) => J::String(s.clone()),
                        Key::Wtf16(w) => utf16_json(w),
                    };
                    J::Array(vec![key, value_to_tagged_json(v)])
                })
                .collect();
            tag("$entries", J::Array(entries))
        }
        Value::Object(pairs) => {
            let map: Map<String, J> = pairs
                .iter()
                .map(|(k, v)| (k.to_string_lossy().into_owned(), value_to_tagged_json(v)))
                .collect();
            if pairs.len() == 1 && pairs[0].0.as_str().is_some_and(|k| k.starts_with('$')) {
                tag("$object", J::Object(map))
            } else {
                J::Object(map)
            }
        }
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T, StoreError> {
    Err(StoreError::TaggedJson(msg.into()))
}

/// Reads a value back from its tagged JSON form.
pub fn value_from_tagged_json(json: &J) -> Result<Value, StoreError> {
    Ok(match json {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_f64() {
            Some(f) => Value::Number(f),
            None => return bad(format!("number {n} is not representable")),
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::Array(
            items
                .iter()
                .map(value_from_tagged_json)
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => {
            if map.len() == 1
                && let Some((tag, inner)) = map.iter().next()
                && tag.starts_with('$')
            {
                return from_tag(tag, inner);
            }
            plain_object(map)?
        }
    })
}

fn plain_object(map: &Map<String, J>) -> Result<Value, StoreError> {
    Ok(Value::Object(
        map.iter()
            .map(|(k, v)| Ok((Key::String(k.clone()), value_from_tagged_json(v)?)))
            .collect::<Result<_, StoreError>>()?,
    ))
}

fn from_tag(tag: &str, inner: &J) -> Result<Value, StoreError> {
    Ok(match (tag, inner) {
        ("$undefined", J::Bool(true)) => Value::Undefined,
        ("$number", J::String(s)) => Value::Number(match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            "-0" => -0.0,
            other => return bad(format!("unknown $number {other:?}")),
        }),
        ("$bigint", J::String(s)) => match BigInt::parse(s) {
            Some(b) => Value::BigInt(b),
            None => return bad(format!("invalid $bigint {s:?}")),
        },
        ("$bytes", J::String(s)) => match B64.decode(s) {
            Ok(b) => Value::Bytes(b),
            Err(e) => return bad(format!("invalid base64 in $bytes: {e}")),
        },
        ("$object", J::Object(map)) => plain_object(map)?,
        ("$utf16", J::Array(units)) => Value::from_utf16(&code_units(units)?),
        ("$entries", J::Array(entries)) => {
            let mut pairs = Vec::with_capacity(entries.len());
            for entry in entries {
                let (key, value) = match entry.as_array().map(Vec::as_slice) {
                    Some([key, value]) => (key, value),
                    _ => return bad("each of $entries must be [key, value]"),
                };
                let key = match key {
                    J::String(s) => Key::String(s.clone()),
                    J::Object(m) if m.len() == 1 => match m.get("$utf16") {
                        Some(J::Array(units)) => Key::from_utf16(&code_units(units)?),
                        _ => {
                            return bad(
                                "a key in $entries must be a string or {\"$utf16\": [...]}",
                            );
                        }
                    },
                    _ => return bad("a key in $entries must be a string or {\"$utf16\": [...]}"),
                };
                pairs.push((key, value_from_tagged_json(value)?));
            }
            Value::Object(pairs)
        }
        (tag, _) => {
            return bad(format!(
                "unknown tag {tag:?} or wrong payload type (an object whose only property starts \
                 with \"$\" must be written as {{\"$object\": {{...}}}})"
            ));
        }
    })
}

/// The code units of `{"$utf16": [...]}`.
fn code_units(units: &[J]) -> Result<Vec<u16>, StoreError> {
    units
        .iter()
        .map(|u| {
            u.as_u64()
                .and_then(|u| u16::try_from(u).ok())
                .ok_or_else(|| {
                    StoreError::TaggedJson(format!(
                        "$utf16 holds UTF-16 code units (integers 0 to 65535), not {u}"
                    ))
                })
        })
        .collect()
}

fn key_to_json(key: &[u8]) -> J {
    match std::str::from_utf8(key) {
        Ok(s) => J::String(s.to_owned()),
        Err(_) => {
            let mut m = Map::with_capacity(1);
            m.insert("$bytes".into(), J::String(B64.encode(key)));
            J::Object(m)
        }
    }
}

fn key_from_json(json: &J) -> Result<Vec<u8>, String> {
    match json {
        J::String(s) => Ok(s.as_bytes().to_vec()),
        J::Object(m) if m.len() == 1 => match m.get("$bytes") {
            Some(J::String(s)) => B64
                .decode(s)
                .map_err(|e| format!("invalid base64 key: {e}")),
            _ => Err("a key must be a string or {\"$bytes\": base64}".into()),
        },
        _ => Err("a key must be a string or {\"$bytes\": base64}".into()),
    }
}

/// Writes every entry of the namespace as JSON Lines, in key order, from one consistent
/// snapshot. Returns the number of entries written.
pub fn export_jsonl(ns: &Namespace, out: &mut dyn Write) -> Result<u64, StoreError> {
    ns.read(|table| {
        let Some(table) = table else { return Ok(0) };
        let eng = |e| ns.store.shared.engine(e);
        let mut n = 0u64;
        for entry in table.range::<&[u8]>(..).map_err(eng)? {
            let (k, v) = entry.map_err(eng)?;
            let key = k.value();
            let value = ns.decode(key, v.value())?;
            write_entry(out, key, &value)?;
            n += 1;
        }
        out.flush()?;
        Ok(n)
    })
}

/// [`export_jsonl`] for a store on PostgreSQL (one `REPEATABLE READ` snapshot).
pub fn export_jsonl_postgres(
    ns: &super::postgres::PgNamespace,
    out: &mut dyn Write,
) -> Result<u64, StoreError> {
    let n = ns.export_pages(&mut |entries| {
        for (key, value) in &entries {
            write_entry(out, key, value)?;
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(n)
}

/// One backup line.
fn write_entry(out: &mut dyn Write, key: &[u8], value: &Value) -> Result<(), StoreError> {
    let mut line = Map::with_capacity(2);
    line.insert("key".into(), key_to_json(key));
    line.insert("value".into(), value_to_tagged_json(value));
    serde_json::to_writer(&mut *out, &J::Object(line))
        .map_err(|e| StoreError::BackupIo(e.into()))?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Puts every entry of a JSON Lines backup into the namespace (existing keys are overwritten,
/// others are kept), in batches of 1000 entries acknowledged with the namespace's durability.
/// Returns the number of entries imported. A bad line fails the import with an error naming
/// the line; entries of the batches completed before it stay written, the rest are not.
pub fn import_jsonl(ns: &Namespace, input: &mut dyn BufRead) -> Result<u64, StoreError> {
    import_jsonl_with(&mut |batch| ns.write_blocking(batch), input)
}

/// [`import_jsonl`] into a store on PostgreSQL.
pub fn import_jsonl_postgres(
    ns: &super::postgres::PgNamespace,
    input: &mut dyn BufRead,
) -> Result<u64, StoreError> {
    import_jsonl_with(&mut |batch| ns.write_blocking(batch), input)
}

/// [`import_jsonl`], writing each batch with `write`.
fn import_jsonl_with(
    write: &mut dyn FnMut(WriteBatch) -> Result<super::WriteOutcome, StoreError>,
    input: &mut dyn BufRead,
) -> Result<u64, StoreError> {
    let mut batch = WriteBatch::default();
    let mut first_line_of_batch = 1u64;
    let mut n = 0u64;
    let mut line_no = 0u64;
    let mut line = String::new();
    let mut flush = |batch: &mut WriteBatch, first: u64| -> Result<(), StoreError> {
        let ops = std::mem::take(&mut batch.ops);
        if ops.is_empty() {
            return Ok(());
        }
        write(WriteBatch { ops })
            .map(|_| ())
            .map_err(|e| StoreError::BackupLine {
                line: first,
                message: format!("writing the batch starting here failed: {e}"),
            })
    };
    loop {
        line.clear();
        let read = input
            .read_line(&mut line)
            .map_err(|e| StoreError::BackupLine {
                line: line_no + 1,
                message: e.to_string(),
            })?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| StoreError::BackupLine {
            line: line_no,
            message,
        };
        let json: J = parse_json(&line).map_err(at)?;
        let J::Object(obj) = &json else {
            return Err(at("expected an object {\"key\": …, \"value\": …}".into()));
        };
        if let Some(extra) = obj.keys().find(|k| *k != "key" && *k != "value") {
            return Err(at(format!("unexpected field {extra:?}")));
        }
        let key = key_from_json(obj.get("key").ok_or_else(|| at("missing \"key\"".into()))?)
            .map_err(at)?;
        let value = value_from_tagged_json(
            obj.get("value")
                .ok_or_else(|| at(format!("missing \"value\" for key {}", display_key(&key))))?,
        )
        .and_then(|v| check_depth(&v).map(|()| v))
        .map_err(|e| at(format!("key {}: {e}", display_key(&key))))?;
        if batch.ops.is_empty() {
            first_line_of_batch = line_no;
        }
        batch.ops.push(WriteOp::Put { key, value });
        n += 1;
        if batch.ops.len() >= IMPORT_BATCH {
            flush(&mut batch, first_line_of_batch)?;
        }
    }
    flush(&mut batch, first_line_of_batch)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Durability, KeyRange, ListQuery, Store};
    use serde_json::json;

    fn every_variant() -> Value {
        Value::object([
            ("u", Value::Undefined),
            ("n", Value::Null),
            ("b", Value::Bool(true)),
            ("i", Value::Number(42.0)),
            ("f", Value::Number(0.1 + 0.2)),
            ("e", Value::Number(1e300)),
            ("negzero", Value::Number(-0.0)),
            ("nan", Value::Number(f64::NAN)),
            ("inf", Value::Number(f64::INFINITY)),
            ("ninf", Value::Number(f64::NEG_INFINITY)),
            ("beyond", Value::Number(2f64.powi(60))),
            (
                "big",
                Value::BigInt(BigInt::parse("-98765432109876543210987654321").expect("big")),
            ),
            ("s", Value::from("ünï \"q\"\n")),
            ("bytes", Value::Bytes(vec![0, 1, 254, 255])),
            (
                "dollar",
                Value::object([("$bytes", Value::from("not bytes"))]),
            ),
            (
                "dollar2",
                Value::object([("$a", Value::Null), ("$b", Value::Null)]),
            ),
            ("empty", Value::Object(vec![])),
            (
                "zed",
                Value::Array(vec![Value::Undefined, Value::Array(vec![])]),
            ),
            ("a", Value::Null), // after "zed": order is kept
        ])
    }

    #[test]
    fn tagged_json_round_trips_exactly() {
        let v = every_variant();
        let j = value_to_tagged_json(&v);
        assert_eq!(j["u"], json!({"$undefined": true}));
        assert_eq!(j["negzero"], json!({"$number": "-0"}));
        assert_eq!(j["i"], json!(42));
        assert_eq!(
            j["big"],
            json!({"$bigint": "-98765432109876543210987654321"})
        );
        assert_eq!(j["bytes"], json!({"$bytes": "AAH+/w=="}));
        assert_eq!(j["dollar"], json!({"$object": {"$bytes": "not bytes"}}));
        assert_eq!(j["dollar2"], json!({"$a": null, "$b": null}));
        // Through text, as a backup or the CLI does.
        let text = serde_json::to_string(&j).expect("serialise");
        let back =
            value_from_tagged_json(&serde_json::from_str(&text).expect("parse")).expect("tagged");
        assert_eq!(back, v);
    }

    #[test]
    fn floats_survive_text_bit_exactly() {
        let mut x: u64 = 7;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = Value::Number(f64::from_bits(x));
            let text = value_to_tagged_json(&v).to_string();
            let back = value_from_tagged_json(&serde_json::from_str(&text).expect("parse"))
                .expect("tagged");
            assert_eq!(back, v, "{text}");
        }
    }

    #[test]
    fn bad_tags_are_errors() {
        for bad in [
            json!({"$undefined": false}),
            json!({"$number": "nan"}),
            json!({"$bigint": "12x"}),
            json!({"$bytes": "!!"}),
            json!({"$what": 1}),
            json!({"$object": 1}),
        ] {
            assert!(value_from_tagged_json(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn export_import_round_trip_is_exact() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let src = store.namespace("src", Durability::Relaxed).expect("ns");
        let entries: Vec<(Vec<u8>, Value)> = vec![
            (vec![], Value::from("empty key")),
            (vec![0xFF, 0x00, 0x80], every_variant()),
            ("user/é/1".as_bytes().to_vec(), Value::Number(-0.0)),
            (b"z".to_vec(), Value::Bytes(vec![9; 5000])),
        ];
        let mut batch = WriteBatch::default();
        for (k, v) in &entries {
            batch = batch.put(k.clone(), v.clone());
        }
        src.write_blocking(batch).expect("write");
        let mut out = Vec::new();
        assert_eq!(export_jsonl(&src, &mut out).expect("export"), 4);
        let text = String::from_utf8(out.clone()).expect("utf8");
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains(r#"{"key":{"$bytes":"/wCA"},"#), "{text}");

        let dst = store.namespace("dst", Durability::Durable).expect("ns");
        assert_eq!(import_jsonl(&dst, &mut out.as_slice()).expect("import"), 4);
        let all = ListQuery::default();
        assert_eq!(dst.list(&all).expect("list"), src.list(&all).expect("list"));
        assert_eq!(dst.list(&all).expect("list"), {
            let mut e = entries.clone();
            e.sort_by(|a, b| a.0.cmp(&b.0));
            e
        });
        // Re-export is byte-identical.
        let mut again = Vec::new();
        export_jsonl(&dst, &mut again).expect("export");
        assert_eq!(again, out);
        assert_eq!(dst.count(&KeyRange::All).expect("count"), 4);
    }

    #[test]
    fn lone_surrogates_survive_tagged_json() {
        let lone = Value::from_utf16(&[0x61, 0xD800, 0x62]);
        let v = Value::Array(vec![
            lone.clone(),
            Value::Object(vec![
                (Key::from_utf16(&[0xDFFF]), lone.clone()),
                ("$x".into(), Value::Null),
            ]),
            Value::object([("$utf16", Value::from("not a tag"))]),
        ]);
        let j = value_to_tagged_json(&v);
        assert_eq!(j[0], json!({"$utf16": [97, 55296, 98]}));
        assert_eq!(
            j[1],
            json!({"$entries": [[{"$utf16": [57343]}, {"$utf16": [97, 55296, 98]}], ["$x", null]]})
        );
        assert_eq!(j[2], json!({"$object": {"$utf16": "not a tag"}}));
        let text = serde_json::to_string(&j).expect("serialise");
        assert_eq!(parse_tagged_json(&text).expect("parse"), v);
        for bad in [
            json!({"$utf16": [65536]}),
            json!({"$utf16": ["a"]}),
            json!({"$entries": [[1, 2]]}),
            json!({"$entries": [["a"]]}),
        ] {
            assert!(value_from_tagged_json(&bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn every_depth_the_store_keeps_survives_export_and_import() {
        // Objects with lone-surrogate keys nest three JSON levels per level.
        let mut v = Value::from_utf16(&[0xD800]);
        for _ in 0..MAX_DEPTH {
            v = Value::Object(vec![(Key::from_utf16(&[0xDC00]), v)]);
        }
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let src = store.namespace("src", Durability::Relaxed).expect("ns");
        src.write_blocking(WriteBatch::default().put(b"deep".to_vec(), v.clone()))
            .expect("write at the limit");
        let mut out = Vec::new();
        export_jsonl(&src, &mut out).expect("export");
        let dst = store.namespace("dst", Durability::Relaxed).expect("ns");
        assert_eq!(import_jsonl(&dst, &mut out.as_slice()).expect("import"), 1);
        assert_eq!(dst.get(b"deep").expect("get"), Some(v.clone()));
        // One level more is refused at its line, with the path.
        let deeper = Value::Array(vec![v]);
        let line = format!(
            "{{\"key\":\"a\",\"value\":1}}\n{{\"key\":\"b\",\"value\":{}}}\n",
            value_to_tagged_json(&deeper)
        );
        let e = import_jsonl(&dst, &mut line.as_bytes()).expect_err("too deep");
        let msg = e.to_string();
        assert!(matches!(e, StoreError::BackupLine { line: 2, .. }), "{msg}");
        assert!(msg.contains("the value[0]"), "{msg}");
        assert!(msg.contains("is nested more than 256 levels deep"), "{msg}");
        // JSON nested past any value's tagged form is refused before it
        // is parsed (no stack overflow).
        let bomb = format!(
            "{{\"key\":\"c\",\"value\":{}1{}}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = import_jsonl(&dst, &mut bomb.as_bytes()).expect_err("bomb");
        assert!(e.to_string().contains("JSON nested more than"), "{e}");
        assert!(parse_tagged_json(&"[".repeat(1_000_000)).is_err());
        // Brackets inside strings do not count.
        let text = format!("[\"{}\"]", "[".repeat(10_000));
        assert!(parse_tagged_json(&text).is_ok());
    }

    #[test]
    fn import_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("open");
        let ns = store.namespace("n", Durability::Relaxed).expect("ns");
        let cases = [
            (
                "{\"key\":\"a\",\"value\":1}\n\nnot json\n",
                3,
                "invalid JSON",
            ),
            (
                "{\"key\":\"a\",\"value\":1}\n{\"key\":1,\"value\":1}\n",
                2,
                "key must be",
            ),
            ("{\"key\":\"a\"}\n", 1, "missing \"value\""),
            (
                "{\"key\":\"a\",\"value\":{\"$nope\":1}}\n",
                1,
                "unknown tag",
            ),
            ("[1]\n", 1, "expected an object"),
            (
                "{\"key\":\"a\",\"value\":1,\"x\":2}\n",
                1,
                "unexpected field",
            ),
        ];
        for (input, line, needle) in cases {
            let e = import_jsonl(&ns, &mut input.as_bytes()).expect_err(input);
            let msg = e.to_string();
            assert!(
                matches!(e, StoreError::BackupLine { line: l, .. } if l == line),
                "{input:?}: {msg}"
            );
            assert!(msg.contains(needle), "{msg}");
        }
    }
}
