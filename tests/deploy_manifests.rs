//! The Kubernetes manifests in deploy/ validated against the Kubernetes schemas
//! (kubernetes-validate from PyPI, installed by scripts/install-kubernetes-validate), in
//! strict mode, and checked for what running sessiond there needs.

use std::path::PathBuf;
use std::process::Command;

const MANIFEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/sessiond.yaml");
/// The Kubernetes version validated against.
const KUBERNETES: &str = "1.33.0";

fn validator() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME");
    let path =
        PathBuf::from(home).join(".cache/sessiond/kubernetes-validate/bin/kubernetes-validate");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup-test-deps (or scripts/install-kubernetes-validate)",
        path.display()
    );
    path
}

/// Runs the validator on `file`: (success, its output).
fn validate(file: &std::path::Path) -> (bool, String) {
    let output = Command::new(validator())
        .args(["--strict", "-k", KUBERNETES])
        .arg(file)
        .output()
        .expect("run kubernetes-validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_manifests_pass_the_kubernetes_schemas() {
    let (ok, out) = validate(MANIFEST.as_ref());
    assert!(ok, "{out}");
    for kind in [
        "deployment/sessiond",
        "service/sessiond",
        "poddisruptionbudget/sessiond",
    ] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{kind}: {out}"
        );
    }
}

#[test]
fn the_validator_refuses_what_the_schemas_do_not_allow() {
    // The same file with a misspelt probe field: a validator that passed it would pass
    // anything.
    let text = std::fs::read_to_string(MANIFEST).unwrap();
    let broken = text.replacen("readinessProbe:", "readynessProbe:", 1);
    assert_ne!(broken, text);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.yaml");
    std::fs::write(&file, broken).unwrap();
    let (ok, out) = validate(&file);
    assert!(!ok, "a misspelt field passed: {out}");
    assert!(out.contains("readynessProbe"), "{out}");
}

#[test]
fn the_deployment_runs_stateless_replicas_as_sessiond_expects() {
    let text = std::fs::read_to_string(MANIFEST).unwrap();
    for needed in [
        // Readiness follows loading and staleness; liveness only the process.
        "path: /readyz",
        "path: /healthz",
        "terminationGracePeriodSeconds:",
        "kind: PodDisruptionBudget",
        "kind: Service",
        "name: SESSIOND_CHECKPOINT_TOPIC",
        "name: SESSIOND_LOG_FORMAT\n              value: json",
        "requests:",
        "maxUnavailable: 0",
    ] {
        assert!(
            text.contains(needed),
            "deploy/sessiond.yaml lacks {needed:?}"
        );
    }
    assert!(
        !text.contains("SESSIOND_SNAPSHOT_DIR") && !text.contains("volumeMounts"),
        "replicas keep no state on disk"
    );
    // Every SESSIOND_ variable it sets is one sessiond reads.
    let help = Command::new(env!("CARGO_BIN_EXE_sessiond"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("- name: SESSIOND_") {
            assert!(
                help.contains(&format!("SESSIOND_{name}")),
                "serve does not read SESSIOND_{name}"
            );
        }
    }
}
