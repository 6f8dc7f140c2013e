//! Which convolution a layer gets: the layers the trainer's own
//! convolutions take ([`symmetric_padding`]) and, on burn-cuda without
//! fusion, the algorithm the environment names ([`CudaConv`]).

/// How the trainer convolves on burn-cuda without fusion (`--features
/// cuda-base`), named by the environment variable [`CudaConv::ENV`]
/// (`cuda.rs`). Other backends ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CudaConv {
    /// burn's own `Conv2d` (the variable unset, empty or `burn`).
    Burn,
    /// burn-cubecl's implicit-GEMM kernels, without autotuning
    /// (`implicit-gemm`).
    ImplicitGemm,
}

impl CudaConv {
    /// The environment variable that names the algorithm.
    pub const ENV: &'static str = "BEMM_CUDA_CONV";

    /// The algorithm `value` names; `None` for an unknown name.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "" | "burn" => Some(Self::Burn),
            "implicit-gemm" => Some(Self::ImplicitGemm),
            _ => None,
        }
    }

    /// The algorithm [`CudaConv::ENV`] names (unset: [`CudaConv::Burn`]);
    /// for an unknown name, the message that says what was expected.
    pub fn from_env() -> Result<Self, String> {
        let value = std::env::var(Self::ENV).unwrap_or_default();
        Self::parse(&value).ok_or_else(|| format!("{}={value}: expected burn or implicit-gemm", Self::ENV))
    }

    /// The name [`CudaConv::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Burn => "burn",
            Self::ImplicitGemm => "implicit-gemm",
        }
    }
}

/// The `[top, left]` padding of an ungrouped layer padded the same on
/// opposite sides, the layers the trainer's own convolutions take (on
/// burn-flex and with [`CudaConv::ImplicitGemm`]); `None` for any other.
#[cfg(any(feature = "flex", all(feature = "cuda-base", not(feature = "cuda"))))]
pub(super) fn symmetric_padding<B: burn::tensor::backend::Backend>(
    conv: &burn::nn::conv::Conv2d<B>,
) -> Option<[usize; 2]> {
    use burn::nn::PaddingConfig2d;
    if conv.groups != 1 {
        return None;
    }
    match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => Some([top, left]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::CudaConv;

    #[test]
    fn algorithm_names_round_trip_and_unknown_ones_are_refused() {
        for algo in [CudaConv::Burn, CudaConv::ImplicitGemm] {
            assert_eq!(CudaConv::parse(algo.name()), Some(algo));
        }
        assert_eq!(CudaConv::parse(""), Some(CudaConv::Burn));
        assert_eq!(CudaConv::parse("implicit_gemm"), None);
        assert_eq!(CudaConv::parse("Burn"), None);
    }
}
