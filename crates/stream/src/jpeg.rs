//! JPEG encoding with libjpeg-turbo's TurboJPEG API, straight from the source's Y'CbCr planes.
//!
//! Library choice: the `turbojpeg` 1.x crate wraps the TurboJPEG **3** API (`tj3*`), which needs
//! libjpeg-turbo ≥ 3.0 — Debian 12 ships 2.1.5, so that crate would have to build its vendored
//! copy (cmake + nasm at build time). `turbojpeg` 0.5 links the system 2.x library but has no
//! compress-from-YUV call. So this module uses that crate's raw bindings, `turbojpeg-sys` 0.2
//! (TurboJPEG 2 API, linked with pkg-config against Debian's `libturbojpeg0-dev`), behind a
//! small safe wrapper: [`JpegEncoder`].
//!
//! Input paths (no RGB detour for Y'CbCr sources):
//!
//! | source | path |
//! |---|---|
//! | YU12, YV12, 422P | planes passed in place (zero copy), `tjCompressFromYUVPlanes` |
//! | GREY | the plane in place, grayscale JPEG |
//! | NV12, NV21 | luma in place; the interleaved chroma plane split into Cb and Cr (a quarter-size copy) |
//! | YUYV, UYVY, YVYU | packed 4:2:2 split into 4:2:2 planes in a reusable buffer, then as above |
//! | RGB3, BGR3, XR24, BX24, RGB4, BGR4 | `tjCompress2` with the matching TurboJPEG pixel format |
//! | other raw formats (RGB565, …) | converted to RGB24 by `loopcam-media`, then `tjCompress2` |
//!
//! TurboJPEG has no packed 4:2:2 input format (its pixel formats are RGB/gray/CMYK only), so
//! YUYV-family frames are split into planes first; the split reads each byte once and costs far
//! less than the DCT. Like ustreamer, the Y'CbCr samples are stored unchanged: V4L2's limited
//! range is not stretched to JFIF's full range.

use std::ffi::CStr;

use loopcam_abi::*;
use turbojpeg_sys as tj;

use crate::capture::SourceFormat;

/// Why a frame could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The pixel format has no encoder path.
    #[error("cannot encode pixel format {0}")]
    Unsupported(String),
    /// The frame is shorter than its format needs.
    #[error("short frame: {got} bytes, {format} {width}x{height} needs {need}")]
    Short {
        /// Bytes received.
        got: usize,
        /// Bytes needed.
        need: usize,
        /// Fourcc name.
        format: String,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// libjpeg-turbo failed.
    #[error("libjpeg-turbo: {0}")]
    Turbo(String),
}

/// Whether [`JpegEncoder::encode`] accepts this fourcc.
pub fn can_encode(fourcc: u32) -> bool {
    if matches!(fourcc, V4L2_PIX_FMT_MJPEG | V4L2_PIX_FMT_JPEG) {
        return false;
    }
    loopcam_media::fourcc::RAW.contains(&fourcc)
}

/// One TurboJPEG compressor with its output buffer and scratch planes. Create one per worker
/// thread and reuse it: nothing is allocated per frame except the returned JPEG.
pub struct JpegEncoder {
    handle: tj::tjhandle,
    quality: i32,
    /// TurboJPEG-allocated output buffer of `out_cap` bytes (worst-case size for the last
    /// geometry), written with TJFLAG_NOREALLOC.
    out: *mut u8,
    out_cap: usize,
    scratch: Vec<u8>,
}

// SAFETY: a TurboJPEG handle and the buffer from tjAlloc are plain heap objects with no thread
// affinity; the encoder is used by one thread at a time (`&mut self` everywhere).
unsafe impl Send for JpegEncoder {}

const SAMP_422: i32 = tj::TJSAMP_TJSAMP_422 as i32;
const SAMP_420: i32 = tj::TJSAMP_TJSAMP_420 as i32;
const SAMP_GRAY: i32 = tj::TJSAMP_TJSAMP_GRAY as i32;

enum Input<'a> {
    /// Y'CbCr planes (one for grayscale) with their strides.
    Planes {
        planes: [&'a [u8]; 3],
        strides: [i32; 3],
        count: usize,
        subsamp: i32,
    },
    /// Interleaved RGB-family pixels.
    Packed {
        data: &'a [u8],
        pitch: i32,
        pixel_format: i32,
    },
}

fn short(f: &SourceFormat, got: usize, need: usize) -> EncodeError {
    EncodeError::Short {
        got,
        need,
        format: loopcam_media::fourcc_name(f.fourcc),
        width: f.width,
        height: f.height,
    }
}

impl JpegEncoder {
    /// A compressor at `quality` (1..=100).
    pub fn new(quality: u8) -> Result<JpegEncoder, EncodeError> {
        // SAFETY: plain constructor; NULL is checked below.
        let handle = unsafe { tj::tjInitCompress() };
        if handle.is_null() {
            return Err(EncodeError::Turbo("tjInitCompress failed".into()));
        }
        Ok(JpegEncoder {
            handle,
            quality: i32::from(quality.clamp(1, 100)),
            out: std::ptr::null_mut(),
            out_cap: 0,
            scratch: Vec::new(),
        })
    }

    /// The configured quality.
    pub fn quality(&self) -> u8 {
        self.quality as u8
    }

    fn last_error(&self) -> String {
        // SAFETY: tjGetErrorStr2 returns a NUL-terminated string owned by the handle (or a
        // static one), valid until the next call on this handle; we copy it at once.
        unsafe {
            let p = tj::tjGetErrorStr2(self.handle);
            if p.is_null() {
                "unknown error".into()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        }
    }

    /// Makes the output buffer hold a worst-case JPEG of this geometry.
    fn reserve_output(&mut self, width: u32, height: u32, subsamp: i32) -> Result<(), EncodeError> {
        // SAFETY: pure computation.
        let need = unsafe { tj::tjBufSize(width as i32, height as i32, subsamp) };
        if need == libc::c_ulong::MAX || need == 0 || need > i32::MAX as libc::c_ulong {
            return Err(EncodeError::Turbo(format!(
                "bad JPEG geometry {width}x{height}"
            )));
        }
        let need = need as usize;
        if need > self.out_cap {
            // SAFETY: `out` is NULL or a buffer from tjAlloc that nothing else references.
            unsafe {
                tj::tjFree(self.out);
                self.out = tj::tjAlloc(need as i32);
            }
            if self.out.is_null() {
                self.out_cap = 0;
                return Err(EncodeError::Turbo("tjAlloc failed".into()));
            }
            self.out_cap = need;
        }
        Ok(())
    }

    /// Encodes one frame of format `f` (`data` is its payload, `bytesused` long).
    pub fn encode(&mut self, f: &SourceFormat, data: &[u8]) -> Result<Vec<u8>, EncodeError> {
        let (w, h) = (f.width as usize, f.height as usize);
        if w == 0 || h == 0 || w > 16384 || h > 16384 {
            return Err(EncodeError::Turbo(format!("bad frame size {w}x{h}")));
        }
        let cw = w.div_ceil(2);
        let ch = h.div_ceil(2);
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = (|| {
            let input = match f.fourcc {
                V4L2_PIX_FMT_YUYV | V4L2_PIX_FMT_UYVY | V4L2_PIX_FMT_YVYU => {
                    let bpl = stride(f.bytesperline, w * 2);
                    let need = bpl * (h - 1) + w * 2;
                    if data.len() < need {
                        return Err(short(f, data.len(), need));
                    }
                    // Byte positions of Y0, Cb, Y1, Cr in each 4-byte macropixel.
                    let (y0, u, y1, v) = match f.fourcc {
                        V4L2_PIX_FMT_YUYV => (0, 1, 2, 3),
                        V4L2_PIX_FMT_UYVY => (1, 0, 3, 2),
                        _ => (0, 3, 2, 1),
                    };
                    let half = w / 2;
                    scratch.resize(w * h + 2 * half * h, 0);
                    let (yp, c) = scratch.split_at_mut(w * h);
                    let (up, vp) = c.split_at_mut(half * h);
                    for row in 0..h {
                        let src = &data[row * bpl..row * bpl + w * 2];
                        let yr = &mut yp[row * w..row * w + w];
                        let ur = &mut up[row * half..row * half + half];
                        let vr = &mut vp[row * half..row * half + half];
                        for (i, px) in src.chunks_exact(4).enumerate() {
                            yr[2 * i] = px[y0];
                            yr[2 * i + 1] = px[y1];
                            ur[i] = px[u];
                            vr[i] = px[v];
                        }
                    }
                    let (yp, c) = scratch.split_at(w * h);
                    let (up, vp) = c.split_at(half * h);
                    Input::Planes {
                        planes: [yp, up, vp],
                        strides: [w as i32, half as i32, half as i32],
                        count: 3,
                        subsamp: SAMP_422,
                    }
                }
                V4L2_PIX_FMT_NV12 | V4L2_PIX_FMT_NV21 => {
                    let bpl = stride(f.bytesperline, w);
                    let need = bpl * h + bpl * (ch - 1) + cw * 2;
                    if data.len() < need {
                        return Err(short(f, data.len(), need));
                    }
                    let (ci, cj) = if f.fourcc == V4L2_PIX_FMT_NV12 {
                        (0, 1)
                    } else {
                        (1, 0)
                    };
                    scratch.resize(2 * cw * ch, 0);
                    let (up, vp) = scratch.split_at_mut(cw * ch);
                    let uv = &data[bpl * h..];
                    for row in 0..ch {
                        let src = &uv[row * bpl..row * bpl + cw * 2];
                        for (i, px) in src.chunks_exact(2).enumerate() {
                            up[row * cw + i] = px[ci];
                            vp[row * cw + i] = px[cj];
                        }
                    }
                    let (up, vp) = scratch.split_at(cw * ch);
                    Input::Planes {
                        planes: [&data[..bpl * h], up, vp],
                        strides: [bpl as i32, cw as i32, cw as i32],
                        count: 3,
                        subsamp: SAMP_420,
                    }
                }
                V4L2_PIX_FMT_YUV420 | V4L2_PIX_FMT_YVU420 | V4L2_PIX_FMT_YUV422P => {
                    let bpl = stride(f.bytesperline, w);
                    let cbpl = bpl.div_ceil(2);
                    let crows = if f.fourcc == V4L2_PIX_FMT_YUV422P {
                        h
                    } else {
                        ch
                    };
                    let ysize = bpl * h;
                    let csize = cbpl * crows;
                    let need = ysize + 2 * csize;
                    if data.len() < need {
                        return Err(short(f, data.len(), need));
                    }
                    let a = &data[ysize..ysize + csize];
                    let b = &data[ysize + csize..ysize + 2 * csize];
                    let (u, v) = if f.fourcc == V4L2_PIX_FMT_YVU420 {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    Input::Planes {
                        planes: [&data[..ysize], u, v],
                        strides: [bpl as i32, cbpl as i32, cbpl as i32],
                        count: 3,
                        subsamp: if f.fourcc == V4L2_PIX_FMT_YUV422P {
                            SAMP_422
                        } else {
                            SAMP_420
                        },
                    }
                }
                V4L2_PIX_FMT_GREY => {
                    let bpl = stride(f.bytesperline, w);
                    let need = bpl * (h - 1) + w;
                    if data.len() < need {
                        return Err(short(f, data.len(), need));
                    }
                    Input::Planes {
                        planes: [data, &[], &[]],
                        strides: [bpl as i32, 0, 0],
                        count: 1,
                        subsamp: SAMP_GRAY,
                    }
                }
                fcc => {
                    let packed = match fcc {
                        V4L2_PIX_FMT_RGB24 => Some((3, tj::TJPF_TJPF_RGB)),
                        V4L2_PIX_FMT_BGR24 => Some((3, tj::TJPF_TJPF_BGR)),
                        // XBGR32/BGR32: bytes B, G, R, X.
                        V4L2_PIX_FMT_XBGR32 | V4L2_PIX_FMT_BGR32 => Some((4, tj::TJPF_TJPF_BGRX)),
                        // XRGB32/RGB32: bytes X, R, G, B.
                        V4L2_PIX_FMT_XRGB32 | V4L2_PIX_FMT_RGB32 => Some((4, tj::TJPF_TJPF_XRGB)),
                        _ => None,
                    };
                    if let Some((bpp, pf)) = packed {
                        let bpl = stride(f.bytesperline, w * bpp);
                        let need = bpl * (h - 1) + w * bpp;
                        if data.len() < need {
                            return Err(short(f, data.len(), need));
                        }
                        Input::Packed {
                            data,
                            pitch: bpl as i32,
                            pixel_format: pf,
                        }
                    } else {
                        // Anything else loopcam-media can read (RGB565, …): through RGB24. It
                        // expects tightly packed frames.
                        let l = loopcam_media::layout(fcc, f.width, f.height).map_err(|_| {
                            EncodeError::Unsupported(loopcam_media::fourcc_name(fcc))
                        })?;
                        if l.is_compressed() {
                            return Err(EncodeError::Unsupported(loopcam_media::fourcc_name(fcc)));
                        }
                        if data.len() < l.sizeimage {
                            return Err(short(f, data.len(), l.sizeimage));
                        }
                        let rgb = loopcam_media::frame_to_rgb(&l, &data[..l.sizeimage])
                            .map_err(|e| EncodeError::Unsupported(e.to_string()))?;
                        scratch.clear();
                        scratch.extend_from_slice(&rgb.data);
                        Input::Packed {
                            data: &scratch,
                            pitch: (w * 3) as i32,
                            pixel_format: tj::TJPF_TJPF_RGB,
                        }
                    }
                }
            };
            self.compress(f.width, f.height, input)
        })();
        self.scratch = scratch;
        result
    }

    fn compress(
        &mut self,
        width: u32,
        height: u32,
        input: Input<'_>,
    ) -> Result<Vec<u8>, EncodeError> {
        let subsamp = match &input {
            Input::Planes { subsamp, .. } => *subsamp,
            Input::Packed { .. } => SAMP_420,
        };
        self.reserve_output(width, height, subsamp)?;
        let mut out = self.out;
        let mut size = self.out_cap as libc::c_ulong;
        let flags = tj::TJFLAG_NOREALLOC as i32;
        let rc = match input {
            Input::Planes {
                planes,
                strides,
                count,
                subsamp,
            } => {
                let mut ptrs: [*const u8; 3] = [std::ptr::null(); 3];
                for i in 0..count {
                    ptrs[i] = planes[i].as_ptr();
                }
                // SAFETY: every plane slice was checked by the caller to hold `stride × rows`
                // bytes for the rows TurboJPEG reads (rows = height, or ceil(height/2) for
                // 4:2:0 chroma; chroma width = ceil(width/2)); unused plane pointers are NULL
                // for grayscale, which TurboJPEG ignores. `out` has `out_cap` bytes, the
                // worst case from tjBufSize, and NOREALLOC forbids reallocation.
                unsafe {
                    tj::tjCompressFromYUVPlanes(
                        self.handle,
                        ptrs.as_mut_ptr(),
                        width as i32,
                        strides.as_ptr(),
                        height as i32,
                        subsamp,
                        &mut out,
                        &mut size,
                        self.quality,
                        flags,
                    )
                }
            }
            Input::Packed {
                data,
                pitch,
                pixel_format,
            } => {
                // SAFETY: `data` holds `pitch × (height-1) + width × bpp` bytes (checked by
                // the caller); output as above.
                unsafe {
                    tj::tjCompress2(
                        self.handle,
                        data.as_ptr(),
                        width as i32,
                        pitch,
                        height as i32,
                        pixel_format,
                        &mut out,
                        &mut size,
                        SAMP_420,
                        self.quality,
                        flags,
                    )
                }
            }
        };
        if rc != 0 {
            return Err(EncodeError::Turbo(self.last_error()));
        }
        if out != self.out || size as usize > self.out_cap {
            // NOREALLOC was violated: never happens with a conforming library.
            return Err(EncodeError::Turbo("output buffer reallocated".into()));
        }
        // SAFETY: TurboJPEG wrote `size` bytes (≤ out_cap, checked) into `out`.
        Ok(unsafe { std::slice::from_raw_parts(self.out, size as usize) }.to_vec())
    }
}

fn stride(bytesperline: u32, min: usize) -> usize {
    (bytesperline as usize).max(min)
}

impl Drop for JpegEncoder {
    fn drop(&mut self) {
        // SAFETY: `out` is NULL or from tjAlloc; `handle` is from tjInitCompress; both are
        // released exactly once here.
        unsafe {
            tj::tjFree(self.out);
            tj::tjDestroy(self.handle);
        }
    }
}

/// Whether `data` is a complete JPEG as ustreamer checks it: at least 125 bytes, starts with
/// SOI (FF D8) and ends with EOI (FF D9), allowing the zero padding some cameras append.
/// Returns the length up to and including EOI.
pub fn jpeg_payload(data: &[u8]) -> Option<usize> {
    if data.len() < 125 || data[0] != 0xFF || data[1] != 0xD8 {
        return None;
    }
    let mut end = data.len();
    // Tolerate trailing zero padding (ustreamer accepts frames ending in D9 00 / 00 00).
    let limit = end.saturating_sub(64 * 1024).max(2);
    while end > limit && data[end - 1] == 0 {
        end -= 1;
    }
    if end >= 2 && data[end - 2] == 0xFF && data[end - 1] == 0xD9 {
        Some(end)
    } else {
        None
    }
}
