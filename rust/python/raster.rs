//! Bindings of the raster stage (`crate::raster`): faces in as numpy arrays, panels out. The
//! settings, face and panel conversions here also serve the printer dialects' bindings.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::error::EktpError;
use crate::raster;

/// Raster settings as the Python layer passes them (a dict).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct RasterArgs<'py> {
    depth: u8,
    curve: Vec<u8>,
    /// `none`, `layer` or `near-black`.
    black: String,
    near_black: u8,
    /// `threshold`, `floyd-steinberg` or `ordered`.
    halftone: String,
    threshold: u8,
    /// `none`, `full` or `mask`.
    overlay: String,
    mask: Option<PyReadonlyArray2<'py, u8>>,
    rotation: u16,
    colour: bool,
}

impl RasterArgs<'_> {
    pub fn settings(&self) -> PyResult<raster::Settings> {
        let bad = |what: &str, value: &str| {
            PyErr::from(EktpError::InvalidArgument(format!(
                "unknown {what} {value:?}"
            )))
        };
        let mut s = raster::Settings::new(self.depth);
        s.curve =
            self.curve.as_slice().try_into().map_err(|_| {
                EktpError::InvalidArgument("a transfer curve has 256 entries".into())
            })?;
        s.black = match self.black.as_str() {
            "none" => raster::BlackMode::None,
            "layer" => raster::BlackMode::Layer,
            "near-black" => raster::BlackMode::NearBlack(self.near_black),
            other => return Err(bad("black mode", other)),
        };
        s.halftone = match self.halftone.as_str() {
            "threshold" => raster::Halftone::Threshold(self.threshold),
            "floyd-steinberg" => raster::Halftone::FloydSteinberg,
            "ordered" => raster::Halftone::Ordered,
            other => return Err(bad("halftone", other)),
        };
        s.overlay = match (self.overlay.as_str(), &self.mask) {
            ("none", _) => raster::Overlay::None,
            ("full", _) => raster::Overlay::Full,
            ("mask", Some(mask)) => {
                raster::Overlay::Mask(contiguous2(mask, "overlay mask")?.to_vec())
            }
            ("mask", None) => {
                return Err(EktpError::InvalidArgument("overlay 'mask' needs a mask".into()).into())
            }
            (other, _) => return Err(bad("overlay", other)),
        };
        s.rotation = self.rotation;
        s.colour = self.colour;
        Ok(s)
    }
}

fn contiguous2<'a>(a: &'a PyReadonlyArray2<'_, u8>, what: &str) -> PyResult<&'a [u8]> {
    a.as_slice().map_err(|_| {
        EktpError::InvalidArgument(format!(
            "the {what} must be C-contiguous (numpy.ascontiguousarray)"
        ))
        .into()
    })
}

/// Borrows a face: `rgb` is `H x W x 3` uint8, `black` `H x W` uint8, both C-contiguous.
pub fn face_view<'a>(
    rgb: Option<&'a PyReadonlyArray3<'_, u8>>,
    black: Option<&'a PyReadonlyArray2<'_, u8>>,
) -> PyResult<raster::Face<'a>> {
    let (mut h, mut w) = (0, 0);
    let rgb_slice = match rgb {
        Some(a) => {
            let shape = a.shape();
            if shape[2] != 3 {
                return Err(EktpError::InvalidArgument(format!(
                    "an RGB face is H x W x 3; got {shape:?}"
                ))
                .into());
            }
            (h, w) = (shape[0], shape[1]);
            Some(a.as_slice().map_err(|_| {
                PyErr::from(EktpError::InvalidArgument(
                    "the RGB face must be C-contiguous (numpy.ascontiguousarray)".into(),
                ))
            })?)
        }
        None => None,
    };
    let black_slice = match black {
        Some(a) => {
            let shape = a.shape();
            if rgb.is_some() && (shape[0], shape[1]) != (h, w) {
                return Err(EktpError::InvalidArgument(format!(
                    "the black layer is {}x{}, the face {h}x{w}",
                    shape[0], shape[1]
                ))
                .into());
            }
            (h, w) = (shape[0], shape[1]);
            Some(contiguous2(a, "black layer")?)
        }
        None => None,
    };
    Ok(raster::Face {
        height: h,
        width: w,
        rgb: rgb_slice,
        black: black_slice,
    })
}

pub type PanelArrays<'py> = (
    usize,
    usize,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
    Option<Bound<'py, PyArray1<u8>>>,
);

pub fn panel_arrays(py: Python<'_>, p: raster::Panels) -> PanelArrays<'_> {
    let colour = |v: Vec<u8>| (!v.is_empty()).then(|| v.into_pyarray(py));
    (
        p.lines,
        p.dots,
        colour(p.y),
        colour(p.m),
        colour(p.c),
        p.k.map(|v| v.into_pyarray(py)),
        p.o.map(|v| v.into_pyarray(py)),
    )
}

/// Separates one face into panels `(lines, dots, y, m, c, k, o)`; the GIL is released.
#[pyfunction]
#[pyo3(signature = (rgb, black, settings))]
pub fn raster_face<'py>(
    py: Python<'py>,
    rgb: Option<PyReadonlyArray3<'py, u8>>,
    black: Option<PyReadonlyArray2<'py, u8>>,
    settings: RasterArgs<'py>,
) -> PyResult<PanelArrays<'py>> {
    let s = settings.settings()?;
    let face = face_view(rgb.as_ref(), black.as_ref())?;
    let panels = py.detach(|| raster::rasterize(&face, &s))?;
    Ok(panel_arrays(py, panels))
}
