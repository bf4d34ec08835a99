//! What the guest asks of the host while it runs: a scenario writes a line
//! `barwatch-host: device_del ID` to its serial console, and the host, which
//! watches the serial log, unplugs device ID through QEMU's QMP socket (a
//! native PCIe hot-unplug, as a user pulling the card or pressing the slot's
//! attention button). Each request is served once; what QMP answered goes to a
//! log next to the serial log.

use std::{
    fs,
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

/// The prefix of a request line on the guest's serial console.
pub const REQUEST: &str = "barwatch-host: ";

/// The guest's requests, served as they appear in the serial log.
pub struct Requests {
    serial: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    /// How many request lines were served already.
    served: usize,
}

impl Requests {
    /// Watches `serial` for requests, to serve through the QMP `socket`, logging
    /// to `log`.
    pub fn new(serial: &Path, socket: &Path, log: &Path) -> Self {
        Requests {
            serial: serial.to_owned(),
            socket: socket.to_owned(),
            log: log.to_owned(),
            served: 0,
        }
    }

    /// Serves the requests that appeared since the last call. A request that
    /// fails is logged (the scenario, waiting for its effect, then fails).
    pub fn serve(&mut self) {
        let text = fs::read_to_string(&self.serial).unwrap_or_default();
        let requests = requests(&text);
        for request in requests.iter().skip(self.served) {
            let outcome = self.execute(request);
            let line = match &outcome {
                Ok(answer) => format!("{request}: {answer}\n"),
                Err(e) => format!("{request}: failed: {e:#}\n"),
            };
            eprint!("vm: guest asked {line}");
            let appended = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = appended {
                eprintln!("vm: cannot write {}: {e}", self.log.display());
            }
        }
        self.served = requests.len();
    }

    /// Runs one request through QMP; returns QMP's answer.
    fn execute(&self, request: &str) -> Result<String> {
        let command = command(request)?;
        let stream = UnixStream::connect(&self.socket)
            .with_context(|| format!("cannot connect to QMP at {}", self.socket.display()))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut greeting = String::new();
        reader.read_line(&mut greeting)?;
        writer.write_all(b"{\"execute\":\"qmp_capabilities\"}\n")?;
        answer(&mut reader)?;
        writer.write_all(command.as_bytes())?;
        answer(&mut reader)
    }
}

/// Every request line in a serial log, in order, without its prefix.
fn requests(serial: &str) -> Vec<String> {
    serial
        .lines()
        .filter_map(|line| {
            let at = line.find(REQUEST)?;
            Some(line[at + REQUEST.len()..].trim().to_owned())
        })
        .collect()
}

/// The QMP command line for a request; only `device_del ID` is served.
fn command(request: &str) -> Result<String> {
    let Some(id) = request.strip_prefix("device_del ") else {
        bail!("unknown request `{request}`: the host serves `device_del ID`");
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        bail!("`{id}` is not a QEMU device id");
    }
    Ok(format!(
        "{{\"execute\":\"device_del\",\"arguments\":{{\"id\":\"{id}\"}}}}\n"
    ))
}

/// Reads QMP's lines until the answer to the last command (events come
/// between); an error answer is an error.
fn answer(reader: &mut impl BufRead) -> Result<String> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            bail!("QMP closed the connection without answering");
        }
        if line.contains("\"error\"") {
            bail!("QMP refused: {}", line.trim());
        }
        if line.contains("\"return\"") {
            return Ok(line.trim().to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_found_among_kernel_lines_and_only_device_del_is_served() {
        let serial = "[    1.0] pcieport 0000:00:01.0: pciehp: Slot #1\n\
                      barwatch-host: device_del hda\r\n\
                      bench: phase remove\n";
        assert_eq!(requests(serial), ["device_del hda"]);
        assert_eq!(
            command("device_del hda").unwrap(),
            "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hda\"}}\n"
        );
        assert!(command("quit").is_err());
        assert!(command("device_del a\"b").is_err());
    }

    #[test]
    fn the_answer_skips_events_and_an_error_fails() {
        let mut ok = "{\"event\":\"X\"}\n{\"return\": {}}\n".as_bytes();
        assert_eq!(answer(&mut ok).unwrap(), "{\"return\": {}}");
        let mut refused = "{\"error\": {\"class\": \"DeviceNotFound\"}}\n".as_bytes();
        assert!(answer(&mut refused).is_err());
    }
}
