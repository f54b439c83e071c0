//! Drives the C programs in `tests/c/`: each is compiled against the committed header and
//! the static library with `-std=c11 -Wall -Wextra -Werror -pedantic`, then run (under
//! valgrind with errors fatal when valgrind is installed, which `.ci/run` makes sure of).
//! The header is also compiled alone as C11 and as C++17, included twice.

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    // tests run from target/<profile>/deps/<name>-<hash>
    let exe = std::env::current_exe().expect("current exe");
    exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn staticlib() -> PathBuf {
    let lib = target_dir().join("libtrimtab.a");
    // `cargo test` builds the rlib it links; the static library may be missing or stale, so
    // always ask cargo for it (a no-op when it is up to date).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root()).args(["build", "--lib"]);
    if target_dir().ends_with("release") {
        cmd.arg("--release");
    }
    run(&mut cmd);
    assert!(lib.exists(), "{} missing", lib.display());
    lib
}

#[test]
fn header_compiles_alone_as_c11_and_cpp17_twice_included() {
    let dir = tempdir("header");
    let c = dir.join("twice.c");
    std::fs::write(
        &c,
        "#include \"trimtab.h\"\n#include \"trimtab.h\"\nint main(void) { return TRIMTAB_ABI_VERSION == 1 ? 0 : 1; }\n",
    )
    .unwrap();
    let cc = dir.join("twice.cc");
    std::fs::write(&cc, "#include \"trimtab.h\"\n#include \"trimtab.h\"\nint main() { return trimtab_abi_version() == TRIMTAB_ABI_VERSION ? 0 : 1; }\n").unwrap();
    let inc = root().join("include");
    run(Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I"])
        .arg(&inc)
        .arg(&c));
    if have("g++") {
        run(Command::new("g++")
            .args(["-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I"])
            .arg(&inc)
            .arg(&cc));
    }
}

fn tempdir(name: &str) -> PathBuf {
    let d = target_dir().join("c-tests").join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn c_programs_pass_under_valgrind() {
    let lib = staticlib();
    let inc = root().join("include");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root().join("tests/c"))
        .expect("tests/c")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    assert!(!sources.is_empty(), "no C tests found");
    let valgrind = have("valgrind");
    if !valgrind && std::env::var_os("CI").is_some() {
        panic!("valgrind is required in CI (installed by .ci/run)");
    }
    let out_dir = tempdir("bin");
    for src in sources {
        let stem = src.file_stem().unwrap().to_string_lossy().to_string();
        let exe = out_dir.join(&stem);
        run(Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-I"])
            .arg(&inc)
            .arg("-I")
            .arg(root().join("tests/c"))
            .arg(&src)
            .arg(&lib)
            .args(["-lpthread", "-ldl", "-lm", "-o"])
            .arg(&exe));
        if valgrind {
            run(Command::new("valgrind")
                .args([
                    "--quiet",
                    "--error-exitcode=99",
                    "--leak-check=full",
                    "--errors-for-leak-kinds=definite,indirect",
                ])
                .arg(&exe));
        } else {
            run(&mut Command::new(&exe));
        }
    }
}
