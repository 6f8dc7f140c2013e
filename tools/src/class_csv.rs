//! Prediction and truth tables as CSV: a header with a `name` column and one
//! column per class, named by its official name (any column order; extra
//! columns ignored), one row per patch. The one reader and validation of
//! `bemm eval` and `bemm fuse`: every value is a probability in [0, 1] (or
//! 0/1 for a truth table), every error names file, line and column.

use anyhow::{bail, Context};
use bemm_formats::labels::{CLASS_NAMES, NUM_CLASSES};
use std::collections::HashMap;
use std::path::Path;

/// Refuse a decision threshold outside [0, 1] (`--threshold`).
pub fn check_threshold(threshold: f32) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&threshold) {
        bail!("--threshold {threshold}: expected a probability in [0, 1] (usually 0.5)");
    }
    Ok(())
}

/// Minimal RFC 4180 CSV reading: quoted fields, `""` escapes, CRLF or LF.
pub mod csv {
    use anyhow::bail;

    /// Records with their 1-based starting line numbers.
    pub fn parse(text: &str, file: &str) -> anyhow::Result<Vec<(usize, Vec<String>)>> {
        let mut out = Vec::new();
        let mut rec: Vec<String> = Vec::new();
        let mut field = String::new();
        let (mut line, mut rec_line) = (1usize, 1usize);
        let mut chars = text.strip_prefix('\u{feff}').unwrap_or(text).chars().peekable();
        let mut quoted = false;
        let mut any = false;
        while let Some(c) = chars.next() {
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() => {
                    quoted = true;
                    any = true;
                }
                '"' => bail!("{file}: line {line}: a quote inside an unquoted field (quote the whole field and double inner quotes)"),
                ',' => {
                    rec.push(std::mem::take(&mut field));
                    any = true;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    if any || !field.is_empty() {
                        rec.push(std::mem::take(&mut field));
                        out.push((rec_line, std::mem::take(&mut rec)));
                    }
                    any = false;
                    line += 1;
                    rec_line = line;
                }
                _ => {
                    field.push(c);
                    any = true;
                }
            }
        }
        if quoted {
            bail!("{file}: line {rec_line}: a quoted field is not closed before the end of the file");
        }
        if any || !field.is_empty() {
            rec.push(field);
            out.push((rec_line, rec));
        }
        Ok(out)
    }
}

/// One CSV table keyed by name: per-name class values in official order.
pub struct ClassTable {
    /// (name, values in the official class order), in file order.
    pub rows: Vec<(String, [f32; NUM_CLASSES])>,
}

/// Read a `name` + class-columns CSV. `binary`: values must be 0 or 1;
/// otherwise probabilities in [0, 1]. Names must be unique and non-empty.
pub fn read_class_csv(path: &Path, binary: bool) -> anyhow::Result<ClassTable> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("{file}: cannot read"))?;
    let recs = csv::parse(&text, &file)?;
    let Some(((_, header), body)) = recs.split_first() else {
        bail!("{file}: empty file; expected a header `name,<19 class names>`")
    };
    let name_col = header.iter().position(|h| h.trim().eq_ignore_ascii_case("name")).with_context(|| {
        format!("{file}: header has no `name` column (found {:?})", header.first().map(String::as_str).unwrap_or(""))
    })?;
    let mut cols = [0usize; NUM_CLASSES];
    let mut missing = Vec::new();
    for (c, class) in CLASS_NAMES.iter().enumerate() {
        match header.iter().position(|h| h.trim() == *class) {
            Some(i) => cols[c] = i,
            None => missing.push(*class),
        }
    }
    if !missing.is_empty() {
        bail!("{file}: header lacks the class column(s) {missing:?}; expected `name` and the 19 official class names (quoted where they hold commas)");
    }
    let mut rows = Vec::with_capacity(body.len());
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(body.len());
    for (line, rec) in body {
        if rec.len() < header.len() {
            bail!("{file}: line {line}: {} fields, the header has {}", rec.len(), header.len());
        }
        let name = rec[name_col].trim().to_string();
        if name.is_empty() {
            bail!("{file}: line {line}: empty name");
        }
        if let Some(prev) = seen.insert(name.clone(), *line) {
            bail!("{file}: line {line}: name {name:?} already appears on line {prev}");
        }
        let mut v = [0f32; NUM_CLASSES];
        for (c, &i) in cols.iter().enumerate() {
            let s = rec[i].trim();
            let x: f32 = s.parse().ok().filter(|x: &f32| x.is_finite()).with_context(|| {
                format!(
                    "{file}: line {line}, column {:?}: {s:?} is not a number{}",
                    CLASS_NAMES[c],
                    if binary { " (expected 0 or 1)" } else { " (expected a probability)" }
                )
            })?;
            if binary && x != 0.0 && x != 1.0 {
                bail!("{file}: line {line}, column {:?}: {s:?}, expected 0 or 1", CLASS_NAMES[c]);
            }
            if !(0.0..=1.0).contains(&x) {
                bail!(
                    "{file}: line {line}, column {:?}: {s:?} is not a probability in [0, 1]{}",
                    CLASS_NAMES[c],
                    if x > 1.0 && x <= 100.0 { " (percent? divide by 100)" } else { "" }
                );
            }
            v[c] = x;
        }
        rows.push((name, v));
    }
    Ok(ClassTable { rows })
}

#[cfg(test)]
mod tests {
    use super::csv::parse;

    #[test]
    fn csv_quotes_escapes_and_line_endings() {
        let t = "name,\"a, b\",c\r\nx,\"1\"\"2\",3\n\n\"multi\nline\",4,5";
        let r = parse(t, "t.csv").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], (1, vec!["name".to_string(), "a, b".into(), "c".into()]));
        assert_eq!(r[1].1, vec!["x".to_string(), "1\"2".into(), "3".into()]);
        assert_eq!(r[2], (4, vec!["multi\nline".to_string(), "4".into(), "5".into()]));
        assert!(parse("a,\"b", "t.csv").unwrap_err().to_string().contains("not closed"));
        assert!(parse("a,b\"c", "t.csv").unwrap_err().to_string().contains("line 1"));
    }
}
