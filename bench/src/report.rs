//! The result of a run: ordered fields, printed for people or as one flat JSON line.

use std::fmt::Write;

#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug, Default)]
pub struct Report {
    fields: Vec<(&'static str, Value)>,
}

impl Report {
    pub fn int(&mut self, key: &'static str, value: impl TryInto<i64>) {
        self.fields.push((key, Value::Int(value.try_into().unwrap_or(i64::MAX))));
    }

    pub fn float(&mut self, key: &'static str, value: f64) {
        self.fields.push((key, Value::Float(value)));
    }

    pub fn text(&mut self, key: &'static str, value: impl Into<String>) {
        self.fields.push((key, Value::Text(value.into())));
    }

    /// An optional number: absent values are left out.
    pub fn maybe(&mut self, key: &'static str, value: Option<f64>) {
        if let Some(v) = value {
            self.float(key, v);
        }
    }

    /// One line of JSON with no nesting, so that a shell script can pick fields out of it.
    pub fn json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{key}\":");
            match value {
                Value::Int(v) => {
                    let _ = write!(out, "{v}");
                }
                Value::Float(v) if v.is_finite() => {
                    let _ = write!(out, "{}", round(*v));
                }
                Value::Float(_) => out.push_str("null"),
                Value::Text(s) => {
                    out.push('"');
                    for c in s.chars() {
                        match c {
                            '"' => out.push_str("\\\""),
                            '\\' => out.push_str("\\\\"),
                            c if (c as u32) < 0x20 => {
                                let _ = write!(out, "\\u{:04x}", c as u32);
                            }
                            c => out.push(c),
                        }
                    }
                    out.push('"');
                }
            }
        }
        out.push('}');
        out
    }

    /// `key  value` lines.
    pub fn human(&self) -> String {
        let width = self.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in &self.fields {
            let value = match value {
                Value::Int(v) => v.to_string(),
                Value::Float(v) => round(*v).to_string(),
                Value::Text(s) => s.clone(),
            };
            let _ = writeln!(out, "{key:width$}  {value}");
        }
        out
    }
}

/// Four significant decimals are plenty for any figure here.
fn round(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let digits = 4 - v.abs().log10().floor() as i32 - 1;
    let scale = 10f64.powi(digits.clamp(0, 9));
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_json() {
        let mut r = Report::default();
        r.text("mode", "chat");
        r.int("n", 3);
        r.float("p99_ms", 1.234_56);
        r.float("bad", f64::NAN);
        r.text("err", "a \"b\"\n");
        assert_eq!(
            r.json(),
            r#"{"mode":"chat","n":3,"p99_ms":1.235,"bad":null,"err":"a \"b\"\u000a"}"#
        );
    }
}
