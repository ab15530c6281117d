//! Device management requests.

use loopcam_proto::{DeviceInfo, DeviceSpec, Request, Response};

use crate::{Connection, Error};

/// A management connection.
pub struct Manager {
    conn: Connection,
}

fn expect_device(r: (Response, Option<std::os::fd::OwnedFd>)) -> Result<DeviceInfo, Error> {
    match r.0 {
        Response::Device(d) => Ok(d),
        Response::Error { errno, message } => Err(Error::Daemon { errno, message }),
        other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
    }
}

impl Manager {
    /// Connects to the default socket.
    pub fn connect() -> Result<Manager, Error> {
        Ok(Manager {
            conn: Connection::connect_default()?,
        })
    }

    /// Uses an existing connection.
    pub fn with(conn: Connection) -> Manager {
        Manager { conn }
    }

    /// `loopcam add`.
    pub fn add(&mut self, spec: DeviceSpec) -> Result<DeviceInfo, Error> {
        expect_device(self.conn.call(&Request::AddDevice(spec), &[])?)
    }

    /// `loopcam delete`.
    pub fn delete(&mut self, device: &str) -> Result<(), Error> {
        match self
            .conn
            .call(
                &Request::DeleteDevice {
                    device: device.into(),
                },
                &[],
            )?
            .0
        {
            Response::Ok => Ok(()),
            Response::Error { errno, message } => Err(Error::Daemon { errno, message }),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// `loopcam list`.
    pub fn list(&mut self) -> Result<Vec<DeviceInfo>, Error> {
        match self.conn.call(&Request::ListDevices, &[])?.0 {
            Response::Devices(d) => Ok(d),
            Response::Error { errno, message } => Err(Error::Daemon { errno, message }),
            other => Err(Error::Protocol(format!("unexpected answer: {other:?}"))),
        }
    }

    /// `loopcam query`.
    pub fn query(&mut self, device: &str) -> Result<DeviceInfo, Error> {
        expect_device(self.conn.call(
            &Request::QueryDevice {
                device: device.into(),
            },
            &[],
        )?)
    }

    /// `loopcam set-caps`.
    pub fn set_caps(&mut self, device: &str, caps: &str) -> Result<DeviceInfo, Error> {
        expect_device(self.conn.call(
            &Request::SetCaps {
                device: device.into(),
                caps: caps.into(),
            },
            &[],
        )?)
    }

    /// `loopcam set-fps` (interval numerator/denominator: 1/30 for 30 fps).
    pub fn set_fps(
        &mut self,
        device: &str,
        numerator: u32,
        denominator: u32,
    ) -> Result<DeviceInfo, Error> {
        expect_device(self.conn.call(
            &Request::SetFps {
                device: device.into(),
                numerator,
                denominator,
            },
            &[],
        )?)
    }

    /// `loopcam set-timeout-image`: RGB24 pixels, sent in a memfd.
    pub fn set_timeout_image(
        &mut self,
        device: &str,
        timeout_ms: Option<u32>,
        width: u32,
        height: u32,
        rgb: &[u8],
    ) -> Result<DeviceInfo, Error> {
        let fd = rustix::fs::memfd_create("loopcam-image", rustix::fs::MemfdFlags::CLOEXEC)?;
        let mut done = 0;
        while done < rgb.len() {
            done += rustix::io::write(&fd, &rgb[done..])?;
        }
        use std::os::fd::AsFd;
        expect_device(self.conn.call(
            &Request::SetTimeoutImage {
                device: device.into(),
                timeout_ms,
                width,
                height,
            },
            &[fd.as_fd()],
        )?)
    }
}
