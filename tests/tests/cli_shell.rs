//! What a user sets up around the CLI: shell completions, man pages, colour on stderr.

use std::io::Read;
use std::process::{Command, Stdio};
use tickspan_tests::{cli, run, scratch};

fn stdout(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_name_every_subcommand_and_option() {
    let bash = stdout(&["completions", "bash"]);
    for word in ["tree", "stats", "dump", "export", "attach", "postmortem", "--min-duration", "--reorder-window"] {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    assert!(stdout(&["completions", "zsh"]).starts_with("#compdef tickspan"));
    assert!(stdout(&["completions", "fish"]).contains("complete -c tickspan"));
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(1), "an unknown shell is a usage error");
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    let mut child = Command::new(cli())
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then the pipe closes
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn man_writes_a_page_per_subcommand() {
    let dir = scratch("man");
    stdout(&["man", "-o", dir.to_str().unwrap()]);
    let page = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    let top = page("tickspan.1");
    assert!(top.starts_with(".ie") || top.contains(".TH tickspan"), "not a roff page: {}", &top[..80.min(top.len())]);
    let tree = page("tickspan-tree.1");
    assert!(tree.contains(".TH tickspan-tree") && tree.contains("min\\-duration"), "{tree}");
    assert!(page("tickspan-export.1").contains("perfetto") || page("tickspan-export.1").contains("chrome"));
    assert!(!dir.join("tickspan-bench-gen.1").exists(), "hidden commands get no page");
}

#[test]
fn warnings_are_coloured_only_where_asked_and_never_with_no_color() {
    let missing = scratch("colour").join("no-such.tspn");
    let missing = missing.to_str().unwrap();
    let stderr = |env: &[(&str, &str)]| {
        let mut c = Command::new(cli());
        c.args(["tree", missing]).env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").env_remove("CLICOLOR");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        String::from_utf8(out.stderr).unwrap()
    };
    // stderr is a pipe here: plain text unless forced.
    assert!(stderr(&[]).starts_with("error: "), "{}", stderr(&[]));
    let forced = stderr(&[("CLICOLOR_FORCE", "1")]);
    assert!(forced.starts_with('\u{1b}') && forced.contains("error:"), "{forced:?}");
    let no_color = stderr(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(no_color.starts_with("error: ") && !no_color.contains('\u{1b}'), "{no_color:?}");
}
