//! Constants from `linux/videodev2.h`, `linux/v4l2-controls.h` and
//! `linux/v4l2-common.h`, with their C names, plus the v4l2loopback private
//! control ids. C enums are plain `u32` constants.

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

pub const VIDEO_MAX_FRAME: u32 = 32;
pub const VIDEO_MAX_PLANES: u32 = 8;

/// `KERNEL_VERSION(a, b, c)`: `a << 16 | b << 8 | c` (b and c saturate at 255).
pub const fn kernel_version(a: u32, b: u32, c: u32) -> u32 {
    let b = if b > 255 { 255 } else { b };
    let c = if c > 255 { 255 } else { c };
    (a << 16) | (b << 8) | c
}

// ---------------------------------------------------------------------------
// enum v4l2_field
// ---------------------------------------------------------------------------

pub const V4L2_FIELD_ANY: u32 = 0;
pub const V4L2_FIELD_NONE: u32 = 1;
pub const V4L2_FIELD_TOP: u32 = 2;
pub const V4L2_FIELD_BOTTOM: u32 = 3;
pub const V4L2_FIELD_INTERLACED: u32 = 4;
pub const V4L2_FIELD_SEQ_TB: u32 = 5;
pub const V4L2_FIELD_SEQ_BT: u32 = 6;
pub const V4L2_FIELD_ALTERNATE: u32 = 7;
pub const V4L2_FIELD_INTERLACED_TB: u32 = 8;
pub const V4L2_FIELD_INTERLACED_BT: u32 = 9;

// ---------------------------------------------------------------------------
// enum v4l2_buf_type
// ---------------------------------------------------------------------------

pub const V4L2_BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
pub const V4L2_BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
pub const V4L2_BUF_TYPE_VIDEO_OVERLAY: u32 = 3;
pub const V4L2_BUF_TYPE_VBI_CAPTURE: u32 = 4;
pub const V4L2_BUF_TYPE_VBI_OUTPUT: u32 = 5;
pub const V4L2_BUF_TYPE_SLICED_VBI_CAPTURE: u32 = 6;
pub const V4L2_BUF_TYPE_SLICED_VBI_OUTPUT: u32 = 7;
pub const V4L2_BUF_TYPE_VIDEO_OUTPUT_OVERLAY: u32 = 8;
pub const V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE: u32 = 9;
pub const V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE: u32 = 10;
pub const V4L2_BUF_TYPE_SDR_CAPTURE: u32 = 11;
pub const V4L2_BUF_TYPE_SDR_OUTPUT: u32 = 12;
pub const V4L2_BUF_TYPE_META_CAPTURE: u32 = 13;
pub const V4L2_BUF_TYPE_META_OUTPUT: u32 = 14;
/// Deprecated.
pub const V4L2_BUF_TYPE_PRIVATE: u32 = 0x80;

/// `V4L2_TYPE_IS_MULTIPLANAR(type)`.
pub const fn v4l2_type_is_multiplanar(type_: u32) -> bool {
    type_ == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || type_ == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
}

/// `V4L2_TYPE_IS_OUTPUT(type)`.
pub const fn v4l2_type_is_output(type_: u32) -> bool {
    matches!(
        type_,
        V4L2_BUF_TYPE_VIDEO_OUTPUT
            | V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
            | V4L2_BUF_TYPE_VIDEO_OVERLAY
            | V4L2_BUF_TYPE_VIDEO_OUTPUT_OVERLAY
            | V4L2_BUF_TYPE_VBI_OUTPUT
            | V4L2_BUF_TYPE_SLICED_VBI_OUTPUT
            | V4L2_BUF_TYPE_SDR_OUTPUT
            | V4L2_BUF_TYPE_META_OUTPUT
    )
}

/// `V4L2_TYPE_IS_CAPTURE(type)` (= `!V4L2_TYPE_IS_OUTPUT(type)`).
pub const fn v4l2_type_is_capture(type_: u32) -> bool {
    !v4l2_type_is_output(type_)
}

// ---------------------------------------------------------------------------
// enum v4l2_tuner_type
// ---------------------------------------------------------------------------

pub const V4L2_TUNER_RADIO: u32 = 1;
pub const V4L2_TUNER_ANALOG_TV: u32 = 2;
pub const V4L2_TUNER_DIGITAL_TV: u32 = 3;
pub const V4L2_TUNER_SDR: u32 = 4;
pub const V4L2_TUNER_RF: u32 = 5;

// ---------------------------------------------------------------------------
// enum v4l2_memory
// ---------------------------------------------------------------------------

pub const V4L2_MEMORY_MMAP: u32 = 1;
pub const V4L2_MEMORY_USERPTR: u32 = 2;
pub const V4L2_MEMORY_OVERLAY: u32 = 3;
pub const V4L2_MEMORY_DMABUF: u32 = 4;

/// `v4l2_requestbuffers.flags` / `v4l2_create_buffers.flags`.
pub const V4L2_MEMORY_FLAG_NON_COHERENT: u32 = 1 << 0;

// ---------------------------------------------------------------------------
// Colorimetry: enum v4l2_colorspace / xfer_func / ycbcr_encoding / hsv / quantization
// ---------------------------------------------------------------------------

pub const V4L2_COLORSPACE_DEFAULT: u32 = 0;
pub const V4L2_COLORSPACE_SMPTE170M: u32 = 1;
pub const V4L2_COLORSPACE_SMPTE240M: u32 = 2;
pub const V4L2_COLORSPACE_REC709: u32 = 3;
/// Deprecated; no driver may return it.
pub const V4L2_COLORSPACE_BT878: u32 = 4;
pub const V4L2_COLORSPACE_470_SYSTEM_M: u32 = 5;
pub const V4L2_COLORSPACE_470_SYSTEM_BG: u32 = 6;
pub const V4L2_COLORSPACE_JPEG: u32 = 7;
pub const V4L2_COLORSPACE_SRGB: u32 = 8;
pub const V4L2_COLORSPACE_OPRGB: u32 = 9;
pub const V4L2_COLORSPACE_BT2020: u32 = 10;
pub const V4L2_COLORSPACE_RAW: u32 = 11;
pub const V4L2_COLORSPACE_DCI_P3: u32 = 12;

pub const V4L2_XFER_FUNC_DEFAULT: u32 = 0;
pub const V4L2_XFER_FUNC_709: u32 = 1;
pub const V4L2_XFER_FUNC_SRGB: u32 = 2;
pub const V4L2_XFER_FUNC_OPRGB: u32 = 3;
pub const V4L2_XFER_FUNC_SMPTE240M: u32 = 4;
pub const V4L2_XFER_FUNC_NONE: u32 = 5;
pub const V4L2_XFER_FUNC_DCI_P3: u32 = 6;
pub const V4L2_XFER_FUNC_SMPTE2084: u32 = 7;

pub const V4L2_YCBCR_ENC_DEFAULT: u32 = 0;
pub const V4L2_YCBCR_ENC_601: u32 = 1;
pub const V4L2_YCBCR_ENC_709: u32 = 2;
pub const V4L2_YCBCR_ENC_XV601: u32 = 3;
pub const V4L2_YCBCR_ENC_XV709: u32 = 4;
/// Userspace-only alias, identical to ENC_601; should not be used.
pub const V4L2_YCBCR_ENC_SYCC: u32 = 5;
pub const V4L2_YCBCR_ENC_BT2020: u32 = 6;
pub const V4L2_YCBCR_ENC_BT2020_CONST_LUM: u32 = 7;
pub const V4L2_YCBCR_ENC_SMPTE240M: u32 = 8;

pub const V4L2_HSV_ENC_180: u32 = 128;
pub const V4L2_HSV_ENC_256: u32 = 129;

pub const V4L2_QUANTIZATION_DEFAULT: u32 = 0;
pub const V4L2_QUANTIZATION_FULL_RANGE: u32 = 1;
pub const V4L2_QUANTIZATION_LIM_RANGE: u32 = 2;

// ---------------------------------------------------------------------------
// enum v4l2_priority
// ---------------------------------------------------------------------------

pub const V4L2_PRIORITY_UNSET: u32 = 0;
pub const V4L2_PRIORITY_BACKGROUND: u32 = 1;
pub const V4L2_PRIORITY_INTERACTIVE: u32 = 2;
pub const V4L2_PRIORITY_RECORD: u32 = 3;
pub const V4L2_PRIORITY_DEFAULT: u32 = V4L2_PRIORITY_INTERACTIVE;

// ---------------------------------------------------------------------------
// v4l2_capability.capabilities / device_caps
// ---------------------------------------------------------------------------

pub const V4L2_CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
pub const V4L2_CAP_VIDEO_OUTPUT: u32 = 0x0000_0002;
pub const V4L2_CAP_VIDEO_OVERLAY: u32 = 0x0000_0004;
pub const V4L2_CAP_VBI_CAPTURE: u32 = 0x0000_0010;
pub const V4L2_CAP_VBI_OUTPUT: u32 = 0x0000_0020;
pub const V4L2_CAP_SLICED_VBI_CAPTURE: u32 = 0x0000_0040;
pub const V4L2_CAP_SLICED_VBI_OUTPUT: u32 = 0x0000_0080;
pub const V4L2_CAP_RDS_CAPTURE: u32 = 0x0000_0100;
pub const V4L2_CAP_VIDEO_OUTPUT_OVERLAY: u32 = 0x0000_0200;
pub const V4L2_CAP_HW_FREQ_SEEK: u32 = 0x0000_0400;
pub const V4L2_CAP_RDS_OUTPUT: u32 = 0x0000_0800;
pub const V4L2_CAP_VIDEO_CAPTURE_MPLANE: u32 = 0x0000_1000;
pub const V4L2_CAP_VIDEO_OUTPUT_MPLANE: u32 = 0x0000_2000;
pub const V4L2_CAP_VIDEO_M2M_MPLANE: u32 = 0x0000_4000;
pub const V4L2_CAP_VIDEO_M2M: u32 = 0x0000_8000;
pub const V4L2_CAP_TUNER: u32 = 0x0001_0000;
pub const V4L2_CAP_AUDIO: u32 = 0x0002_0000;
pub const V4L2_CAP_RADIO: u32 = 0x0004_0000;
pub const V4L2_CAP_MODULATOR: u32 = 0x0008_0000;
pub const V4L2_CAP_SDR_CAPTURE: u32 = 0x0010_0000;
pub const V4L2_CAP_EXT_PIX_FORMAT: u32 = 0x0020_0000;
pub const V4L2_CAP_SDR_OUTPUT: u32 = 0x0040_0000;
pub const V4L2_CAP_META_CAPTURE: u32 = 0x0080_0000;
pub const V4L2_CAP_READWRITE: u32 = 0x0100_0000;
pub const V4L2_CAP_EDID: u32 = 0x0200_0000;
/// Old, never-implemented name of the `V4L2_CAP_EDID` bit.
pub const V4L2_CAP_ASYNCIO: u32 = 0x0200_0000;
pub const V4L2_CAP_STREAMING: u32 = 0x0400_0000;
pub const V4L2_CAP_META_OUTPUT: u32 = 0x0800_0000;
pub const V4L2_CAP_TOUCH: u32 = 0x1000_0000;
pub const V4L2_CAP_IO_MC: u32 = 0x2000_0000;
pub const V4L2_CAP_DEVICE_CAPS: u32 = 0x8000_0000;

// ---------------------------------------------------------------------------
// Pixel format flags (v4l2_pix_format.priv / .flags)
// ---------------------------------------------------------------------------

/// `v4l2_pix_format.priv` value meaning "the extended fields are valid".
pub const V4L2_PIX_FMT_PRIV_MAGIC: u32 = 0xfeed_cafe;
pub const V4L2_PIX_FMT_FLAG_PREMUL_ALPHA: u32 = 0x0000_0001;
pub const V4L2_PIX_FMT_FLAG_SET_CSC: u32 = 0x0000_0002;

// ---------------------------------------------------------------------------
// v4l2_fmtdesc
// ---------------------------------------------------------------------------

pub const V4L2_FMT_FLAG_COMPRESSED: u32 = 0x0001;
pub const V4L2_FMT_FLAG_EMULATED: u32 = 0x0002;
pub const V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM: u32 = 0x0004;
pub const V4L2_FMT_FLAG_DYN_RESOLUTION: u32 = 0x0008;
pub const V4L2_FMT_FLAG_ENC_CAP_FRAME_INTERVAL: u32 = 0x0010;
pub const V4L2_FMT_FLAG_CSC_COLORSPACE: u32 = 0x0020;
pub const V4L2_FMT_FLAG_CSC_XFER_FUNC: u32 = 0x0040;
pub const V4L2_FMT_FLAG_CSC_YCBCR_ENC: u32 = 0x0080;
pub const V4L2_FMT_FLAG_CSC_HSV_ENC: u32 = V4L2_FMT_FLAG_CSC_YCBCR_ENC;
pub const V4L2_FMT_FLAG_CSC_QUANTIZATION: u32 = 0x0100;
pub const V4L2_FMT_FLAG_META_LINE_BASED: u32 = 0x0200;

/// ORed into `v4l2_fmtdesc.index` to enumerate all formats regardless of the
/// current configuration (Linux 6.14+).
pub const V4L2_FMTDESC_FLAG_ENUM_ALL: u32 = 0x8000_0000;

// ---------------------------------------------------------------------------
// Frame size / interval types
// ---------------------------------------------------------------------------

pub const V4L2_FRMSIZE_TYPE_DISCRETE: u32 = 1;
pub const V4L2_FRMSIZE_TYPE_CONTINUOUS: u32 = 2;
pub const V4L2_FRMSIZE_TYPE_STEPWISE: u32 = 3;

pub const V4L2_FRMIVAL_TYPE_DISCRETE: u32 = 1;
pub const V4L2_FRMIVAL_TYPE_CONTINUOUS: u32 = 2;
pub const V4L2_FRMIVAL_TYPE_STEPWISE: u32 = 3;

// ---------------------------------------------------------------------------
// Timecode
// ---------------------------------------------------------------------------

pub const V4L2_TC_TYPE_24FPS: u32 = 1;
pub const V4L2_TC_TYPE_25FPS: u32 = 2;
pub const V4L2_TC_TYPE_30FPS: u32 = 3;
pub const V4L2_TC_TYPE_50FPS: u32 = 4;
pub const V4L2_TC_TYPE_60FPS: u32 = 5;
pub const V4L2_TC_FLAG_DROPFRAME: u32 = 0x0001;
pub const V4L2_TC_FLAG_COLORFRAME: u32 = 0x0002;

// ---------------------------------------------------------------------------
// REQBUFS / CREATE_BUFS capabilities
// ---------------------------------------------------------------------------

pub const V4L2_BUF_CAP_SUPPORTS_MMAP: u32 = 1 << 0;
pub const V4L2_BUF_CAP_SUPPORTS_USERPTR: u32 = 1 << 1;
pub const V4L2_BUF_CAP_SUPPORTS_DMABUF: u32 = 1 << 2;
pub const V4L2_BUF_CAP_SUPPORTS_REQUESTS: u32 = 1 << 3;
pub const V4L2_BUF_CAP_SUPPORTS_ORPHANED_BUFS: u32 = 1 << 4;
pub const V4L2_BUF_CAP_SUPPORTS_M2M_HOLD_CAPTURE_BUF: u32 = 1 << 5;
pub const V4L2_BUF_CAP_SUPPORTS_MMAP_CACHE_HINTS: u32 = 1 << 6;
pub const V4L2_BUF_CAP_SUPPORTS_MAX_NUM_BUFFERS: u32 = 1 << 7;
pub const V4L2_BUF_CAP_SUPPORTS_REMOVE_BUFS: u32 = 1 << 8;

// ---------------------------------------------------------------------------
// v4l2_buffer.flags
// ---------------------------------------------------------------------------

pub const V4L2_BUF_FLAG_MAPPED: u32 = 0x0000_0001;
pub const V4L2_BUF_FLAG_QUEUED: u32 = 0x0000_0002;
pub const V4L2_BUF_FLAG_DONE: u32 = 0x0000_0004;
pub const V4L2_BUF_FLAG_KEYFRAME: u32 = 0x0000_0008;
pub const V4L2_BUF_FLAG_PFRAME: u32 = 0x0000_0010;
pub const V4L2_BUF_FLAG_BFRAME: u32 = 0x0000_0020;
pub const V4L2_BUF_FLAG_ERROR: u32 = 0x0000_0040;
pub const V4L2_BUF_FLAG_IN_REQUEST: u32 = 0x0000_0080;
pub const V4L2_BUF_FLAG_TIMECODE: u32 = 0x0000_0100;
pub const V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF: u32 = 0x0000_0200;
pub const V4L2_BUF_FLAG_PREPARED: u32 = 0x0000_0400;
pub const V4L2_BUF_FLAG_NO_CACHE_INVALIDATE: u32 = 0x0000_0800;
pub const V4L2_BUF_FLAG_NO_CACHE_CLEAN: u32 = 0x0000_1000;
pub const V4L2_BUF_FLAG_TIMESTAMP_MASK: u32 = 0x0000_e000;
pub const V4L2_BUF_FLAG_TIMESTAMP_UNKNOWN: u32 = 0x0000_0000;
pub const V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC: u32 = 0x0000_2000;
pub const V4L2_BUF_FLAG_TIMESTAMP_COPY: u32 = 0x0000_4000;
pub const V4L2_BUF_FLAG_TSTAMP_SRC_MASK: u32 = 0x0007_0000;
pub const V4L2_BUF_FLAG_TSTAMP_SRC_EOF: u32 = 0x0000_0000;
pub const V4L2_BUF_FLAG_TSTAMP_SRC_SOE: u32 = 0x0001_0000;
pub const V4L2_BUF_FLAG_LAST: u32 = 0x0010_0000;
pub const V4L2_BUF_FLAG_REQUEST_FD: u32 = 0x0080_0000;

// ---------------------------------------------------------------------------
// Streaming parameters (v4l2_captureparm / v4l2_outputparm)
// ---------------------------------------------------------------------------

/// `capturemode`/`outputmode` and `capability` bit.
pub const V4L2_MODE_HIGHQUALITY: u32 = 0x0001;
/// `capability` bit: `timeperframe` is supported.
pub const V4L2_CAP_TIMEPERFRAME: u32 = 0x1000;

// ---------------------------------------------------------------------------
// Inputs / outputs
// ---------------------------------------------------------------------------

pub const V4L2_INPUT_TYPE_TUNER: u32 = 1;
pub const V4L2_INPUT_TYPE_CAMERA: u32 = 2;
pub const V4L2_INPUT_TYPE_TOUCH: u32 = 3;

pub const V4L2_IN_ST_NO_POWER: u32 = 0x0000_0001;
pub const V4L2_IN_ST_NO_SIGNAL: u32 = 0x0000_0002;
pub const V4L2_IN_ST_NO_COLOR: u32 = 0x0000_0004;
pub const V4L2_IN_ST_HFLIP: u32 = 0x0000_0010;
pub const V4L2_IN_ST_VFLIP: u32 = 0x0000_0020;
pub const V4L2_IN_ST_NO_H_LOCK: u32 = 0x0000_0100;
pub const V4L2_IN_ST_COLOR_KILL: u32 = 0x0000_0200;
pub const V4L2_IN_ST_NO_V_LOCK: u32 = 0x0000_0400;
pub const V4L2_IN_ST_NO_STD_LOCK: u32 = 0x0000_0800;
pub const V4L2_IN_ST_NO_SYNC: u32 = 0x0001_0000;
pub const V4L2_IN_ST_NO_EQU: u32 = 0x0002_0000;
pub const V4L2_IN_ST_NO_CARRIER: u32 = 0x0004_0000;
pub const V4L2_IN_ST_MACROVISION: u32 = 0x0100_0000;
pub const V4L2_IN_ST_NO_ACCESS: u32 = 0x0200_0000;
pub const V4L2_IN_ST_VTR: u32 = 0x0400_0000;

pub const V4L2_IN_CAP_DV_TIMINGS: u32 = 0x0000_0002;
pub const V4L2_IN_CAP_CUSTOM_TIMINGS: u32 = V4L2_IN_CAP_DV_TIMINGS;
pub const V4L2_IN_CAP_STD: u32 = 0x0000_0004;
pub const V4L2_IN_CAP_NATIVE_SIZE: u32 = 0x0000_0008;

pub const V4L2_OUTPUT_TYPE_MODULATOR: u32 = 1;
pub const V4L2_OUTPUT_TYPE_ANALOG: u32 = 2;
pub const V4L2_OUTPUT_TYPE_ANALOGVGAOVERLAY: u32 = 3;

pub const V4L2_OUT_CAP_DV_TIMINGS: u32 = 0x0000_0002;
pub const V4L2_OUT_CAP_CUSTOM_TIMINGS: u32 = V4L2_OUT_CAP_DV_TIMINGS;
pub const V4L2_OUT_CAP_STD: u32 = 0x0000_0004;
pub const V4L2_OUT_CAP_NATIVE_SIZE: u32 = 0x0000_0008;

/// `v4l2_std_id` with no standard.
pub const V4L2_STD_UNKNOWN: u64 = 0;

// ---------------------------------------------------------------------------
// Selection targets and flags (linux/v4l2-common.h)
// ---------------------------------------------------------------------------

pub const V4L2_SEL_TGT_CROP: u32 = 0x0000;
pub const V4L2_SEL_TGT_CROP_DEFAULT: u32 = 0x0001;
pub const V4L2_SEL_TGT_CROP_BOUNDS: u32 = 0x0002;
pub const V4L2_SEL_TGT_NATIVE_SIZE: u32 = 0x0003;
pub const V4L2_SEL_TGT_COMPOSE: u32 = 0x0100;
pub const V4L2_SEL_TGT_COMPOSE_DEFAULT: u32 = 0x0101;
pub const V4L2_SEL_TGT_COMPOSE_BOUNDS: u32 = 0x0102;
pub const V4L2_SEL_TGT_COMPOSE_PADDED: u32 = 0x0103;

pub const V4L2_SEL_FLAG_GE: u32 = 1 << 0;
pub const V4L2_SEL_FLAG_LE: u32 = 1 << 1;
pub const V4L2_SEL_FLAG_KEEP_CONFIG: u32 = 1 << 2;

// ---------------------------------------------------------------------------
// Controls
// ---------------------------------------------------------------------------

pub const V4L2_CTRL_ID_MASK: u32 = 0x0fff_ffff;
pub const V4L2_CTRL_MAX_DIMS: u32 = 4;
pub const V4L2_CTRL_WHICH_CUR_VAL: u32 = 0;
pub const V4L2_CTRL_WHICH_DEF_VAL: u32 = 0x0f00_0000;
pub const V4L2_CTRL_WHICH_REQUEST_VAL: u32 = 0x0f01_0000;

/// `V4L2_CTRL_ID2WHICH(id)`: the control class (`which`) of a control id.
pub const fn v4l2_ctrl_id2which(id: u32) -> u32 {
    id & 0x0fff_0000
}

/// `V4L2_CTRL_ID2CLASS(id)` (userspace alias of `V4L2_CTRL_ID2WHICH`).
pub const fn v4l2_ctrl_id2class(id: u32) -> u32 {
    id & 0x0fff_0000
}

/// `V4L2_CTRL_DRIVER_PRIV(id)`: the id is in the driver-private range of its class.
pub const fn v4l2_ctrl_driver_priv(id: u32) -> bool {
    (id & 0xffff) >= 0x1000
}

// enum v4l2_ctrl_type
pub const V4L2_CTRL_TYPE_INTEGER: u32 = 1;
pub const V4L2_CTRL_TYPE_BOOLEAN: u32 = 2;
pub const V4L2_CTRL_TYPE_MENU: u32 = 3;
pub const V4L2_CTRL_TYPE_BUTTON: u32 = 4;
pub const V4L2_CTRL_TYPE_INTEGER64: u32 = 5;
pub const V4L2_CTRL_TYPE_CTRL_CLASS: u32 = 6;
pub const V4L2_CTRL_TYPE_STRING: u32 = 7;
pub const V4L2_CTRL_TYPE_BITMASK: u32 = 8;
pub const V4L2_CTRL_TYPE_INTEGER_MENU: u32 = 9;
pub const V4L2_CTRL_COMPOUND_TYPES: u32 = 0x0100;
pub const V4L2_CTRL_TYPE_U8: u32 = 0x0100;
pub const V4L2_CTRL_TYPE_U16: u32 = 0x0101;
pub const V4L2_CTRL_TYPE_U32: u32 = 0x0102;
pub const V4L2_CTRL_TYPE_AREA: u32 = 0x0106;

// Control flags
pub const V4L2_CTRL_FLAG_DISABLED: u32 = 0x0001;
pub const V4L2_CTRL_FLAG_GRABBED: u32 = 0x0002;
pub const V4L2_CTRL_FLAG_READ_ONLY: u32 = 0x0004;
pub const V4L2_CTRL_FLAG_UPDATE: u32 = 0x0008;
pub const V4L2_CTRL_FLAG_INACTIVE: u32 = 0x0010;
pub const V4L2_CTRL_FLAG_SLIDER: u32 = 0x0020;
pub const V4L2_CTRL_FLAG_WRITE_ONLY: u32 = 0x0040;
pub const V4L2_CTRL_FLAG_VOLATILE: u32 = 0x0080;
pub const V4L2_CTRL_FLAG_HAS_PAYLOAD: u32 = 0x0100;
pub const V4L2_CTRL_FLAG_EXECUTE_ON_WRITE: u32 = 0x0200;
pub const V4L2_CTRL_FLAG_MODIFY_LAYOUT: u32 = 0x0400;
pub const V4L2_CTRL_FLAG_DYNAMIC_ARRAY: u32 = 0x0800;
/// Query flag ORed into the id: next control after `id`.
pub const V4L2_CTRL_FLAG_NEXT_CTRL: u32 = 0x8000_0000;
/// Query flag ORed into the id: include compound controls.
pub const V4L2_CTRL_FLAG_NEXT_COMPOUND: u32 = 0x4000_0000;

pub const V4L2_CID_MAX_CTRLS: u32 = 1024;
/// Ids reserved for old-style driver-private controls; no real id may be ≥ this.
pub const V4L2_CID_PRIVATE_BASE: u32 = 0x0800_0000;

// Control classes (linux/v4l2-controls.h)
pub const V4L2_CTRL_CLASS_USER: u32 = 0x0098_0000;
pub const V4L2_CTRL_CLASS_CODEC: u32 = 0x0099_0000;
pub const V4L2_CTRL_CLASS_CAMERA: u32 = 0x009a_0000;

// User-class controls
pub const V4L2_CID_BASE: u32 = V4L2_CTRL_CLASS_USER | 0x900;
pub const V4L2_CID_USER_BASE: u32 = V4L2_CID_BASE;
pub const V4L2_CID_USER_CLASS: u32 = V4L2_CTRL_CLASS_USER | 1;
pub const V4L2_CID_BRIGHTNESS: u32 = V4L2_CID_BASE;
pub const V4L2_CID_CONTRAST: u32 = V4L2_CID_BASE + 1;
pub const V4L2_CID_SATURATION: u32 = V4L2_CID_BASE + 2;
pub const V4L2_CID_HUE: u32 = V4L2_CID_BASE + 3;
pub const V4L2_CID_AUTOGAIN: u32 = V4L2_CID_BASE + 18;
pub const V4L2_CID_GAIN: u32 = V4L2_CID_BASE + 19;
pub const V4L2_CID_HFLIP: u32 = V4L2_CID_BASE + 20;
pub const V4L2_CID_VFLIP: u32 = V4L2_CID_BASE + 21;
pub const V4L2_CID_MIN_BUFFERS_FOR_CAPTURE: u32 = V4L2_CID_BASE + 39;
pub const V4L2_CID_MIN_BUFFERS_FOR_OUTPUT: u32 = V4L2_CID_BASE + 40;
/// One past the last standard user-class control id.
pub const V4L2_CID_LASTP1: u32 = V4L2_CID_BASE + 44;

// v4l2loopback private controls: V4L2LOOPBACK_CID_BASE = V4L2_CID_USER_BASE | 0xf000
// (v4l2loopback.c, "control IDs"; all recent versions).

/// Base of the v4l2loopback private controls (`V4L2_CID_USER_BASE | 0xf000`).
pub const LOOPBACK_CID_BASE: u32 = V4L2_CID_USER_BASE | 0xf000;
/// `keep_format` (BOOLEAN), 0x0098f900.
pub const LOOPBACK_CID_KEEP_FORMAT: u32 = LOOPBACK_CID_BASE;
/// `sustain_framerate` (BOOLEAN), 0x0098f901.
pub const LOOPBACK_CID_SUSTAIN_FRAMERATE: u32 = LOOPBACK_CID_BASE + 1;
/// `timeout` (INTEGER, ms), 0x0098f902.
pub const LOOPBACK_CID_TIMEOUT: u32 = LOOPBACK_CID_BASE + 2;
/// `timeout_image_io` (BUTTON), 0x0098f903.
pub const LOOPBACK_CID_TIMEOUT_IMAGE_IO: u32 = LOOPBACK_CID_BASE + 3;

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

pub const V4L2_EVENT_ALL: u32 = 0;
pub const V4L2_EVENT_VSYNC: u32 = 1;
pub const V4L2_EVENT_EOS: u32 = 2;
pub const V4L2_EVENT_CTRL: u32 = 3;
pub const V4L2_EVENT_FRAME_SYNC: u32 = 4;
pub const V4L2_EVENT_SOURCE_CHANGE: u32 = 5;
pub const V4L2_EVENT_MOTION_DET: u32 = 6;
pub const V4L2_EVENT_PRIVATE_START: u32 = 0x0800_0000;

pub const V4L2_EVENT_CTRL_CH_VALUE: u32 = 1 << 0;
pub const V4L2_EVENT_CTRL_CH_FLAGS: u32 = 1 << 1;
pub const V4L2_EVENT_CTRL_CH_RANGE: u32 = 1 << 2;
pub const V4L2_EVENT_CTRL_CH_DIMENSIONS: u32 = 1 << 3;

pub const V4L2_EVENT_SRC_CH_RESOLUTION: u32 = 1 << 0;

pub const V4L2_EVENT_MD_FL_HAVE_FRAME_SEQ: u32 = 1 << 0;

pub const V4L2_EVENT_SUB_FL_SEND_INITIAL: u32 = 1 << 0;
pub const V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK: u32 = 1 << 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_ids() {
        assert_eq!(V4L2_CID_BASE, 0x0098_0900);
        assert_eq!(V4L2_CID_USER_CLASS, 0x0098_0001);
        assert_eq!(V4L2_CID_LASTP1, 0x0098_092c);
        assert_eq!(V4L2_CID_MIN_BUFFERS_FOR_CAPTURE, 0x0098_0927);
        assert_eq!(LOOPBACK_CID_KEEP_FORMAT, 0x0098_f900);
        assert_eq!(LOOPBACK_CID_SUSTAIN_FRAMERATE, 0x0098_f901);
        assert_eq!(LOOPBACK_CID_TIMEOUT, 0x0098_f902);
        assert_eq!(LOOPBACK_CID_TIMEOUT_IMAGE_IO, 0x0098_f903);
        assert_eq!(
            v4l2_ctrl_id2which(LOOPBACK_CID_TIMEOUT),
            V4L2_CTRL_CLASS_USER
        );
        assert!(v4l2_ctrl_driver_priv(LOOPBACK_CID_KEEP_FORMAT));
        assert!(!v4l2_ctrl_driver_priv(V4L2_CID_BRIGHTNESS));
        const { assert!(LOOPBACK_CID_TIMEOUT_IMAGE_IO < V4L2_CID_PRIVATE_BASE) };
    }

    #[test]
    fn helpers() {
        assert_eq!(kernel_version(6, 8, 0), 0x0006_0800);
        assert_eq!(kernel_version(5, 10, 300), 0x0005_0aff);
        assert!(v4l2_type_is_output(V4L2_BUF_TYPE_VIDEO_OUTPUT));
        assert!(v4l2_type_is_capture(V4L2_BUF_TYPE_VIDEO_CAPTURE));
        assert!(v4l2_type_is_multiplanar(V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE));
        assert!(!v4l2_type_is_multiplanar(V4L2_BUF_TYPE_VIDEO_OUTPUT));
    }
}
