//! Writing single-band GeoTIFFs the way BigEarthNet ships them: little-endian,
//! uncompressed, strip-organised, with pixel scale, tie point and GeoKeys.

use std::io::Cursor;
use tiff::encoder::{colortype, TiffEncoder};
use tiff::tags::Tag;

/// Georeferencing of one band: upper-left corner (UTM metres), pixel size (m), EPSG code.
#[derive(Debug, Clone, Copy)]
pub struct Geo {
    /// Upper-left x.
    pub ulx: f64,
    /// Upper-left y.
    pub uly: f64,
    /// Pixel size in metres.
    pub pixel: f64,
    /// Projected CRS (e.g. 32633 for UTM 33N).
    pub epsg: u16,
}

fn geo_tags<W: std::io::Write + std::io::Seek, C: colortype::ColorType, K: tiff::encoder::TiffKind>(
    img: &mut tiff::encoder::ImageEncoder<'_, W, C, K>,
    g: Geo,
) -> tiff::TiffResult<()> {
    let enc = img.encoder();
    enc.write_tag(Tag::ModelPixelScaleTag, &[g.pixel, g.pixel, 0.0][..])?;
    enc.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, g.ulx, g.uly, 0.0][..])?;
    // GeoKey directory: version 1.1.0, 3 keys: model type projected,
    // raster type pixel-is-area, projected CRS.
    enc.write_tag(Tag::GeoKeyDirectoryTag, &[1u16, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, g.epsg][..])?;
    Ok(())
}

/// Encode a uint16 band (`side x side`) as GeoTIFF bytes.
pub fn u16_tiff(side: u32, data: &[u16], g: Geo) -> tiff::TiffResult<Vec<u8>> {
    let mut buf = Cursor::new(Vec::with_capacity(data.len() * 2 + 512));
    {
        let mut enc = TiffEncoder::new(&mut buf)?;
        let mut img = enc.new_image::<colortype::Gray16>(side, side)?;
        geo_tags(&mut img, g)?;
        img.write_data(data)?;
    }
    Ok(buf.into_inner())
}

/// Encode a float32 band (`side x side`) as GeoTIFF bytes.
pub fn f32_tiff(side: u32, data: &[f32], g: Geo) -> tiff::TiffResult<Vec<u8>> {
    let mut buf = Cursor::new(Vec::with_capacity(data.len() * 4 + 512));
    {
        let mut enc = TiffEncoder::new(&mut buf)?;
        let mut img = enc.new_image::<colortype::Gray32Float>(side, side)?;
        geo_tags(&mut img, g)?;
        img.write_data(data)?;
    }
    Ok(buf.into_inner())
}
