//! The display output: a window under X (ximagesink) or the whole screen without a desktop
//! (kmssink, or nvdrmvideosink on Jetson), chosen by [`choose_display_sink`]. On kmssink the
//! DRM driver is named to it (it finds only the drivers on its own list), vsync is skipped on
//! drivers without vblank events, and the picture is letterboxed to the screen's preferred mode.

use std::path::{Path, PathBuf};

use gstreamer as gst;

use super::branch::{caps_filter, chain, ghost, gst_err, leaky_queue, make, set_value, Branch, Input};
use crate::config::{Config, DisplaySink};
use crate::Result;

/// The display sink: the configured one, or on "auto" kmssink when a DRM device exists (no
/// desktop), ximagesink when an X display is set, else an error naming the fix.
pub fn choose_display_sink(cfg: &Config) -> Result<DisplaySink> {
    let pick = match cfg.output.display.sink {
        DisplaySink::Auto if std::env::var_os("DISPLAY").is_some() => DisplaySink::XImage,
        DisplaySink::Auto if Path::new("/dev/dri/card0").exists() => {
            if gst::ElementFactory::find(DisplaySink::NvDrm.as_str()).is_some() { DisplaySink::NvDrm } else { DisplaySink::Kms }
        }
        DisplaySink::Auto => {
            return Err(gst_err(
                "output.display: no display found (no /dev/dri/card0, no $DISPLAY); set output.display.enabled = false or name a sink",
            ))
        }
        named => named,
    };
    if gst::ElementFactory::find(pick.as_str()).is_none() {
        let pkg = match pick {
            DisplaySink::XImage | DisplaySink::XvImage => "gstreamer1.0-x",
            DisplaySink::Gl => "gstreamer1.0-gl",
            _ => "gstreamer1.0-plugins-bad",
        };
        return Err(gst_err(format!("output.display.sink \"{pick}\" is not available; install {pkg}")));
    }
    Ok(pick)
}

/// DRM drivers without vblank events (virtual machines' GPUs, firmware framebuffers).
const NO_VBLANK_DRIVERS: [&str; 8] = ["virtio_gpu", "bochs-drm", "qxl", "cirrus", "vboxvideo", "vmwgfx", "simpledrm", "hyperv_drm"];

/// The preferred mode of the first connected screen on `card` (from sysfs `card0-HDMI-A-1/modes`).
pub fn drm_screen_size(sysfs: &Path, card: &str) -> Option<(u32, u32)> {
    let mut connectors: Vec<PathBuf> = std::fs::read_dir(sysfs)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{card}-"))))
        .collect();
    connectors.sort();
    connectors.into_iter().find_map(|c| {
        let status = std::fs::read_to_string(c.join("status")).ok()?;
        if status.trim() != "connected" {
            return None;
        }
        let modes = std::fs::read_to_string(c.join("modes")).ok()?;
        let (w, h) = modes.lines().next()?.trim().trim_end_matches('i').split_once('x')?;
        Some((w.parse().ok()?, h.parse().ok()?))
    })
}

/// The kernel's name for the DRM driver behind `card` (DRM_IOCTL_VERSION), as kmssink's
/// `driver-name` wants it: "i915", "virtio_gpu", "tegra", ….
pub fn drm_driver_name(card: &Path) -> Option<String> {
    use std::os::fd::AsRawFd;
    #[repr(C)]
    struct DrmVersion {
        major: libc::c_int,
        minor: libc::c_int,
        patch: libc::c_int,
        name_len: libc::size_t,
        name: *mut libc::c_char,
        date_len: libc::size_t,
        date: *mut libc::c_char,
        desc_len: libc::size_t,
        desc: *mut libc::c_char,
    }
    // _IOWR('d', 0x00, struct drm_version)
    const DRM_IOCTL_VERSION: u64 = (3 << 30) | ((std::mem::size_of::<DrmVersion>() as u64) << 16) | ((b'd' as u64) << 8);
    let file = std::fs::OpenOptions::new().read(true).write(true).open(card).ok()?;
    let mut name = vec![0u8; 64];
    let mut v = DrmVersion {
        major: 0,
        minor: 0,
        patch: 0,
        name_len: name.len(),
        name: name.as_mut_ptr().cast(),
        date_len: 0,
        date: std::ptr::null_mut(),
        desc_len: 0,
        desc: std::ptr::null_mut(),
    };
    // SAFETY: `v` is a live drm_version whose one buffer (name) is as long as name_len says; the
    // kernel writes at most name_len bytes there and zero bytes to the empty date/desc.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), DRM_IOCTL_VERSION as _, &mut v as *mut DrmVersion) };
    if rc != 0 {
        return None;
    }
    name.truncate(v.name_len.min(64));
    let name = String::from_utf8(name).ok()?;
    (!name.is_empty()).then_some(name)
}

/// The display branch: `queue ─ videoconvert ─ [videoscale ─ caps] ─ sink name=display`.
pub(super) struct Display {
    /// The sink element's factory.
    sink: DisplaySink,
    /// kmssink's `driver-name`.
    driver: Option<String>,
    /// kmssink's `skip-vsync=true` (a driver without vblank events).
    skip_vsync: bool,
    /// The screen's size, to letterbox to (kmssink with `can-scale=false`).
    screen: Option<(u32, u32)>,
}

impl Display {
    /// Picks the sink (an error when there is none) and, for kmssink, asks the DRM device.
    pub(super) fn new(cfg: &Config) -> Result<Display> {
        let sink = choose_display_sink(cfg)?;
        let mut d = Display { sink, driver: None, skip_vsync: false, screen: None };
        if d.sink == DisplaySink::Kms {
            // kmssink finds only the drivers on its own list (not virtio_gpu, bochs, …): name it.
            if let Some(driver) = drm_driver_name(Path::new("/dev/dri/card0")) {
                // Virtual and firmware framebuffers have no vblank interrupt: kmssink's wait
                // for one fails every frame (drmWaitVBlank: EOPNOTSUPP) and stops the stream.
                d.skip_vsync = NO_VBLANK_DRIVERS.contains(&driver.as_str());
                d.driver = Some(driver);
            }
            // Without a desktop the avatar fills the screen, letterboxed: many KMS drivers'
            // primary planes cannot show a smaller frame (drmModeSetPlane: EINVAL) or scale.
            d.screen = drm_screen_size(Path::new("/sys/class/drm"), "card0");
        }
        Ok(d)
    }

    /// The sink and the settings it was given, as the daemon's status shows them
    /// (`kmssink driver-name="virtio_gpu" skip-vsync=true can-scale=false`).
    pub(super) fn describe(&self) -> String {
        let mut s = self.sink.as_str().to_string();
        if let Some(driver) = &self.driver {
            s += &format!(" driver-name=\"{driver}\"");
            if self.skip_vsync {
                s += " skip-vsync=true";
            }
        }
        if self.screen.is_some() {
            s += " can-scale=false";
        }
        s
    }
}

impl Branch for Display {
    fn name(&self) -> &'static str {
        "display"
    }
    fn key(&self) -> &'static str {
        "output.display"
    }
    fn inputs(&self) -> &'static [Input] {
        &[Input::Video]
    }
    fn build(&self) -> Result<gst::Bin> {
        let bin = gst::Bin::with_name(self.name());
        let queue = leaky_queue(3)?;
        let mut elements = vec![queue.clone(), make("videoconvert")?];
        if let Some((w, h)) = self.screen {
            let scale = super::branch::built("videoscale", gst::ElementFactory::make("videoscale").property("add-borders", true).build())?;
            let fit = caps_filter(
                gst::Caps::builder("video/x-raw")
                    .field("width", w as i32)
                    .field("height", h as i32)
                    .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
                    .build(),
            )?;
            elements.extend([scale, fit]);
        }
        // Any sink the config names: its properties are checked, not assumed.
        let sink = super::branch::built(self.sink.as_str(), gst::ElementFactory::make(self.sink.as_str()).name("display").build())?;
        if let Some(driver) = &self.driver {
            set_value(&sink, "driver-name", driver.as_str())?;
            if self.skip_vsync {
                set_value(&sink, "skip-vsync", true)?;
            }
        }
        if self.screen.is_some() {
            set_value(&sink, "can-scale", false)?;
        }
        set_value(&sink, "sync", false)?;
        elements.push(sink);
        chain(&bin, &elements.iter().collect::<Vec<_>>())?;
        ghost(&bin, Input::Video, &queue)?;
        Ok(bin)
    }
}

#[cfg(test)]
mod drm_tests {
    use super::*;

    #[test]
    fn screen_size_is_the_first_connected_connectors_preferred_mode() {
        let dir = std::env::temp_dir().join(format!("speakface-drm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, status, modes) in [
            ("card0-DP-1", "disconnected", ""),
            ("card0-HDMI-A-1", "connected", "1920x1080\n1280x720\n"),
            ("card1-HDMI-A-2", "connected", "640x480\n"),
        ] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("status"), format!("{status}\n")).unwrap();
            std::fs::write(dir.join(name).join("modes"), modes).unwrap();
        }
        assert_eq!(drm_screen_size(&dir, "card0"), Some((1920, 1080)));
        assert_eq!(drm_screen_size(&dir, "card1"), Some((640, 480)));
        assert_eq!(drm_screen_size(&dir, "card2"), None);
        std::fs::write(dir.join("card0-HDMI-A-1/status"), "disconnected\n").unwrap();
        assert_eq!(drm_screen_size(&dir, "card0"), None);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(drm_driver_name(Path::new("/dev/null")), None);
    }
}
