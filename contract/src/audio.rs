//! Reading and writing the 24 kHz mono 16-bit WAV files of the contract.

use std::io::Cursor;
use std::path::Path;

use thiserror::Error;

use crate::SAMPLE_RATE;

/// Decoded PCM of a WAV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Bits per sample.
    pub bits_per_sample: u16,
    /// Interleaved samples.
    pub samples: Vec<i16>,
}

/// Why a WAV could not be read or written.
#[derive(Debug, Error)]
pub enum WavError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The bytes are not a WAV file, or the file ends early.
    #[error("{path} is not a readable WAV file: {source}")]
    Format {
        /// File path.
        path: String,
        /// Cause.
        source: hound::Error,
    },
    /// Not 16-bit integer PCM.
    #[error("{path}: expected 16-bit integer PCM, found {bits}-bit {format}")]
    SampleFormat {
        /// File path.
        path: String,
        /// Bits per sample found.
        bits: u16,
        /// `int` or `float`.
        format: &'static str,
    },
}

/// Reads a WAV file of 16-bit integer PCM.
pub fn read_wav(path: &Path) -> Result<Wav, WavError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WavError::Io {
        path: name.clone(),
        source,
    })?;
    decode(&bytes, &name)
}

/// Reads WAV bytes (for example an HTTP body) of 16-bit integer PCM.
pub fn read_wav_bytes(bytes: &[u8]) -> Result<Wav, WavError> {
    decode(bytes, "<bytes>")
}

fn decode(bytes: &[u8], name: &str) -> Result<Wav, WavError> {
    let format_err = |source| WavError::Format {
        path: name.to_string(),
        source,
    };
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(format_err)?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(WavError::SampleFormat {
            path: name.to_string(),
            bits: spec.bits_per_sample,
            format: match spec.sample_format {
                hound::SampleFormat::Int => "int",
                hound::SampleFormat::Float => "float",
            },
        });
    }
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(format_err)?;
    Ok(Wav {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        samples,
    })
}

/// Encodes mono 16-bit PCM at [`SAMPLE_RATE`] as WAV bytes.
pub fn write_wav_bytes(samples: &[i16]) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut out, spec).expect("in-memory WAV header");
        let mut w16 = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w16.write_sample(s);
        }
        w16.flush().expect("in-memory WAV samples");
        writer.finalize().expect("in-memory WAV finalize");
    }
    out.into_inner()
}

/// Writes mono 16-bit PCM at [`SAMPLE_RATE`] to a WAV file.
pub fn write_wav(path: &Path, samples: &[i16]) -> std::io::Result<()> {
    std::fs::write(path, write_wav_bytes(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let samples: Vec<i16> = (0..5000).map(|i| (i * 7 % 65536 - 32768) as i16).collect();
        let wav = read_wav_bytes(&write_wav_bytes(&samples)).unwrap();
        assert_eq!(wav.sample_rate, SAMPLE_RATE);
        assert_eq!(wav.channels, 1);
        assert_eq!(wav.samples, samples);
    }

    #[test]
    fn truncated_and_foreign_bytes_are_errors() {
        let bytes = write_wav_bytes(&[1, 2, 3, 4]);
        assert!(read_wav_bytes(&bytes[..bytes.len() - 3]).is_err());
        assert!(read_wav_bytes(b"not a wav at all").is_err());
    }
}
