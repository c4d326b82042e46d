//! The HTML report in a real browser: headless Chromium renders report.html
//! (re-rendered from the recorded report.json), and the test checks that the
//! page is not empty, that the charts' SVG elements are in the DOM, that the
//! screenshot shows the chart drawn (failed-probe red and good-probe green
//! below the header), and that the browser logged no script error.
//! Chromium is required: CI installs Debian's `chromium` package.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 2000;

fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("TAKEOVER_CHROMIUM") {
        return PathBuf::from(path);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new("which").arg(name).output();
        if let Ok(out) = found {
            if out.status.success() {
                return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            }
        }
    }
    panic!(
        "headless Chromium is needed to check report.html in a browser: install it \
         (`apt-get install chromium` on Debian; .ci/run does) or point TAKEOVER_CHROMIUM at it"
    );
}

/// What a browser run printed.
struct Printed {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs a command with a deadline, killing it when it overruns. Its output
/// goes to files (a page's DOM is larger than a pipe's buffer).
fn run_with_deadline(command: &mut Command, out_dir: &Path, limit: Duration) -> Printed {
    let (out_path, err_path) = (out_dir.join("stdout.txt"), out_dir.join("stderr.txt"));
    let mut child = command
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            panic!(
                "chromium ran past {limit:?}; stderr: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Printed {
        success: status.success(),
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

fn browser(profile: &Path, args: &[String]) -> Printed {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .env("HOME", profile);
    let out_dir = profile.with_extension("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    run_with_deadline(&mut command, &out_dir, Duration::from_secs(120))
}

/// A 16-bit mono 24 kHz WAV: two harmonics, long enough to hold the fixture's seam.
fn write_audio(path: &Path, samples: usize) {
    let mut bytes = Vec::with_capacity(44 + samples * 2);
    let data_len = (samples * 2) as u32;
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&24_000u32.to_le_bytes());
    bytes.extend_from_slice(&48_000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = i as f64 / 24_000.0;
        let v = (t * std::f64::consts::TAU * 140.0).sin() * 6000.0
            + (t * std::f64::consts::TAU * 420.0).sin() * 2000.0;
        bytes.extend_from_slice(&(v as i16).to_le_bytes());
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A decoded 8-bit RGB(A) PNG as RGB rows.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

fn decode_png(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut pos, mut width, mut height, mut channels) = (8, 0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    while pos + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &bytes[pos + 4..pos + 8];
        let data = &bytes[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "only 8-bit PNGs are read here");
                assert_eq!(data[12], 0, "interlaced PNGs are not read here");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("PNG colour type {other} is not read here"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    let mut previous = vec![0u8; stride];
    let mut rgb = Vec::with_capacity(width * height);
    for row in 0..height {
        let start = row * (stride + 1);
        let filter = raw[start];
        let mut line = raw[start + 1..start + 1 + stride].to_vec();
        for i in 0..stride {
            let a = if i >= channels {
                line[i - channels] as i16
            } else {
                0
            };
            let b = previous[i] as i16;
            let c = if i >= channels {
                previous[i - channels] as i16
            } else {
                0
            };
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let p = a + b - c;
                    let (pa, pb, pc) = ((p - a).abs(), (p - b).abs(), (p - c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                other => panic!("bad PNG filter {other}"),
            };
            line[i] = line[i].wrapping_add(add as u8);
        }
        for px in line.chunks(channels) {
            rgb.push([px[0], px[1], px[2]]);
        }
        previous = line;
    }
    Image { width, height, rgb }
}

fn near(px: [u8; 3], color: [u8; 3]) -> bool {
    px.iter()
        .zip(color)
        .all(|(a, b)| (*a as i16 - b as i16).abs() <= 12)
}

#[test]
fn the_html_report_draws_its_charts_in_headless_chromium() {
    let dir = std::env::temp_dir().join(format!("takeover-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-oom-kill/report.json");
    std::fs::copy(&fixture, dir.join("report.json")).unwrap();
    // The kept audio of iteration 1 (the fixture lists iteration-1/audio.wav), for the seam picture.
    write_audio(&dir.join("iteration-1/audio.wav"), 160_000);
    let out = Command::new(env!("CARGO_BIN_EXE_takeover"))
        .args(["report", dir.to_str().unwrap(), "--format", "html"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("report.html");
    let url = format!("file://{}", page.display());
    let profile = dir.join("profile");

    // The DOM as the browser built it: the charts' SVG elements are there.
    let dom = browser(&profile, &["--dump-dom".into(), url.clone()]);
    let dom_text = &dom.stdout;
    assert!(dom.success, "{}", dom.stderr);
    assert_eq!(
        dom_text
            .matches("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\"")
            .count(),
        6
    );
    assert_eq!(
        dom_text.matches("class=\"waveform\"").count(),
        1,
        "one seam picture (iteration 1 kept its audio)"
    );
    assert!(
        dom_text.matches("<circle").count() > 100,
        "the zoomed charts draw each probe"
    );
    assert!(dom_text.contains("class=\"job-progress\""));

    // The screenshot: not a blank page, and the first chart is drawn.
    let shot = dir.join("screenshot.png");
    let taken = browser(
        &profile,
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size={WIDTH},{HEIGHT}"),
            url,
        ],
    );
    let log = taken.stderr.clone() + &dom.stderr;
    assert!(taken.success, "{log}");
    for bad in ["Uncaught", ":CONSOLE", "SyntaxError", "ReferenceError"] {
        assert!(
            !log.contains(bad),
            "the browser logged a script error ({bad}):\n{log}"
        );
    }
    let image = decode_png(&std::fs::read(&shot).unwrap());
    assert_eq!(
        (image.width, image.height),
        (WIDTH as usize, HEIGHT as usize)
    );
    let background = [0xfa, 0xfa, 0xfa];
    // Below the green header (about 180 px) only the content draws.
    let body = &image.rgb[200 * image.width..];
    let non_background = body
        .iter()
        .filter(|px| !near(**px, background) && !near(**px, [255, 255, 255]))
        .count();
    assert!(
        non_background > body.len() / 50,
        "the page looks empty: {non_background} drawn pixels"
    );
    let failed_red = body
        .iter()
        .filter(|px| near(**px, [0xc6, 0x28, 0x28]))
        .count();
    let good_green = body
        .iter()
        .filter(|px| near(**px, [0x2e, 0x7d, 0x32]))
        .count();
    assert!(
        failed_red > 400,
        "no failed probes or mark-down drawn: {failed_red} red pixels"
    );
    assert!(
        good_green > 4_000,
        "no good probes drawn: {good_green} green pixels"
    );
    // Keep the screenshot for a person to look at when asked.
    if let Ok(keep) = std::env::var("TAKEOVER_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
