//! The main job (`bemm demo`), reduced: a small twin, the tiny network, two
//! epochs. Checks that every artefact the README promises exists and that the
//! report's figures are present and sane.

use std::path::Path;

fn number_cells(line: &str) -> Vec<f64> {
    line.split('|').filter_map(|c| c.trim().trim_matches('*').parse::<f64>().ok()).collect()
}

/// The first table row after `heading` (skipping the header and separator rows).
fn first_row<'a>(report: &'a str, heading: &str) -> &'a str {
    let at = report.find(heading).unwrap_or_else(|| panic!("report lacks {heading:?}:\n{report}"));
    report[at..].lines().filter(|l| l.starts_with('|')).nth(2).unwrap_or_else(|| panic!("no table under {heading:?}"))
}

fn assert_file(p: &Path, starts: &[u8]) {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(bytes.len() > 100 && bytes.starts_with(starts), "{} is not a real file of its kind", p.display());
}

#[test]
fn reduced_demo_writes_a_sane_report() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("demo");
    let o = out.to_str().expect("utf-8 path");
    bemm_tools::cli::run_args([
        "demo",
        "--out",
        o,
        "--pairs",
        "240",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--k",
        "5",
    ])
    .expect("demo runs");

    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    for section in
        ["## Data", "## Training", "## Test-split classification", "## Retrieval", "## Example query", "## Timings"]
    {
        assert!(report.contains(section), "missing {section}");
    }
    // Every picture the report embeds exists and is a real SVG/PNG.
    for (link, magic) in [
        ("run/loss.svg", &b"<svg"[..]),
        ("run/scores.svg", b"<svg"),
        ("per_class_f2.svg", b"<svg"),
        ("example_query.png", b"\x89PNG"),
    ] {
        assert!(report.contains(&format!("]({link})")), "report does not embed {link}");
        let p = out.join(link);
        let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(400)]).to_string();
        assert!(bytes.starts_with(magic) || head.contains("<svg"), "{link} is not a picture");
    }
    assert_file(&out.join("model.bemm"), b"BEMMODEL");
    assert_file(&out.join("features.bemf"), b"BEMFEATS");

    // Data: the three splits, adding up to at most the pairs made.
    let data: Vec<u64> = ["train", "validation", "test"]
        .iter()
        .map(|s| {
            let line =
                report.lines().find(|l| l.starts_with(&format!("| {s} |"))).unwrap_or_else(|| panic!("no {s} row"));
            number_cells(line)[0] as u64
        })
        .collect();
    assert!(data.iter().all(|n| *n > 0) && data.iter().sum::<u64>() <= 240, "{data:?}");

    // Classification: patches = test split, HL in [0, 1], percentages in [0, 100].
    let cls = number_cells(first_row(&report, "## Test-split classification"));
    assert_eq!(cls.len(), 8, "{cls:?}");
    assert_eq!(cls[0] as u64, data[2], "evaluated patches = test split");
    assert!((0.0..=1.0).contains(&cls[1]), "Hamming loss {}", cls[1]);
    assert!(cls[2..].iter().all(|p| (0.0..=100.0).contains(p)), "{cls:?}");
    // Two epochs already beat a model that predicts nothing (F2 = 0).
    assert!(cls[6] > 10.0, "sample F2 {} after two epochs", cls[6]);

    // Retrieval at k = 10 and 100, all figures percentages.
    let ret = number_cells(first_row(&report, "## Retrieval"));
    assert_eq!(ret[0], 10.0);
    assert!(ret[1..].iter().all(|p| (0.0..=100.0).contains(p)), "{ret:?}");

    // The example query lists k = 5 results, ranks 1..5, distances ascending.
    let at = report.find("## Example query").expect("section");
    let rows: Vec<&str> = report[at..].lines().filter(|l| l.starts_with("| ") && l.contains('`')).collect();
    assert_eq!(rows.len(), 5, "{rows:?}");
    let dists: Vec<f64> = rows.iter().map(|r| number_cells(r)[1]).collect();
    assert!(dists.windows(2).all(|w| w[0] <= w[1]), "distances not ascending: {dists:?}");
}
