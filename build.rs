//! Generates the C header from `src/ffi` with cbindgen into `OUT_DIR` (never into the
//! source tree) and exports that folder to dependent crates as `DEP_TRIMTAB_INCLUDE`.
//! The committed copy in `include/trimtab.h` is checked against it by `tests/header.rs`.

use std::{env, path::PathBuf};

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let include_dir = out_dir.join("include");
    std::fs::create_dir_all(&include_dir).expect("create OUT_DIR/include");

    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("major");
    let minor = env::var("CARGO_PKG_VERSION_MINOR").expect("minor");
    let patch = env::var("CARGO_PKG_VERSION_PATCH").expect("patch");

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(format!(
        "\n/** The version of trimtab this header was generated from. */\n\
         #define TRIMTAB_VERSION \"{version}\"\n\
         #define TRIMTAB_VERSION_MAJOR {major}\n\
         #define TRIMTAB_VERSION_MINOR {minor}\n\
         #define TRIMTAB_VERSION_PATCH {patch}\n\
         /** Bumped on every incompatible change of the C ABI; compare with trimtab_abi_version(). */\n\
         #define TRIMTAB_ABI_VERSION 1\n"
    ));

    match cbindgen::Builder::new().with_src(crate_dir.join("src/ffi/mod.rs")).with_config(config).generate() {
        Ok(bindings) => {
            bindings.write_to_file(include_dir.join("trimtab.h"));
        }
        Err(e) => panic!("cbindgen failed to generate the header: {e}"),
    }
    println!("cargo:include={}", include_dir.display());
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=Cargo.toml");
    println!("cargo:rerun-if-changed=build.rs");
}
