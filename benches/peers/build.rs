//! Compiles the OpenCV shim (remap.cpp) against Debian's libopencv-imgproc-dev when building for
//! the machine itself. A cross build (aarch64 under cross/) has no target OpenCV: the crate then
//! says so at run time instead of failing the build of the tests that never run the benches.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=remap.cpp");
    println!("cargo:rustc-check-cfg=cfg(speakface_opencv)");
    let (host, target) = (std::env::var("HOST").unwrap_or_default(), std::env::var("TARGET").unwrap_or_default());
    let include = Path::new("/usr/include/opencv4");
    if host != target || !include.join("opencv2/imgproc.hpp").exists() {
        println!("cargo:warning=OpenCV peer not built (target {target}, /usr/include/opencv4 needed: scripts/setup.sh installs libopencv-imgproc-dev)");
        return;
    }
    cc::Build::new().cpp(true).file("remap.cpp").include(include).opt_level(2).flag_if_supported("-std=c++17").compile("speakface_cv_remap");
    println!("cargo:rustc-link-lib=opencv_imgproc");
    println!("cargo:rustc-link-lib=opencv_core");
    println!("cargo:rustc-cfg=speakface_opencv");
}
