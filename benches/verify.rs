//! How long the verifier's checks take on long audio (90 minutes by default).
//!
//! `cargo bench -p takeover --bench verify [-- MINUTES]`: prints the figures;
//! the audio is built first and not timed.

fn main() {
    let minutes = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(90.0);
    let figures = takeover::verify::bench::run(minutes);
    println!("{figures}");
}
