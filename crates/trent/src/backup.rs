//! `trent backup` and `trent restore`: all of one store in a file that restores into either store
//! type.
//!
//! Key material stays wrapped under the root key exactly as stored, so a backup is no secret
//! without the root key — and useless without it: the root key file must be kept (and backed up)
//! separately, and the restored store served with the same one.
//!
//! The file is JSON Lines: a header `{"trent_backup":1,"created_ms":…,"schema":…}`, one line per
//! key, alias and grant (`{"kind":"key","account":…,"region":…,"record":{…}}`, see
//! [`Exported`]), and a last line `{"kind":"end","records":N}`, without which a file cut short
//! would restore only part of the store.

use crate::store::{Exported, StoreError};
use crate::Settings;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The version of the file format this Trent writes and reads.
pub const FORMAT: u64 = 1;

/// The first line of a backup file.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub trent_backup: u64,
    pub created_ms: i64,
    /// The store the backup was taken from and its schema version (`sqlite`, `postgres/3`); for
    /// information only, since the records read into either store.
    pub schema: String,
}

/// The last line of a backup file.
#[derive(Serialize, Deserialize)]
struct End {
    kind: String,
    records: usize,
}

/// Writes a backup file of `records`.
pub fn write(mut out: impl Write, header: &Header, records: &[Exported]) -> std::io::Result<()> {
    serde_json::to_writer(&mut out, header)?;
    out.write_all(b"\n")?;
    for record in records {
        serde_json::to_writer(&mut out, record)?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(&mut out, &End { kind: "end".into(), records: records.len() })?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Reads a backup file, or says what is wrong with it.
pub fn read(input: impl BufRead) -> Result<(Header, Vec<Exported>), String> {
    let mut lines = input.lines().zip(1..);
    let first = match lines.next() {
        Some((line, _)) => line.map_err(|e| format!("cannot read it: {e}"))?,
        None => return Err("the file is empty, not a Trent backup".into()),
    };
    let header: Header = serde_json::from_str(&first).map_err(|_| "not a Trent backup: its first line is no trent_backup header".to_owned())?;
    if header.trent_backup != FORMAT {
        return Err(format!("backup format version {} is not supported; this Trent reads version {FORMAT}", header.trent_backup));
    }
    let mut records = Vec::new();
    let mut end = None;
    for (line, number) in lines {
        let line = line.map_err(|e| format!("cannot read line {number}: {e}"))?;
        if end.is_some() {
            return Err(format!("line {number}: there is more after the end line"));
        }
        match serde_json::from_str::<Exported>(&line) {
            Ok(record) => records.push(record),
            Err(error) => match serde_json::from_str::<End>(&line) {
                Ok(last) if last.kind == "end" => end = Some(last.records),
                _ => return Err(format!("line {number} is not a key, alias, grant or end line: {error}")),
            },
        }
    }
    match end {
        Some(count) if count == records.len() => Ok((header, records)),
        Some(count) => Err(format!("the end line counts {count} records, but the file holds {}", records.len())),
        None => Err("the file has no end line: it was cut short".into()),
    }
}

/// `trent backup`: exports the store the settings name into `output` (`-`: standard output).
pub async fn backup(settings: Settings, output: &str) -> Result<(), String> {
    let (data_dir, url) = settings.store_location(&settings.load_config()?);
    let database = crate::embedded_database(&data_dir);
    if url.is_none() && !database.exists() {
        // Opening would create an empty store, whose backup is no use to anyone.
        return Err(format!("there is no store to back up in {} (no {}); give --data-dir DIR or --store URL", data_dir.display(), database.display()));
    }
    let store = crate::open_store(url.as_deref(), &data_dir).await?;
    let records = store.export().await.map_err(explain)?;
    let schema = match url {
        Some(_) => format!("postgres/{}", crate::store::POSTGRES_SCHEMA_VERSION),
        None => "sqlite".to_owned(),
    };
    let header = Header { trent_backup: FORMAT, created_ms: trent_model::Timestamp::now().0, schema };
    if output == "-" {
        write(std::io::stdout().lock(), &header, &records).map_err(|e| format!("cannot write the backup: {e}"))?;
    } else {
        write_atomically(Path::new(output), |out| write(out, &header, &records))?;
    }
    eprintln!("backed up {} to {output}", summary(&records));
    eprintln!("the key material in it is wrapped under the store's root key, which you must keep (and back up) separately");
    Ok(())
}

/// `trent restore`: loads the backup `input` (`-`: standard input) into the store the settings
/// name, which must be empty.
pub async fn restore(settings: Settings, input: &str) -> Result<(), String> {
    let parsed = match input {
        "-" => read(std::io::stdin().lock()),
        path => read(BufReader::new(File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?)),
    };
    let (header, records) = parsed.map_err(|e| format!("{input}: {e}"))?;
    let (data_dir, url) = settings.store_location(&settings.load_config()?);
    if url.is_none() {
        crate::data_dir::prepare(&data_dir)?;
    }
    let store = crate::open_store(url.as_deref(), &data_dir).await?;
    let restored = summary(&records);
    store.load(records).await.map_err(explain)?;
    eprintln!("restored {restored} from a backup of a {} store (created_ms {})", header.schema, header.created_ms);
    eprintln!(
        "serve this store with the root key of the store backed up (--root-key, or root.key in the data directory): \
         the keys are wrapped under it"
    );
    Ok(())
}

/// Writes `path` through a temporary file (mode 0600) in its directory, renamed over it once
/// complete and on disk, so that `path` never holds part of a backup.
fn write_atomically(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<(), String> {
    let name = path.file_name().ok_or_else(|| format!("{} is not a file name", path.display()))?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
        let mut out = BufWriter::new(file);
        fill(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn summary(records: &[Exported]) -> String {
    let count = |kind: fn(&Exported) -> bool| records.iter().filter(|r| kind(r)).count();
    let keys = count(|r| matches!(r, Exported::Key { .. }));
    let aliases = count(|r| matches!(r, Exported::Alias { .. }));
    let grants = count(|r| matches!(r, Exported::Grant { .. }));
    format!("{keys} keys, {aliases} aliases and {grants} grants")
}

fn explain(error: StoreError) -> String {
    match error {
        StoreError::NotEmpty => "the store to restore into is not empty: restore into a new data directory or an empty database".into(),
        StoreError::Conflict => "the backup holds the same key, alias or grant twice; nothing was restored".into(),
        StoreError::Backend(message) | StoreError::Unavailable(message) => message,
        StoreError::Unrepresentable => "the backup holds a NUL character (U+0000), which PostgreSQL cannot store".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AliasRecord, Scope};

    fn alias(name: &str) -> Exported {
        let scope = Scope { account: "111122223333".into(), region: "eu-west-1".into() };
        Exported::Alias { scope, record: AliasRecord { name: name.into(), key_id: "k".into(), created_ms: 1, updated_ms: 2 } }
    }

    fn file(records: &[Exported]) -> String {
        let header = Header { trent_backup: FORMAT, created_ms: 5, schema: "sqlite".into() };
        let mut out = Vec::new();
        write(&mut out, &header, records).expect("write");
        String::from_utf8(out).expect("UTF-8")
    }

    fn error(text: &str) -> String {
        match read(text.as_bytes()) {
            Ok(_) => panic!("read a malformed backup: {text}"),
            Err(message) => message,
        }
    }

    #[test]
    fn a_backup_reads_back() {
        let text = file(&[alias("alias/a"), alias("alias/b")]);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(r#"{"trent_backup":1,"created_ms":5,"schema":"sqlite"}"#));
        assert_eq!(
            lines.next(),
            Some(r#"{"kind":"alias","account":"111122223333","region":"eu-west-1","record":{"name":"alias/a","key_id":"k","created_ms":1,"updated_ms":2}}"#)
        );
        let (header, records) = read(text.as_bytes()).expect("read");
        assert_eq!((header.created_ms, header.schema.as_str()), (5, "sqlite"));
        assert!(matches!(&records[..], [Exported::Alias { record: a, .. }, Exported::Alias { record: b, .. }] if a.name == "alias/a" && b.name == "alias/b"));
        assert!(read(file(&[]).as_bytes()).expect("an empty store").1.is_empty());
    }

    #[test]
    fn a_malformed_backup_is_refused() {
        let good = file(&[alias("alias/a"), alias("alias/b")]);
        let lines: Vec<&str> = good.lines().collect();
        assert!(error("").contains("empty"));
        assert!(error("hello\n").contains("not a Trent backup"));
        assert!(error(&good.replace(r#""trent_backup":1"#, r#""trent_backup":2"#)).contains("version 2 is not supported"));
        assert!(error(&lines[..3].join("\n")).contains("cut short"), "no end line");
        assert!(error(&[lines[0], lines[1], lines[3]].join("\n")).contains("counts 2 records"));
        assert!(error(&[lines[0], lines[1], "{\"kind\":\"key\"}", lines[3]].join("\n")).starts_with("line 3 is not"));
        assert!(error(&[lines[0], lines[1], "{\"kind\":\"alias\",\"acc", lines[3]].join("\n")).starts_with("line 3 is not"));
        assert!(error(&[lines[0], "", lines[3]].join("\n")).starts_with("line 2 is not"));
        assert!(error(&format!("{good}{}\n", lines[1])).contains("more after the end line"));
        assert!(error(&[lines[0], "{\"kind\":\"final\",\"records\":0}"].join("\n")).starts_with("line 2 is not"));
    }
}
