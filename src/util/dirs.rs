//! Where the shipped data lives: models, board profiles and the bundled assets (demo portrait
//! and speech), found the same way whether installed or run from the source tree.

use std::path::{Path, PathBuf};

/// Where a folder of shipped data (`models`, `assets`, `board`) is: `$ENV_VAR`, else the
/// installed `PREFIX/share/speakface/NAME` next to the binary when `present` says it is there,
/// else the source tree's `NAME`.
pub fn data_dir(env_var: &str, name: &str, present: fn(&Path) -> bool) -> PathBuf {
    if let Some(d) = std::env::var_os(env_var) {
        return PathBuf::from(d);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            let installed = prefix.join("share/speakface").join(name);
            if present(&installed) {
                return installed;
            }
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// The models folder: `$SPEAKFACE_MODELS`, the installed one, or the source tree's `models/`.
pub fn default_models_dir() -> PathBuf {
    data_dir("SPEAKFACE_MODELS", "models", |d| d.join("manifest.toml").is_file())
}

/// Where the bundled demo data lives: `$SPEAKFACE_ASSETS`, the installed share folder, or the
/// source tree's `assets/`.
pub fn assets_dir() -> PathBuf {
    data_dir("SPEAKFACE_ASSETS", "assets", Path::is_dir)
}

/// The bundled demo portrait.
pub fn default_portrait() -> PathBuf {
    assets_dir().join("portraits/default.jpg")
}

/// The bundled demo speech.
pub fn default_speech() -> PathBuf {
    assets_dir().join("speech/demo.wav")
}
