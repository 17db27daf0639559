//! Test support: a scratch directory for cross-checks with the `openssl` CLI.

use std::path::PathBuf;
use std::process::Command;

/// A scratch directory under the system temp dir, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// `family` and `test` name the directory, so parallel tests never share one.
    pub fn new(family: &str, test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("trent-{family}-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.0.join(name), bytes).expect("write scratch file");
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.0.join(name)).expect("read scratch file")
    }

    /// Runs the `openssl` CLI (OpenSSL 3, built with SM2/SM3) in the directory; whether it succeeded.
    pub fn openssl(&self, args: &[&str]) -> bool {
        let output = Command::new("openssl").args(args).current_dir(&self.0).output().expect("run the openssl CLI");
        if !output.status.success() {
            eprintln!("openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        output.status.success()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
