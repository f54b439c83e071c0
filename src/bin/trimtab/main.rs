//! The `trimtab` command-line tool: simulations and reports over the public Rust API.

fn main() {
    println!("trimtab {}", env!("CARGO_PKG_VERSION"));
}
