//! Checks that the crate's modules use only modules declared before them in `lib.rs`, so
//! no cycle among them can come back.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The top-level modules in the order `lib.rs` declares them.
fn declared_order() -> Vec<String> {
    std::fs::read_to_string(Path::new(SRC).join("lib.rs"))
        .expect("src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("a source directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text before an inline test module, without line comments.
fn code(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                next.trim_start().starts_with("mod ") || next.trim_start().starts_with("pub mod ")
            })
            && lines
                .peek()
                .is_some_and(|next| next.trim_end().ends_with('{'))
        {
            break;
        }
        kept.push_str(line.split("//").next().unwrap_or_default());
        kept.push('\n');
    }
    kept
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules named by `crate::` paths, `use crate::{a::X, b}` groups included.
fn used_modules(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        used.insert(ident(&group[i..]).to_owned());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            used.insert(ident(rest).to_owned());
        }
    }
    used.retain(|m| m != "self" && m.starts_with(|c: char| c.is_ascii_lowercase()));
    used
}

#[test]
fn every_module_uses_only_modules_declared_before_it() {
    let order = declared_order();
    assert!(order.len() > 10, "lib.rs declares its modules: {order:?}");
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(SRC).expect("under src");
        let here = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|c| c.trim_end_matches(".rs").to_owned())
            .expect("a file name");
        if here == "lib" || here == "main" || here == "layers" {
            continue;
        }
        let here_rank = rank(&here).unwrap_or_else(|| panic!("{here} is not declared in lib.rs"));
        let text = std::fs::read_to_string(&file).expect("readable");
        for used in used_modules(&code(&text)) {
            match rank(&used) {
                Some(r) if r < here_rank || used == here => {}
                _ => wrong.push(format!("{} uses {used}", relative.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "modules must use only modules declared before them in lib.rs:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scanner_finds_plain_paths_and_groups_and_skips_tests_and_comments() {
    let text = "use crate::a::X;\nuse crate::{b::Y, c::{D, E}, self};\n// crate::z\nfn f() { crate::d::g() }\n#[cfg(test)]\nmod tests {\n    use crate::t;\n}\n";
    let used: Vec<String> = used_modules(&code(text)).into_iter().collect();
    assert_eq!(used, ["a", "b", "c", "d"]);
}
