//! A trace file; with `--follow`, a file still being written (like `tail -f`).

use super::{idle, Source, IDLE_POLL};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Reads a file from the start.
pub struct FileSource {
    file: Box<dyn Read + Send>,
    name: String,
    len: Option<u64>,
    follow: bool,
}

impl FileSource {
    /// Opens `path`; with `follow`, the end of the file is not the end of the stream.
    pub fn open(path: &Path, follow: bool) -> io::Result<Self> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::other("is a directory"));
        }
        let len = (meta.is_file() && !follow).then_some(meta.len());
        Ok(FileSource { file: Box::new(file), name: path.display().to_string(), len, follow })
    }

    /// Opens bytes `start..end` of `path` (one node of a merged stream).
    pub fn open_section(path: &Path, (start, end): (u64, u64)) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(start))?;
        let len = end.saturating_sub(start);
        let name = format!("{} (bytes {start}..{end})", path.display());
        Ok(FileSource { file: Box::new(file.take(len)), name, len: Some(len), follow: false })
    }
}

impl Source for FileSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf)? {
            0 if self.follow => {
                std::thread::sleep(IDLE_POLL);
                Err(idle())
            }
            n => Ok(n),
        }
    }

    fn len(&self) -> Option<u64> {
        self.len
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
