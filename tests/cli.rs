//! The `trimtab` tool end to end: JSON fields, the CSV dump, and errors that name the file
//! and the field with a non-zero exit instead of a panic.
#![cfg(feature = "cli")]

use std::process::Command;

fn trimtab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trimtab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn place_reports_balance_and_dumps_every_shard() {
    let dump = std::env::temp_dir().join(format!("trimtab-dump-{}.csv", std::process::id()));
    let (code, out, err) = trimtab(&[
        "place",
        "--map",
        "examples/maps/cluster.json",
        "--pgs",
        "2048",
        "--balance",
        "--json",
        "--dump",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    for k in [
        "devices",
        "pgs",
        "shards_per_pg",
        "min_over_mean",
        "max_over_mean",
        "stddev_over_mean",
        "degraded_pgs",
        "balancer_moves",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["devices"], 96);
    assert!(v["max_over_mean"].as_f64().unwrap() <= 1.05);
    let csv = std::fs::read_to_string(&dump).unwrap();
    std::fs::remove_file(&dump).ok();
    assert_eq!(csv.lines().next(), Some("pg,shard,device"));
    assert_eq!(csv.lines().count(), 1 + 2048 * 3);
}

#[test]
fn place_reads_toml_and_erasure_coding() {
    let (code, out, err) = trimtab(&[
        "place",
        "--map",
        "examples/maps/small.toml",
        "--pgs",
        "64",
        "--ec",
        "2+1",
        "--failure-domain",
        "rack",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["shards_per_pg"], 3);
}

#[test]
fn plan_with_the_balancer_moves_near_the_optimum() {
    let (code, out, err) = trimtab(&[
        "plan",
        "--from",
        "examples/maps/cluster.json",
        "--to",
        "examples/maps/cluster-plus-host.json",
        "--pgs",
        "2048",
        "--balance",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let (moved, opt) = (v["moved_fraction"].as_f64().unwrap(), v["optimal_fraction"].as_f64().unwrap());
    assert!(opt > 0.0 && moved <= 1.10 * opt, "{v}");
    assert!(v["moved_shards"].as_u64().unwrap() > 0 && v["total_shards"].as_u64().unwrap() == 2048 * 3);
}

#[test]
fn file_errors_name_the_file_and_the_field() {
    let dir = std::env::temp_dir();
    let bad = dir.join(format!("trimtab-bad-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"{"devices":[{"id":1,"location":{"zone":"a","rack":"b","host":"c"},"capacity_bytes":1,"weight":-2}]}"#,
    )
    .unwrap();
    let (code, _, err) = trimtab(&["place", "--map", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains(bad.to_str().unwrap()) && err.contains("device 1") && err.contains("weight"), "{err}");
    std::fs::write(&bad, r#"{"devices":[{"id":1,"locaton":{}}]}"#).unwrap();
    let (code, _, err) = trimtab(&["place", "--map", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("locaton") && err.contains("line 1"), "{err}");
    std::fs::write(&bad, "{\"devices\":[").unwrap();
    let (code, _, err) = trimtab(&["place", "--map", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    std::fs::remove_file(&bad).ok();
    let (code, _, err) = trimtab(&["place", "--map", "/nonexistent/map.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/map.json"), "{err}");
    let (code, _, err) = trimtab(&["place", "--map", "examples/maps/cluster.json", "--ec", "4x2"]);
    assert_eq!(code, 2);
    assert!(err.contains("--ec"), "{err}");
    let (code, _, err) = trimtab(&["place", "--map", "examples/maps/cluster.json", "--failure-domain", "row"]);
    assert_eq!(code, 2);
    assert!(err.contains("row"), "{err}");
}

#[test]
fn simulate_prints_every_step() {
    let (code, out, err) = trimtab(&["simulate", "--pgs", "8192", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let steps: Vec<&str> = v.as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        [
            "initial placement",
            "balancer",
            "rack added",
            "host removed",
            "device failed",
            "host failed",
            "network split"
        ]
    );
    let failed = &v[5]["detection"];
    assert!(failed["dead_after_s"].as_f64().unwrap() <= 10.0 && failed["false_deaths"] == 0, "{failed}");
    let split = &v[6]["split"];
    let modes: Vec<&str> = split["components"].as_array().unwrap().iter().map(|c| c[1].as_str().unwrap()).collect();
    assert_eq!(modes.iter().filter(|m| **m == "serving").count(), 1, "{split}");
    assert!(split["recovered_nodes"].as_u64().unwrap() > 0, "{split}");
    for s in v.as_array().unwrap().iter().skip(2).take(4) {
        assert!(s["over_optimal"].as_f64().unwrap() <= 1.10, "{s}");
        let m = &s["migration"];
        assert!(m["tasks"].as_u64().unwrap() > 0, "{s}");
        assert!(m["ratio"].as_f64().unwrap() <= 1.02, "{s}");
    }
}

#[test]
fn migrate_reports_makespan_against_the_lower_bound() {
    let (code, out, err) = trimtab(&[
        "migrate",
        "--from",
        "examples/maps/cluster.json",
        "--to",
        "examples/maps/cluster-plus-host.json",
        "--pgs",
        "2048",
        "--balance",
        "--pg-bytes",
        "2GiB",
        "--node-bandwidth",
        "200MiB/s",
        "--max-moves-per-node",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    for k in ["makespan_s", "lower_bound_s", "ratio", "peak_rate_over_limit", "tasks"] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert!(v["tasks"].as_u64().unwrap() > 0);
    assert_eq!(v["tasks"], v["moved_shards"]);
    let ratio = v["ratio"].as_f64().unwrap();
    assert!((0.99..=1.02).contains(&ratio), "{v}");
    assert!(v["peak_rate_over_limit"].as_f64().unwrap() <= v["peak_allowed"].as_f64().unwrap() + 1e-9, "{v}");
    let (code, _, err) = trimtab(&[
        "migrate",
        "--from",
        "examples/maps/cluster.json",
        "--to",
        "examples/maps/cluster.json",
        "--node-bandwidth",
        "fast",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--node-bandwidth"), "{err}");
}
