//! `trimtab partition`: the example report files give the expected answers, and bad files
//! give file, field and reason with exit status 2, never a panic.
#![cfg(feature = "cli")]

use std::process::Command;

fn trimtab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trimtab")).args(args).output().expect("run trimtab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn example(name: &str) -> String {
    format!("{}/examples/partition/{name}.json", env!("CARGO_MANIFEST_DIR"))
}

fn json(name: &str) -> serde_json::Value {
    let (code, out, err) = trimtab(&["partition", "--reports", &example(name), "--json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).expect("valid JSON")
}

#[test]
fn bridge_example() {
    let v = json("bridge");
    assert_eq!(v["components"].as_array().unwrap().len(), 1);
    assert_eq!(v["max_clique"], serde_json::json!([1, 2, 3]));
    assert_eq!(v["partial_pairs"].as_array().unwrap().len(), 4);
    assert!(v["partial_pairs"].as_array().unwrap().iter().all(|p| p["relay"] == 3));
    assert_eq!(v["leaders"][0]["leader"], 1);
    let modes: Vec<&str> = v["modes"].as_array().unwrap().iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["serving", "serving", "serving", "read_only", "read_only"]);
}

#[test]
fn ring_example() {
    let v = json("ring");
    assert_eq!(v["max_clique"].as_array().unwrap().len(), 2);
    assert_eq!(v["partial_pairs"].as_array().unwrap().len(), 5);
    let (code, out, _) = trimtab(&["partition", "--reports", &example("ring"), "--require-majority-clique"]);
    assert_eq!(code, 0);
    assert!(out.contains("mode degraded"), "{out}");
}

#[test]
fn halves_example() {
    let v = json("halves");
    assert_eq!(v["components"].as_array().unwrap().len(), 2);
    assert_eq!(v["components"][0]["mode"], "serving");
    assert_eq!(v["components"][1]["mode"], "read_only");
    assert_eq!(v["leaders"][1]["leader"], 4);
    assert_eq!(v["partial_pairs"], serde_json::json!([]));
}

#[test]
fn bad_files_exit_2_with_file_field_and_reason() {
    let dir = std::env::temp_dir().join(format!("trimtab-partition-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("notjson", "{", "not valid JSON"),
        ("badpeer", r#"[{"node":1,"reaches":["x"]}]"#, "reaches"),
        ("dup", r#"[{"node":1,"reaches":[]},{"node":1,"reaches":[]}]"#, "entry 1"),
        ("votes", r#"[{"node":1,"reaches":[],"votes":-2}]"#, "votes"),
    ];
    for (name, text, want) in cases {
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, text).unwrap();
        let p = path.display().to_string();
        let (code, _, err) = trimtab(&["partition", "--reports", &p]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(&p) && err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"));
    }
    let (code, _, err) = trimtab(&["partition", "--reports", "/nonexistent/reports.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/reports.json"));
    let (code, _, _) = trimtab(&["partition", "--reports", &example("halves"), "--tie-breaker", "bogus"]);
    assert_eq!(code, 2);
    std::fs::remove_dir_all(&dir).ok();
}
