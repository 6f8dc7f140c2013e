
pub mod plot;
