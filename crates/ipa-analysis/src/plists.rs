//! Plists (XML and binary) with bounds: size, nesting depth and object count are checked before the `plist`
//! crate builds a value (its binary reader already rejects cycles and offsets past the trailer).

use plist::Value;

/// Deepest nesting of arrays and dicts accepted.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most objects in a binary plist.
const MAX_OBJECTS: u64 = 1_000_000;

/// Parses a plist after the bounds checks; the error says what was wrong, with an offset when known.
pub(crate) fn parse(data: &[u8]) -> Result<Value, String> {
    if data.len() > crate::MAX_PLIST_BYTES {
        return Err(format!(
            "{} bytes exceeds the {}-byte plist limit",
            data.len(),
            crate::MAX_PLIST_BYTES
        ));
    }
    if data.starts_with(b"bplist") {
        check_binary(data)?;
    } else {
        check_xml_depth(data)?;
    }
    Value::from_reader(std::io::Cursor::new(data)).map_err(|e| e.to_string())
}

/// `xml` or `binary`.
pub(crate) fn format(data: &[u8]) -> &'static str {
    if data.starts_with(b"bplist") {
        "binary"
    } else {
        "xml"
    }
}

fn check_xml_depth(data: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'<' {
            let rest = &data[i + 1..];
            let closing = rest.first() == Some(&b'/');
            let name = if closing { &rest[1..] } else { rest };
            let is_container = name.starts_with(b"array") || name.starts_with(b"dict");
            if is_container {
                let tag_end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                let self_closing = tag_end > 0 && rest.get(tag_end - 1) == Some(&b'/');
                if closing {
                    depth = depth.saturating_sub(1);
                } else if !self_closing {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(format!(
                            "nesting deeper than {MAX_DEPTH} levels at offset {i}"
                        ));
                    }
                }
            }
        }
        i += 1;
    }
    Ok(())
}

/// Checks a binary plist's trailer, object count and nesting depth (iteratively, so hostile depth cannot
/// exhaust the stack), and rejects reference cycles.
fn check_binary(data: &[u8]) -> Result<(), String> {
    if data.len() < 8 + 32 {
        return Err(format!(
            "binary plist of {} bytes is shorter than its trailer",
            data.len()
        ));
    }
    let t = &data[data.len() - 32..];
    let off_size = t[6] as usize;
    let ref_size = t[7] as usize;
    let be = |b: &[u8]| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    let num = be(&t[8..16]);
    let top = be(&t[16..24]);
    let table = be(&t[24..32]);
    let trailer_at = (data.len() - 32) as u64;
    if !(1..=8).contains(&off_size) || !(1..=8).contains(&ref_size) {
        return Err(format!(
            "binary plist trailer at offset {trailer_at}: bad int sizes"
        ));
    }
    if num > MAX_OBJECTS || top >= num.max(1) {
        return Err(format!(
            "binary plist trailer at offset {trailer_at}: {num} objects (limit {MAX_OBJECTS}), top {top}"
        ));
    }
    let table_end = table
        .checked_add(num.saturating_mul(off_size as u64))
        .filter(|&e| e <= trailer_at)
        .ok_or_else(|| format!("binary plist offset table at {table} runs past the trailer"))?;
    let _ = table_end;
    let offset_of = |i: u64| -> Option<usize> {
        let at = (table + i * off_size as u64) as usize;
        data.get(at..at + off_size).map(|b| be(b) as usize)
    };
    // Children of a container object.
    let children = |i: u64| -> Result<Vec<u64>, String> {
        let at = offset_of(i).ok_or("offset table entry out of range")?;
        let marker = *data
            .get(at)
            .ok_or_else(|| format!("object {i} offset {at} past the end"))?;
        let kind = marker >> 4;
        if kind != 0xA && kind != 0xC && kind != 0xD {
            return Ok(Vec::new());
        }
        let mut pos = at + 1;
        let mut count = u64::from(marker & 0x0f);
        if count == 0x0f {
            let m = *data.get(pos).ok_or("truncated count")?;
            let n = 1usize << (m & 0x0f).min(3);
            count = be(data.get(pos + 1..pos + 1 + n).ok_or("truncated count")?);
            pos += 1 + n;
        }
        let refs = if kind == 0xD {
            count.saturating_mul(2)
        } else {
            count
        };
        if refs > num.saturating_mul(2) {
            return Err(format!("object {i} at offset {at} claims {count} entries"));
        }
        let mut out = Vec::with_capacity(refs as usize);
        for k in 0..refs as usize {
            let b = data
                .get(pos + k * ref_size..pos + (k + 1) * ref_size)
                .ok_or_else(|| format!("object {i} at offset {at}: references run past the end"))?;
            let r = be(b);
            if r >= num {
                return Err(format!(
                    "object {i} at offset {at}: reference {r} of {num} objects"
                ));
            }
            out.push(r);
        }
        Ok(out)
    };
    // Iterative DFS with a path stack: a reference to an object on the current path is a cycle.
    let mut on_path = vec![false; num as usize];
    let mut stack: Vec<(u64, Vec<u64>, usize)> = vec![(top, children(top)?, 0)];
    on_path[top as usize] = true;
    let mut visits: u64 = 0;
    while let Some((node, kids, idx)) = stack.last_mut() {
        if *idx >= kids.len() {
            on_path[*node as usize] = false;
            stack.pop();
            continue;
        }
        let child = kids[*idx];
        *idx += 1;
        visits += 1;
        if visits > MAX_OBJECTS * 2 {
            return Err("binary plist has too many references".into());
        }
        if on_path[child as usize] {
            return Err(format!(
                "binary plist object {child} at offset {} refers to itself through its children (a cycle)",
                offset_of(child).unwrap_or(0)
            ));
        }
        let grandkids = children(child)?;
        if !grandkids.is_empty() {
            if stack.len() >= MAX_DEPTH {
                return Err(format!(
                    "binary plist nesting deeper than {MAX_DEPTH} levels"
                ));
            }
            on_path[child as usize] = true;
            stack.push((child, grandkids, 0));
        }
    }
    Ok(())
}

/// Dictionary lookups that tolerate any shape.
pub(crate) fn get<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.as_dictionary()?.get(key)
}

pub(crate) fn string(v: &Value, key: &str) -> Option<String> {
    get(v, key).and_then(Value::as_string).map(str::to_owned)
}

pub(crate) fn boolean(v: &Value, key: &str) -> bool {
    get(v, key).and_then(Value::as_boolean).unwrap_or(false)
}

/// A string array (a lone string counts as one element, as some tools write it).
pub(crate) fn strings(v: &Value, key: &str) -> Vec<String> {
    match get(v, key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_string)
            .map(str::to_owned)
            .take(10_000)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Converts to JSON (data as base64-free hex length note, dates as ISO 8601), bounded in depth.
pub(crate) fn to_json(v: &Value, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return J::Null;
    }
    match v {
        Value::Array(a) => J::Array(a.iter().map(|x| to_json(x, depth + 1)).collect()),
        Value::Dictionary(d) => J::Object(
            d.iter()
                .map(|(k, x)| (k.clone(), to_json(x, depth + 1)))
                .collect(),
        ),
        Value::Boolean(b) => J::Bool(*b),
        Value::Data(d) => J::String(format!("<{} bytes>", d.len())),
        Value::Date(d) => J::String(d.to_xml_format()),
        Value::Real(r) => serde_json::Number::from_f64(*r).map_or(J::Null, J::Number),
        Value::Integer(i) => i
            .as_signed()
            .map(J::from)
            .or_else(|| i.as_unsigned().map(J::from))
            .unwrap_or(J::Null),
        Value::String(s) => J::String(s.clone()),
        Value::Uid(u) => J::from(u.get()),
        _ => J::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_and_cycles_are_refused() {
        let deep = format!(
            "<plist>{}{}</plist>",
            "<array>".repeat(100),
            "</array>".repeat(100)
        );
        assert!(parse(deep.as_bytes()).unwrap_err().contains("nesting"));
        let ok = "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>a</key><array/></dict></plist>";
        assert!(parse(ok.as_bytes()).is_ok());
        // A self-referencing dict (object 0 -> value 0).
        let mut b = b"bplist00".to_vec();
        b.extend_from_slice(&[0xd1, 0x01, 0x00, 0x51, b'a', 8, 11]);
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 1]);
        b.extend_from_slice(&2u64.to_be_bytes());
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend_from_slice(&13u64.to_be_bytes());
        assert!(parse(&b).unwrap_err().contains("cycle"), "{:?}", parse(&b));
    }
}
