//! The committed header `include/trimtab.h` must equal what cbindgen generates from
//! `src/ffi` (build.rs writes it into OUT_DIR). Regenerate on purpose with
//! `TRIMTAB_BLESS_HEADER=1 cargo test --test header`.

#[test]
fn committed_header_matches_generated() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/include/trimtab.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/trimtab.h");
    if std::env::var_os("TRIMTAB_BLESS_HEADER").is_some() {
        std::fs::write(path, generated).expect("write include/trimtab.h");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/trimtab.h differs from the header generated from src/ffi; \
         run `TRIMTAB_BLESS_HEADER=1 cargo test --test header` and commit the result"
    );
}

#[test]
fn header_version_macros_match_cargo() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/include/trimtab.h"));
    let want = format!("#define TRIMTAB_VERSION \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(generated.contains(&want), "missing {want}");
    assert!(generated.contains("#ifndef TRIMTAB_H"));
    assert!(generated.contains("extern \"C\""));
}
