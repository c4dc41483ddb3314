//! The SVG recorder's tests: bounded columns and keys, and the busiest
//! panels drawn.

use toolkit_core::loglinear::loglinear_bin;

use super::*;

fn hist(value: u64, count: u64) -> LlHist {
    let mut hist = LlHist::ZERO;
    hist.bins[loglinear_bin(value)] = count;
    hist.count = count;
    hist.min = value;
    hist.max = value;
    hist
}

/// A long run at a short interval: the columns stay bounded, merged in
/// pairs, and the picture still holds every sample, in columns that
/// cover the whole run; keys past the kept ones are pruned, counted.
#[test]
fn long_runs_keep_bounded_columns_and_every_sample() {
    let dir = std::env::temp_dir().join(format!("svg-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("long.svg");
    let mut svg = SvgRecorder::new("t", &path, "t".into(), vec![50.0]).unwrap();
    let (fast, slow) = (hist(1_000, 3), hist(20_000_000, 1));
    let intervals = 30_000;
    for i in 0..intervals {
        let end = f64::from(i + 1) * 0.001;
        let mut rows = vec![("getppid".to_string(), Some(&fast))];
        if i % 1000 == 0 {
            rows.push(("slow".to_string(), Some(&slow)));
        }
        svg.record_until(end, rows);
        assert!(svg.columns.len() < MAX_COLUMNS, "interval {i}");
    }
    assert!(svg.columns.len() >= MAX_COLUMNS / 2);
    let count = |key: usize| -> u64 {
        svg.columns
            .iter()
            .filter_map(|c| c.samples.get(&key))
            .map(|s| s.count)
            .sum()
    };
    assert_eq!(count(0), 3 * 30_000);
    assert_eq!(count(1), 30);
    assert_eq!(svg.columns[0].start, 0.0);
    assert!((svg.columns.last().unwrap().end - 30.0).abs() < 1e-9);
    for pair in svg.columns.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    // More keys than are kept: the least busy are pruned at a merge.
    for i in 0..MAX_COLUMNS {
        let rows: Vec<(String, LlHist)> = (0..MAX_KEPT_KEYS as u64 + 5)
            .map(|k| (format!("k{k}"), hist(1_000, k + 1)))
            .collect();
        svg.record_until(
            31.0 + i as f64,
            rows.iter().map(|(k, h)| (k.clone(), Some(h))),
        );
    }
    let pruned = svg.keys.iter().filter(|k| k.pruned).count();
    assert_eq!(svg.keys.len(), 2 + MAX_KEPT_KEYS + 5);
    assert_eq!(pruned, 7, "the 7 least busy of the {} keys", svg.keys.len());
    assert!(svg.keys[0].total > 0 && !svg.keys[0].pruned);
    svg.finish().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Many keys: the picture keeps the ones with the most samples, says
/// so in its title, and counts them all in its metadata.
#[test]
fn many_keys_draw_the_busiest_panels() {
    let dir = std::env::temp_dir().join(format!("svg-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("many.svg");
    let mut svg = SvgRecorder::new("t", &path, "t on host".into(), vec![50.0]).unwrap();
    let hists: Vec<(String, LlHist)> = (0..20u64)
        .map(|k| (format!("key{k}"), hist(1_000 * (k + 1), k + 1)))
        .collect();
    svg.record(hists.iter().map(|(k, h)| (k.clone(), Some(h))));
    svg.finish().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("12 of 20 keys"), "title");
    let start = text.find("<metadata").unwrap();
    let json =
        &text[text[start..].find('>').unwrap() + start + 1..text.find("</metadata>").unwrap()];
    let meta: Value = serde_json::from_str(
        &json
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
    .unwrap();
    assert_eq!(meta["keys"], 20);
    let panels: Vec<&str> = meta["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    let busiest: Vec<String> = (8..20).map(|k| format!("key{k}")).collect();
    assert_eq!(panels, busiest);
    std::fs::remove_dir_all(&dir).unwrap();
}
