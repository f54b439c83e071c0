//! `trimtab migrate-sim` end to end: JSON with the fields the lead's `migrate` command will
//! share, and a clean error (exit 2) for an unknown plan.
#![cfg(feature = "cli")]

use std::process::Command;

#[test]
fn json_report_has_the_fields() {
    let out = Command::new(env!("CARGO_BIN_EXE_trimtab"))
        .args(["migrate-sim", "--synthetic", "decommission", "--nodes", "6", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in ["makespan_s", "lower_bound_s", "ratio", "peak_rate_over_limit", "tasks"] {
        assert!(v.get(f).is_some(), "missing {f}: {v}");
    }
    let ratio = v["ratio"].as_f64().unwrap();
    assert!((0.99..=1.02).contains(&ratio), "{v}");
    assert_eq!(v["tasks"].as_u64(), Some(32 * 5));
}

#[test]
fn unknown_plan_is_an_error() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_trimtab")).args(["migrate-sim", "--synthetic", "sideways"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown plan"));
}
