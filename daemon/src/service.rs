//! `guildd service install|uninstall|status`: guildd as a per-user service that starts at
//! login and restarts if it fails. A systemd user unit on Linux (logs in the journal:
//! `journalctl --user -u guildd`), a launchd agent on macOS (logs in the data directory's
//! `guildd.log`). No root: both live in the user's own configuration directory.
//!
//! The same renderers produce the files under `dist/` for packagers (see the tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The systemd unit's name.
pub const UNIT_NAME: &str = "guildd.service";
/// The launchd agent's label (and file stem).
pub const LAUNCHD_LABEL: &str = "org.guild.guildd";

/// What the service runs.
pub struct Service {
    /// The guildd binary.
    pub binary: PathBuf,
    /// Arguments after `run`: `--data-dir DIR` and whatever else the user gave.
    pub args: Vec<String>,
    /// Where the launchd agent logs (launchd cannot log to a journal); `None` discards.
    pub log: Option<PathBuf>,
}

/// A systemd user unit.
pub fn systemd_unit(service: &Service) -> String {
    let command: Vec<String> = std::iter::once(service.binary.display().to_string())
        .chain(std::iter::once("run".to_owned()))
        .chain(service.args.iter().cloned())
        .map(|arg| systemd_quote(&arg))
        .collect();
    format!(
        "# guildd as a systemd user service: starts at login, restarts if it fails.\n\
         # Install: guildd service install (or copy to ~/.config/systemd/user/ and run\n\
         # systemctl --user enable --now guildd). Logs: journalctl --user -u guildd\n\
         [Unit]\n\
         Description=Guild daemon: your community's data, local-first\n\
         Documentation=man:guildd(1)\n\
         # A daemon that cannot start (a damaged store, say) stops retrying after 5 tries.\n\
         StartLimitIntervalSec=300\n\
         StartLimitBurst=5\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         StandardOutput=journal\n\
         StandardError=journal\n\
         NoNewPrivileges=yes\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        command.join(" ")
    )
}

/// A launchd agent property list.
pub fn launchd_plist(service: &Service) -> String {
    let mut args = format!(
        "    <string>{}</string>\n    <string>run</string>\n",
        xml_escape(&service.binary.display().to_string())
    );
    for arg in &service.args {
        args.push_str(&format!("    <string>{}</string>\n", xml_escape(arg)));
    }
    let log = service.log.as_ref().map_or_else(String::new, |log| {
        let log = xml_escape(&log.display().to_string());
        format!(
            "  <key>StandardOutPath</key>\n  <string>{log}</string>\n  \
             <key>StandardErrorPath</key>\n  <string>{log}</string>\n"
        )
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <!-- guildd as a launchd agent: starts at login, restarts if it fails.\n     \
         Install: guildd service install (or copy to ~/Library/LaunchAgents/ and run\n     \
         launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/{LAUNCHD_LABEL}.plist). -->\n\
         <plist version=\"1.0\">\n\
         <dict>\n  \
         <key>Label</key>\n  <string>{LAUNCHD_LABEL}</string>\n  \
         <key>ProgramArguments</key>\n  <array>\n{args}  </array>\n  \
         <key>RunAtLoad</key>\n  <true/>\n  \
         <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n  \
         <key>ThrottleInterval</key>\n  <integer>5</integer>\n  \
         <key>ProcessType</key>\n  <string>Background</string>\n\
         {log}\
         </dict>\n\
         </plist>\n"
    )
}

/// One word of an `ExecStart=` line: quoted when it holds anything but plain characters,
/// and with `%` (specifiers) and `$` (variables) doubled so systemd takes them literally.
fn systemd_quote(word: &str) -> String {
    let literal = word.replace('%', "%%").replace('$', "$$");
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._:@=+,-%$".contains(c);
    if !literal.is_empty() && literal.chars().all(plain) {
        return literal;
    }
    let mut quoted = String::from("\"");
    for c in literal.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The service manager of this platform, and where its file goes.
enum Manager {
    Systemd(PathBuf),
    Launchd(PathBuf),
}

fn manager() -> Result<Manager> {
    let dirs = directories::BaseDirs::new().context("cannot find your home directory")?;
    if cfg!(target_os = "macos") {
        Ok(Manager::Launchd(
            dirs.home_dir()
                .join("Library/LaunchAgents")
                .join(format!("{LAUNCHD_LABEL}.plist")),
        ))
    } else if cfg!(target_os = "linux") {
        // $XDG_CONFIG_HOME/systemd/user, usually ~/.config/systemd/user.
        Ok(Manager::Systemd(
            dirs.config_dir().join("systemd/user").join(UNIT_NAME),
        ))
    } else {
        bail!("guildd service supports systemd (Linux) and launchd (macOS) only")
    }
}

/// Writes the service file and, if `enable`, enables and starts it. Returns the file.
pub fn install(service: &Service, enable: bool) -> Result<PathBuf> {
    let (path, contents) = match manager()? {
        Manager::Systemd(path) => (path, systemd_unit(service)),
        Manager::Launchd(path) => (path, launchd_plist(service)),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    if enable {
        match manager()? {
            Manager::Systemd(_) => systemctl(&["daemon-reload"])
                .and_then(|()| systemctl(&["enable", "--now", UNIT_NAME]))
                .with_context(|| {
                    format!(
                        "{} is written, but systemd did not start it; in a login session run `systemctl --user enable --now {UNIT_NAME}`, or use `guildd start`",
                        path.display()
                    )
                })?,
            Manager::Launchd(path) => {
                // Replace a loaded older version; "not loaded" is fine.
                let _ = launchctl(&["bootout", &gui_domain(), &path.display().to_string()]);
                launchctl(&["bootstrap", &gui_domain(), &path.display().to_string()])?;
            }
        }
    }
    Ok(path)
}

/// Stops and disables the service (if `disable`) and removes its file. Returns the file
/// removed, `None` if none was installed.
pub fn uninstall(disable: bool) -> Result<Option<PathBuf>> {
    let manager = manager()?;
    let path = match &manager {
        Manager::Systemd(path) | Manager::Launchd(path) => path.clone(),
    };
    if !path.exists() {
        return Ok(None);
    }
    if disable {
        match &manager {
            Manager::Systemd(_) => systemctl(&["disable", "--now", UNIT_NAME])?,
            Manager::Launchd(path) => {
                launchctl(&["bootout", &gui_domain(), &path.display().to_string()])?;
            }
        }
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    if disable && matches!(manager, Manager::Systemd(_)) {
        systemctl(&["daemon-reload"])?;
    }
    Ok(Some(path))
}

/// Lines describing the service: installed where, and (if `ask`) what the manager says.
pub fn status(ask: bool) -> Result<Vec<String>> {
    let manager = manager()?;
    let path = match &manager {
        Manager::Systemd(path) | Manager::Launchd(path) => path.clone(),
    };
    if !path.exists() {
        return Ok(vec![format!(
            "not installed ({} does not exist); `guildd service install` installs it",
            path.display()
        )]);
    }
    let mut lines = vec![format!("installed: {}", path.display())];
    if let Some(exec) = std::fs::read_to_string(&path).ok().and_then(|unit| {
        unit.lines()
            .find_map(|l| l.strip_prefix("ExecStart=").map(str::to_owned))
    }) {
        lines.push(format!("runs: {exec}"));
    }
    if !ask {
        return Ok(lines);
    }
    match &manager {
        Manager::Systemd(_) => {
            for (what, verb) in [("enabled", "is-enabled"), ("active", "is-active")] {
                let answer = Command::new("systemctl")
                    .args(["--user", verb, UNIT_NAME])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                    .unwrap_or_else(|e| format!("unknown (cannot run systemctl: {e})"));
                lines.push(format!("{what}: {answer}"));
            }
        }
        Manager::Launchd(_) => {
            let loaded = launchctl(&["print", &format!("{}/{LAUNCHD_LABEL}", gui_domain())]);
            lines.push(format!(
                "loaded: {}",
                if loaded.is_ok() { "yes" } else { "no" }
            ));
        }
    }
    Ok(lines)
}

fn systemctl(args: &[&str]) -> Result<()> {
    run("systemctl", &[&["--user"], args].concat())
}

fn launchctl(args: &[&str]) -> Result<()> {
    run("launchctl", args)
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let shown = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn gui_domain() -> String {
    format!("gui/{}", rustix::process::getuid().as_raw())
}

/// The arguments after `run` for a data directory and a daemon's other options.
pub fn run_args(data_dir: &Path, extra: &[String]) -> Vec<String> {
    let mut args = vec!["--data-dir".to_owned(), data_dir.display().to_string()];
    args.extend(extra.iter().cloned());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What packagers install: the binary in the system's place, the default data directory.
    fn packaged(binary: &str) -> Service {
        Service {
            binary: binary.into(),
            args: Vec::new(),
            log: None,
        }
    }

    /// What `guildd service install` writes for a user with awkward paths.
    fn user() -> Service {
        Service {
            binary: "/home/ada lovelace/.cargo/bin/guildd".into(),
            args: run_args(
                Path::new("/home/ada lovelace/.local/share/guild 100%"),
                &["--no-mdns".to_owned()],
            ),
            log: Some("/home/ada lovelace/.local/share/guild 100%/guildd.log".into()),
        }
    }

    /// Compares with a committed file; `GUILD_UPDATE_SNAPSHOTS=1` rewrites it instead.
    fn assert_snapshot(relative: &str, rendered: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
        if std::env::var_os("GUILD_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, rendered).unwrap();
        }
        let committed =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            rendered,
            committed,
            "{} is out of date: rerun with GUILD_UPDATE_SNAPSHOTS=1 and review the diff",
            path.display()
        );
    }

    #[test]
    fn the_units_match_their_snapshots() {
        assert_snapshot(
            "../dist/guildd.service",
            &systemd_unit(&packaged("/usr/bin/guildd")),
        );
        assert_snapshot(
            "../dist/org.guild.guildd.plist",
            &launchd_plist(&packaged("/usr/local/bin/guildd")),
        );
        assert_snapshot("snapshots/guildd-user.service", &systemd_unit(&user()));
        assert_snapshot(
            "snapshots/org.guild.guildd-user.plist",
            &launchd_plist(&user()),
        );
    }

    #[test]
    fn exec_start_words_survive_systemd_parsing() {
        assert_eq!(systemd_quote("/usr/bin/guildd"), "/usr/bin/guildd");
        assert_eq!(systemd_quote("/a b/c"), "\"/a b/c\"");
        assert_eq!(systemd_quote("100%"), "100%%");
        assert_eq!(systemd_quote("$HOME"), "$$HOME");
        assert_eq!(systemd_quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(systemd_quote(""), "\"\"");
    }

    #[test]
    fn plist_text_is_escaped() {
        let plist = launchd_plist(&Service {
            binary: "/opt/a&b/<guildd>".into(),
            args: Vec::new(),
            log: None,
        });
        assert!(
            plist.contains("<string>/opt/a&amp;b/&lt;guildd&gt;</string>"),
            "{plist}"
        );
    }
}
