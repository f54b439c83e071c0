//! Reading map files (JSON, or TOML with the same fields) with errors that name the file.

use trimtab::topology::{MapFile, Topology};

/// Loads a map file; the format follows the extension (`.toml`, else JSON).
pub fn load(path: &str) -> Result<Topology, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
    let file: MapFile = if path.ends_with(".toml") {
        toml::from_str(&text).map_err(|e| format!("{path}: {}", e.to_string().trim_end()))?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?
    };
    file.into_topology().map_err(|e| format!("{path}: {e}"))
}
