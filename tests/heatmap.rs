//! `--heatmap` and `--svg`: the pictures lie about nothing. A child sleeps
//! 1 ms and 20 ms in alternating phases; the cells behind the picture equal
//! the log-linear histograms `--json` reports for the same run, the
//! percentile lines sit where the reported percentiles are, and every
//! sleep is counted.

use std::{collections::BTreeMap, path::Path, process::Command};

use serde_json::Value;
use toolkit_tests::{every, run_tool, scratch, sleep_ns, trace_forked};

const CYCLES: u64 = 2;
const FAST: u64 = 150;
const SLOW: u64 = 12;
const SLEEPS: u64 = CYCLES * (FAST + SLOW);

/// 1 ms sleeps, then 20 ms ones, twice over, then GETPPIDS getppid calls.
fn bimodal_then_getppid() {
    bimodal();
    toolkit_tests::getppids(GETPPIDS);
}

const GETPPIDS: u64 = 1009;

/// 1 ms sleeps, then 20 ms ones, twice over.
fn bimodal() {
    for _ in 0..CYCLES {
        for _ in 0..FAST {
            sleep_ns(1_000_000);
        }
        for _ in 0..SLOW {
            sleep_ns(20_000_000);
        }
    }
}

/// The figures the SVG carries in its `<metadata>`, from a parsed SVG.
fn svg_metadata(svg: &str) -> Value {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let meta = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("ebpf-toolkit-heatmap"))
        .expect("heatmap metadata");
    serde_json::from_str(meta.text().unwrap()).unwrap()
}

/// The pixels of `png` (RGB or RGBA, 8 bits), its width, height and
/// bytes per pixel.
fn decode_png(path: &Path) -> (Vec<u8>, usize, usize, usize) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "colour PNG: {:?}", info.color_type);
    buf.truncate(info.buffer_size());
    (buf, info.width as usize, info.height as usize, channels)
}

fn hex_rgb(hex: &str) -> [i32; 3] {
    let v = i32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    [v >> 16, (v >> 8) & 0xff, v & 0xff]
}

/// `--svg` beside `--json` on the same run: one panel per key (two
/// syscalls); per interval, each cell's count is the sum of the JSON
/// log-linear bins inside its bounds, and the counts add up to every call;
/// rendered by rsvg-convert, the picture is not blank and each percentile
/// line passes through the pixel of its reported value.
#[test]
fn svg_cells_and_lines_match_json() {
    let dir = scratch("svg");
    let svg_path = dir.join("syslat.svg");
    let svg_arg = svg_path.to_string_lossy().into_owned();
    let out = trace_forked(
        "syslat",
        bimodal_then_getppid,
        &[
            "-s",
            "clock_nanosleep,getppid",
            "--json",
            "--percentiles=10,50,90",
            "--svg",
            &svg_arg,
            "0.2",
        ],
    );
    let records: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let meta = svg_metadata(&svg);
    let panels = meta["panels"].as_array().unwrap();
    let keys: Vec<&str> = panels.iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["clock_nanosleep", "getppid"], "one panel per key");

    let png_path = dir.join("syslat.png");
    let status = Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png_path)
        .arg(&svg_path)
        .status()
        .expect("rsvg-convert (librsvg2-bin): run scripts/setup.sh");
    assert!(status.success());
    let (pixels, width, height, channels) = decode_png(&png_path);
    let pixel = |x: usize, y: usize| -> [i32; 3] {
        let i = (y * width + x) * channels;
        [pixels[i] as i32, pixels[i + 1] as i32, pixels[i + 2] as i32]
    };
    let coloured = (0..width * height)
        .filter(|i| pixel(i % width, i / width) != [255, 255, 255])
        .count();
    assert!(
        coloured * 20 > width * height,
        "the picture is nearly blank"
    );
    let lines: BTreeMap<String, [i32; 3]> = meta["lines"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, c)| (p.clone(), hex_rgb(c.as_str().unwrap())))
        .collect();

    // Log-linear samples the kernel could not record: a new key's
    // histogram is allocated on first use, and the allocation can fail.
    let lost: u64 = records
        .iter()
        .map(|r| {
            r["lost"]["no kernel memory for a new log-linear histogram"]
                .as_u64()
                .unwrap()
        })
        .sum();
    let mut missing = 0;
    for (panel, calls) in panels.iter().zip([SLEEPS, GETPPIDS]) {
        let key = panel["key"].as_str().unwrap();
        // This key's histogram in each interval.
        let all: Vec<&Value> = records
            .iter()
            .filter_map(|r| {
                r["histograms"]
                    .as_array()?
                    .iter()
                    .find(|h| h["key"]["syscall"] == key)
            })
            .collect();
        let total: u64 = all.iter().map(|h| h["count"].as_u64().unwrap()).sum();
        assert_eq!(total, calls, "{key}: {out}");
        // Those with log-linear samples: the picture's columns.
        let hists: Vec<&&Value> = all
            .iter()
            .filter(|h| h["loglinear"].as_array().is_some_and(|b| !b.is_empty()))
            .collect();
        let columns = panel["columns"].as_array().unwrap();
        assert_eq!(
            columns.len(),
            hists.len(),
            "{key}: a column per interval with samples"
        );
        let mut binned = 0;
        for (column, json) in columns.iter().zip(&hists) {
            let bins: Vec<(f64, u64)> = json["loglinear"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| (b["value"].as_f64().unwrap(), b["count"].as_u64().unwrap()))
                .collect();
            // The picture is drawn from the log-linear bins: per interval
            // their count can differ from the log2 histogram's by a sample
            // recorded in one and not yet in the other when the interval
            // closed (it is then in the next); over the run both are exact.
            let count: u64 = bins.iter().map(|b| b.1).sum();
            assert_eq!(column["count"].as_u64(), Some(count), "{key}");
            binned += count;
            let mut in_cells = 0;
            for cell in column["cells"].as_array().unwrap() {
                let (low, high) = (cell[0].as_f64().unwrap(), cell[1].as_f64().unwrap());
                let want: u64 = bins
                    .iter()
                    .filter(|(v, _)| low <= *v && *v < high)
                    .map(|b| b.1)
                    .sum();
                assert_eq!(
                    cell[2].as_u64().unwrap(),
                    want,
                    "{key}: cell [{low}, {high})"
                );
                in_cells += want;
            }
            assert_eq!(in_cells, count, "{key}: every bin in a cell");
            for p in ["p10", "p50", "p90"] {
                let (drawn, reported) = (
                    column["percentiles"][p].as_f64().unwrap(),
                    json["percentiles"][p].as_f64().unwrap(),
                );
                assert!(
                    (drawn - reported).abs() <= reported * 1e-9,
                    "{key} {p}: {drawn} vs {reported}"
                );
            }
        }
        missing += calls - binned;

        let plot: Vec<f64> = panel["plot"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let x_high = panel["x_range"][1].as_f64().unwrap();
        let (y_low, y_high) = (
            panel["y_range"][0].as_f64().unwrap().ln(),
            panel["y_range"][1].as_f64().unwrap().ln(),
        );
        let to_pixel = |t: f64, v: f64| -> (f64, f64) {
            let x = plot[0] + t / x_high * (plot[2] - plot[0]);
            let y = plot[3] - (v.ln() - y_low) / (y_high - y_low) * (plot[3] - plot[1]);
            (x, y)
        };
        for column in columns {
            let mid = (column["start"].as_f64().unwrap() + column["end"].as_f64().unwrap()) / 2.0;
            let at: BTreeMap<&String, (f64, f64)> = lines
                .keys()
                .map(|p| (p, to_pixel(mid, column["percentiles"][p].as_f64().unwrap())))
                .collect();
            for (p, &(x, y)) in &at {
                // Lines drawn over each other here (p10 = p50, say): any of
                // their colours will do.
                let colours: Vec<[i32; 3]> = at
                    .iter()
                    .filter(|(_, other)| (other.1 - y).abs() <= 3.0)
                    .map(|(q, _)| lines[*q])
                    .collect();
                // Within 4 pixels: a line's last point is where its stroke
                // ends (a butt cap), half a pixel from the end of its drawing.
                let found = (-4..=4).any(|dy: i32| {
                    (-4..=4).any(|dx: i32| {
                        let (px, py) = ((x as i32 + dx) as usize, (y as i32 + dy) as usize);
                        let c = pixel(px, py);
                        colours
                            .iter()
                            .any(|l| (0..3).map(|k| (c[k] - l[k]).abs()).sum::<i32>() < 90)
                    })
                });
                assert!(
                    found,
                    "{key}: {p} line not at ({x:.0}, {y:.0}) at t = {mid:.2} s"
                );
            }
        }
    }
    // Every call is in the picture, or counted as lost.
    assert_eq!(
        missing, lost,
        "calls missing from the picture, and lost: {out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--heatmap` into a pipe: plain characters only, a scale header, a
/// strip per interval whose counts add up to every sleep, and cells only
/// at 1 ms and above (a sleep never ends early), with both modes shown.
#[test]
fn terminal_heatmap_counts_every_sleep() {
    let out = trace_forked(
        "syslat",
        bimodal,
        &["-s", "clock_nanosleep", "--heatmap", "0.2"],
    );
    assert!(!out.contains('\x1b'), "no escapes into a pipe: {out:?}");
    let strip_of = |line: &str| line.split('|').nth(1).unwrap_or("").to_string();
    // Each row is read against the scale header above it: the header is
    // printed again when the range grows (the first interval can hold only
    // the 1 ms sleeps, a scale with no 10ms label).
    let mut scale: Option<(String, usize, Option<usize>)> = None;
    let mut total = 0;
    let (mut fast, mut slow) = (false, false);
    for line in out.lines() {
        if line.starts_with("TIME") {
            let strip = strip_of(line);
            let one_ms = strip
                .find("1ms")
                .unwrap_or_else(|| panic!("no 1ms label: {out}"));
            scale = Some((line.to_string(), one_ms, strip.find("10ms")));
            continue;
        }
        if !line.contains(" clock_nanosleep ") {
            continue;
        }
        let (header, one_ms, ten_ms) = scale
            .as_ref()
            .unwrap_or_else(|| panic!("a row before any scale header: {out}"));
        let strip = strip_of(line);
        assert!(strip.bytes().all(|b| b" .:-=+*#%@".contains(&b)), "{line}");
        for (i, _) in strip.char_indices().filter(|(_, c)| *c != ' ') {
            assert!(i >= *one_ms, "a cell under 1 ms: {line}\n{header}");
            fast |= ten_ms.is_none_or(|t| i < t);
            slow |= ten_ms.is_some_and(|t| i >= t);
        }
        total += line
            .rsplit('|')
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    assert_eq!(total, SLEEPS, "{out}");
    assert!(fast && slow, "both modes: {out}");
}

/// Colour only when forced or on a terminal (a pseudo-terminal from
/// script(1)), and never with NO_COLOR.
#[test]
fn colour_only_when_forced_or_on_a_terminal() {
    let tool = toolkit_tests::tool_path("syslat");
    let tool = tool.to_string_lossy();
    let on_tty = |env: &str| -> String {
        let out = Command::new("script")
            .args([
                "-qec",
                &format!("{env} {tool} --heatmap 0.1 1"),
                "/dev/null",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tty = on_tty("env -u NO_COLOR");
    let no_color = on_tty("env NO_COLOR=1");
    let never = run_tool("syslat", &["--heatmap", "--color", "never", "0.1", "1"]);
    let always = run_tool("syslat", &["--heatmap", "--color", "always", "0.1", "1"]);
    assert!(always.stdout.contains("\x1b[48;"), "{:?}", always.stdout);
    assert!(tty.contains("\x1b[48;"), "{tty:?}");
    assert!(!no_color.contains('\x1b'), "{no_color:?}");
    assert!(!never.stdout.contains('\x1b'), "{:?}", never.stdout);
}

/// Every histogram tool takes `--heatmap` and `--svg`; without an interval,
/// or with `--json`, `--heatmap` is a usage error; an `--svg` path that is
/// a directory is one line, exit 1, before anything is loaded.
#[test]
fn every_histogram_tool_draws() {
    let dir = scratch("tools");
    for tool in [
        "biolatency",
        "runqlat",
        "syslat",
        "memlat",
        "tcprtt",
        "softirqs",
    ] {
        let svg = dir.join(format!("{tool}.svg"));
        let svg = svg.to_string_lossy().into_owned();
        let mut args = vec!["--heatmap", "--svg", svg.as_str()];
        args.extend(every(tool, "0.1"));
        args.extend(if tool == "tcprtt" {
            vec!["-d", "0.2"]
        } else {
            vec!["2"]
        });
        let out = run_tool(tool, &args);
        assert!(out.status.success(), "{tool}: {out:?}");
        assert!(out.stdout.contains("TIME"), "{tool}: {}", out.stdout);
        let meta = svg_metadata(&std::fs::read_to_string(&svg).unwrap());
        assert!(meta["panels"].is_array(), "{tool}");

        for bad in [
            &["--heatmap"][..],
            &["--heatmap", "--json", "1"],
            &["--svg", "x.svg"],
        ] {
            let out = run_tool(tool, bad);
            assert_eq!(out.status.code(), Some(2), "{tool} {bad:?}: {out:?}");
        }
        let dir_arg = dir.to_string_lossy().into_owned();
        let mut args = vec!["--svg", dir_arg.as_str()];
        args.extend(every(tool, "0.1"));
        let out = run_tool(tool, &args);
        assert_eq!(out.status.code(), Some(1), "{tool}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{tool}: {}", out.stderr);
        assert!(
            out.stderr.contains("not a regular file"),
            "{tool}: {}",
            out.stderr
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
