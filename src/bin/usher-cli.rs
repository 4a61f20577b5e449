//! `usher-cli`: an admin client over the binary protocol. Runs one command
//! (`usher-cli INCR a`, `usher-cli -e "INCR a"`), reads commands from a piped
//! stdin, or opens a REPL with line editing, history, completion and hints.
//! Parsing lines and printing replies live in `usher::cli`; this file owns
//! the terminal, the socket and the exit status.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Parser};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::{Hint, Hinter};
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Context, Editor, Helper};
use usher::cli::{self, Action};
use usher::client::{self, Client};
use usher_protocol::Reply;

/// How long to wait for the TCP connection before giving up.
const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// History file name, under $HOME.
const HISTORY_FILE_NAME: &str = ".usher_cli_history";

const AFTER_HELP: &str = "\
Modes:
  usher-cli [-h HOST] [-p PORT]                   interactive prompt (type 'help')
  usher-cli [-h HOST] [-p PORT] COMMAND [ARG...]  run one command; each word is one argument
  usher-cli [-h HOST] [-p PORT] -e \"LINE\"         run one line, split like at the prompt
  ... | usher-cli [-h HOST] [-p PORT]             run each line read from stdin

Over TLS, add to any mode: --tls --cacert CA.pem [--cert CLIENT.pem --key CLIENT.key] [--sni NAME]

Logging in:
  usher-cli --user NAME --pass PASSWORD ...       sends AUTH after connecting
  USHER_PASSWORD=PASSWORD usher-cli --user NAME   the same, without the password on the command line

Exit status:
  0  success
  1  the server could not be reached or closed the connection, a line could not be
     parsed (unbalanced quotes), a one-shot command got an error reply, or (stdin mode)
     any line failed; usage errors also exit 1";

/// usher-cli: admin client for the usher server.
#[derive(Parser)]
#[command(
    name = "usher-cli",
    version,
    disable_help_flag = true,
    after_help = AFTER_HELP
)]
struct Options {
    /// Server host name or address.
    #[arg(short = 'h', long = "host", default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short = 'p', long = "port", default_value_t = 7379)]
    port: u16,
    /// Connect over TLS (needs --cacert).
    #[arg(long = "tls", requires = "cacert")]
    tls: bool,
    /// CA certificate file (PEM) to verify the server with.
    #[arg(long = "cacert", value_name = "FILE", requires = "tls")]
    cacert: Option<PathBuf>,
    /// Client certificate file (PEM), for servers that ask for one.
    #[arg(long = "cert", value_name = "FILE", requires_all = ["tls", "key"])]
    cert: Option<PathBuf>,
    /// Private key file (PEM) of --cert.
    #[arg(long = "key", value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Name the server's certificate must be valid for (default: the host).
    #[arg(long = "sni", value_name = "NAME", requires = "tls")]
    sni: Option<String>,
    /// Log in as this user (with --pass or USHER_PASSWORD).
    #[arg(long = "user", value_name = "NAME")]
    user: Option<String>,
    /// Password to log in with (AUTH) after connecting. The environment
    /// variable USHER_PASSWORD keeps it off the command line.
    #[arg(short = 'a', long = "pass", value_name = "PASSWORD")]
    pass: Option<String>,
    /// Run one command line (quotes and escapes as at the prompt) and exit.
    #[arg(
        short = 'e',
        long = "execute",
        value_name = "LINE",
        conflicts_with = "command"
    )]
    execute: Option<String>,
    /// Print help.
    #[arg(long = "help", action = ArgAction::Help)]
    help: Option<bool>,
    /// A command to run once, then exit.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

fn main() -> ExitCode {
    let options = match Options::try_parse() {
        Ok(options) => options,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("usher-cli: cannot start the I/O runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let tls = match tls_settings(&options) {
        Ok(tls) => tls,
        Err(message) => {
            eprintln!("usher-cli: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut session = Session {
        runtime,
        host: options.host,
        port: options.port,
        tls,
        client: None,
        login: login(options.user, options.pass),
    };

    if let Some(line) = options.execute {
        return one_shot(&mut session, cli::parse_line(line.as_bytes()));
    }
    if !options.command.is_empty() {
        let words = options
            .command
            .into_iter()
            .map(OsString::into_encoded_bytes)
            .collect();
        return one_shot(&mut session, cli::words_action(words));
    }

    if let Err(message) = session.connect() {
        eprintln!("{message}");
        return ExitCode::FAILURE;
    }
    if std::io::stdin().is_terminal() {
        repl(&mut session)
    } else {
        piped(&mut session)
    }
}

/// The TLS connector and the name to verify, from `--tls`, `--cacert`,
/// `--cert`, `--key` and `--sni`; `None` without `--tls`.
fn tls_settings(options: &Options) -> Result<Option<(client::TlsConnector, String)>, String> {
    let (true, Some(ca)) = (options.tls, &options.cacert) else {
        return Ok(None);
    };
    let identity = match (&options.cert, &options.key) {
        (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
        _ => None,
    };
    let connector = client::tls_connector(ca, identity).map_err(|e| e.to_string())?;
    let name = options.sni.clone().unwrap_or_else(|| options.host.clone());
    Ok(Some((connector, name)))
}

/// One connection, reopened on demand after the server closed it.
struct Session {
    runtime: tokio::runtime::Runtime,
    host: String,
    port: u16,
    tls: Option<(client::TlsConnector, String)>,
    client: Option<Client>,
    /// User (none: `default`) and password sent with AUTH on each connect.
    login: Option<(Option<String>, String)>,
}

/// The login from `--user` / `--pass`, the password from `USHER_PASSWORD`
/// when `--pass` is not given.
fn login(user: Option<String>, pass: Option<String>) -> Option<(Option<String>, String)> {
    if pass.is_some() {
        eprintln!(
            "Warning: a password on the command line may not be safe; USHER_PASSWORD keeps it off."
        );
    }
    let password = pass.or_else(|| std::env::var("USHER_PASSWORD").ok())?;
    Some((user, password))
}

impl Session {
    fn connect(&mut self) -> Result<(), String> {
        let address = (self.host.as_str(), self.port);
        let login = &self.login;
        // The timer must be created inside the runtime, hence the async block.
        let tls = self.tls.as_ref();
        let connecting = async {
            let connect = async {
                let mut client = match tls {
                    Some((connector, name)) => {
                        Client::connect_tls(address, connector, name).await?
                    }
                    None => Client::connect(address).await?,
                };
                if let Some((user, password)) = login {
                    client.auth(user.as_deref(), password).await?;
                }
                Ok::<Client, client::ClientError>(client)
            };
            tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect).await
        };
        let failure = match self.runtime.block_on(connecting) {
            Ok(Ok(client)) => {
                self.client = Some(client);
                return Ok(());
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {CONNECT_TIMEOUT_MS} ms"),
        };
        Err(format!(
            "Could not connect to usher at {}:{}: {failure}",
            self.host, self.port
        ))
    }

    /// Sends one command. `Err` carries a message for the user; the
    /// connection is then dropped and the next call reconnects.
    fn call(&mut self, words: &[Vec<u8>]) -> Result<Reply, String> {
        if self.client.is_none() {
            self.connect()?;
        }
        let Some(client) = self.client.as_mut() else {
            return Err("not connected".to_string());
        };
        let command = client::args(words);
        match self.runtime.block_on(client.call(&command)) {
            Ok(reply) => Ok(reply),
            Err(error) => {
                self.client = None;
                Err(format!(
                    "Connection lost ({error}); the next command reconnects."
                ))
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Done,
    Failed,
    Quit,
}

/// Runs one line's action, printing the reply or the failure.
fn run(session: &mut Session, action: Action) -> Outcome {
    let printed = match action {
        Action::Nothing => return Outcome::Done,
        Action::Quit => return Outcome::Quit,
        Action::Help(text) => emit(&text),
        Action::Invalid(message) => {
            eprintln!("{message}");
            return Outcome::Failed;
        }
        Action::Send(words) => match session.call(&words) {
            Ok(reply) => {
                let name = words.first().map_or(&[][..], Vec::as_slice);
                if emit(&cli::format_reply_for(name, &reply)).is_err() {
                    return Outcome::Quit;
                }
                return if reply.is_error() {
                    Outcome::Failed
                } else {
                    Outcome::Done
                };
            }
            Err(message) => {
                eprintln!("{message}");
                return Outcome::Failed;
            }
        },
    };
    // Output that cannot be written (a closed pipe) ends the session.
    match printed {
        Ok(()) => Outcome::Done,
        Err(_) => Outcome::Quit,
    }
}

fn emit(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

fn one_shot(session: &mut Session, action: Action) -> ExitCode {
    if matches!(action, Action::Send(_)) {
        if let Err(message) = session.connect() {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    }
    match run(session, action) {
        Outcome::Done | Outcome::Quit => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::FAILURE,
    }
}

/// Commands piped on stdin, one per line, like `redis-cli < script`.
fn piped(session: &mut Session) -> ExitCode {
    let mut failed = false;
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                eprintln!("usher-cli: cannot read stdin: {error}");
                return ExitCode::FAILURE;
            }
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        match run(session, cli::parse_line(&line)) {
            Outcome::Done => {}
            Outcome::Failed => failed = true,
            Outcome::Quit => break,
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn repl(session: &mut Session) -> ExitCode {
    let config = rustyline::Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<CliHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(editor) => editor,
        Err(error) => {
            eprintln!("usher-cli: cannot open the terminal: {error}");
            return ExitCode::FAILURE;
        }
    };
    editor.set_helper(Some(CliHelper));
    let history = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(HISTORY_FILE_NAME));
    if let Some(path) = &history {
        // A missing or unreadable history file only means no history.
        let _ = editor.load_history(path);
    }
    loop {
        let prompt = cli::prompt(&session.host, session.port, session.client.is_some());
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted | ReadlineError::Eof) => break,
            Err(error) => {
                eprintln!("usher-cli: cannot read the terminal: {error}");
                return ExitCode::FAILURE;
            }
        };
        if !line.trim().is_empty() && !cli::holds_password(line.as_bytes()) {
            let _ = editor.add_history_entry(line.as_str());
            if let Some(path) = &history {
                let _ = editor.save_history(path);
            }
        }
        if run(session, cli::parse_line(line.as_bytes())) == Outcome::Quit {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// rustyline hooks: command-name completion and syntax hints.
struct CliHelper;

/// A hint that is only shown; the right arrow does not insert it.
struct SyntaxHint(String);

impl Hint for SyntaxHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Completer for CliHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _context: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(cli::complete(line, pos))
    }
}

impl Hinter for CliHelper {
    type Hint = SyntaxHint;

    fn hint(&self, line: &str, pos: usize, _context: &Context<'_>) -> Option<SyntaxHint> {
        cli::hint(line, pos).map(SyntaxHint)
    }
}

impl Highlighter for CliHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> std::borrow::Cow<'h, str> {
        std::borrow::Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Validator for CliHelper {}

impl Helper for CliHelper {}
