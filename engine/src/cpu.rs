//! What the running CPU supports: the one place the engine detects CPU
//! features, and the instruction-set levels ([`Isa`]) its kernels are
//! written for.
//!
//! Detection is at run time under `std` (`is_x86_feature_detected!`,
//! `is_aarch64_feature_detected!`, cached
//! by the standard library) and from the compile-time target features
//! without it (`-C target-feature=+avx512f` etc.). Every kernel of the
//! engine and of [`crate::retrieval`] runs only after [`Cpu::supports`] (or
//! [`Isa::available`]) said yes for its level.
//!
//! Adding a level: its CPU features to [`Feature`]
//! (one line each in `features!`, with their detection), then one line in
//! `levels!`.

use core::fmt;

/// Runtime feature test under `std`, compile-time without.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
macro_rules! has {
    ($f:tt) => {
        std::arch::is_x86_feature_detected!($f)
    };
}
#[cfg(all(not(feature = "std"), target_arch = "x86_64"))]
macro_rules! has {
    ($f:tt) => {
        cfg!(target_feature = $f)
    };
}

/// An x86-64 feature's detection; `false` on other architectures.
#[cfg(target_arch = "x86_64")]
macro_rules! x86 {
    ($f:tt) => {
        has!($f)
    };
}
#[cfg(not(target_arch = "x86_64"))]
macro_rules! x86 {
    ($f:tt) => {
        false
    };
}

/// An aarch64 feature's detection (`is_aarch64_feature_detected!` under
/// `std`, the compile-time target features without); `false` elsewhere.
#[cfg(all(feature = "std", target_arch = "aarch64"))]
macro_rules! arm {
    ($f:tt) => {
        std::arch::is_aarch64_feature_detected!($f)
    };
}
#[cfg(all(not(feature = "std"), target_arch = "aarch64"))]
macro_rules! arm {
    ($f:tt) => {
        cfg!(target_feature = $f)
    };
}
#[cfg(not(target_arch = "aarch64"))]
macro_rules! arm {
    ($f:tt) => {
        false
    };
}

macro_rules! features {
    ($($(#[$doc:meta])* $v:ident = $name:literal, detect: $detect:expr;)*) => {
        /// One CPU feature a kernel needs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Feature {
            $($(#[$doc])* $v,)*
        }

        impl Feature {
            /// Every feature the engine knows, in declaration order.
            pub const ALL: &'static [Feature] = &[$(Feature::$v),*];

            /// The feature's name as the target-feature and `/proc/cpuinfo` spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Feature::$v => $name,)*
                }
            }

            /// Whether the running CPU (compile-time target without `std`) has it.
            fn detected(self) -> bool {
                match self {
                    $(Feature::$v => $detect,)*
                }
            }
        }
    };
}

features! {
    /// x86-64 256-bit integer and float vectors.
    Avx2 = "avx2", detect: x86!("avx2");
    /// x86-64 fused multiply-add on 128/256-bit vectors.
    Fma = "fma", detect: x86!("fma");
    /// x86-64 f16 <-> f32 conversion (`vcvtph2ps`).
    F16c = "f16c", detect: x86!("f16c");
    /// x86-64 AVX-512 foundation (512-bit vectors, `vcvtph2ps` on zmm).
    Avx512f = "avx512f", detect: x86!("avx512f");
    /// x86-64 bf16 dot products (`vdpbf16ps`, `vcvtneps2bf16`).
    Avx512bf16 = "avx512bf16", detect: x86!("avx512bf16");
    /// x86-64 AVX-512 byte dot products (`vpdpbusd` on zmm: u8 x i8 into i32).
    Avx512vnni = "avx512vnni", detect: x86!("avx512vnni");
    /// x86-64 VEX-encoded byte dot products (`vpdpbusd` on ymm, without AVX-512).
    Avxvnni = "avxvnni", detect: x86!("avxvnni");
    /// aarch64 Advanced SIMD (128-bit vectors, `fcvtl`/`fcvtn` f16 conversions).
    Neon = "neon", detect: arm!("neon");
    /// aarch64 Armv8.2-A half-precision arithmetic (FEAT_FP16: `fmla v.8h`).
    Fp16 = "fp16", detect: arm!("fp16");
    /// aarch64 Armv8.2-A signed byte dot products (FEAT_DotProd: `sdot`).
    Dotprod = "dotprod", detect: arm!("dotprod");
    /// aarch64 Armv8.6-A mixed-sign byte dot products and matrix multiply (FEAT_I8MM: `usdot`).
    I8mm = "i8mm", detect: arm!("i8mm");
}

macro_rules! levels {
    ($($(#[$doc:meta])* $v:ident = $name:literal, needs: $needs:literal, [$($f:ident),*];)*) => {
        /// An instruction-set level a kernel needs: a set of [`Feature`]s.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Isa {
            $($(#[$doc])* $v,)*
        }

        impl Isa {
            /// Every level, in declaration order.
            pub const ALL: &'static [Isa] = &[$(Isa::$v),*];

            /// Short lower-case name (the `BEMM_KERNEL` spelling).
            pub fn name(self) -> &'static str {
                match self {
                    $(Isa::$v => $name,)*
                }
            }

            /// The CPU features this level needs, as text (`"avx2, fma, f16c"`).
            pub fn needs(self) -> &'static str {
                match self {
                    $(Isa::$v => $needs,)*
                }
            }

            /// The CPU features this level needs.
            pub fn features(self) -> &'static [Feature] {
                match self {
                    $(Isa::$v => &[$(Feature::$f),*],)*
                }
            }
        }
    };
}

levels! {
    /// Portable Rust; the reference every SIMD path is tested against.
    Scalar = "scalar", needs: "", [];
    /// aarch64 NEON, f32 arithmetic.
    Neon = "neon", needs: "neon", [Neon];
    /// aarch64 NEON + Armv8.2-A FP16 arithmetic (f16 products, f32 sums).
    NeonFp16 = "neon-fp16", needs: "neon, fp16", [Neon, Fp16];
    /// x86-64 AVX2 + FMA + F16C.
    Avx2 = "avx2", needs: "avx2, fma, f16c", [Avx2, Fma, F16c];
    /// x86-64 AVX-512F (+ `vcvtph2ps` on zmm; F16C for the narrow paths).
    Avx512 = "avx512", needs: "avx512f, f16c", [Avx512f, F16c];
    /// x86-64 AVX-512F + AVX512-BF16 (`vdpbf16ps`).
    Avx512Bf16 = "avx512bf16", needs: "avx512f, avx512bf16, f16c", [Avx512f, Avx512bf16, F16c];
    /// x86-64 AVX-512F + AVX512-VNNI: int8 kernels (`vpdpbusd` on zmm).
    Avx512Vnni = "avx512vnni", needs: "avx512f, avx512vnni", [Avx512f, Avx512vnni];
    /// x86-64 AVX2 + AVX-VNNI: int8 kernels (`vpdpbusd` on ymm).
    AvxVnni = "avxvnni", needs: "avx2, avxvnni", [Avx2, Avxvnni];
    /// aarch64 NEON + DotProd: int8 kernels (`sdot`).
    NeonDot = "neon-dot", needs: "neon, dotprod", [Neon, Dotprod];
    /// aarch64 NEON + DotProd + I8MM: int8 kernels (`usdot`).
    NeonI8mm = "neon-i8mm", needs: "neon, dotprod, i8mm", [Neon, Dotprod, I8mm];
}

impl Isa {
    /// Whether the running CPU (under `std`) or the compile-time target
    /// features (without `std`) support this level.
    pub fn available(self) -> bool {
        // As `Cpu::detect().supports(self)`, testing only this level's features.
        self.features().iter().all(|f| f.detected())
    }

    /// Whether this level's kernels are int8 only (no float kernel is
    /// written for it), and the float level it includes, suggested instead.
    pub fn int8_only(self) -> Option<Isa> {
        match self {
            Isa::Avx512Vnni => Some(Isa::Avx512),
            Isa::AvxVnni => Some(Isa::Avx2),
            Isa::NeonDot | Isa::NeonI8mm => Some(Isa::Neon),
            _ => None,
        }
    }

    /// The level named `name` ([`Isa::name`]), if any.
    pub fn parse(name: &str) -> Option<Isa> {
        Isa::ALL.iter().copied().find(|i| i.name() == name)
    }

    /// Whether this level includes `f` (e.g. every AVX-512 level includes
    /// [`Feature::Avx512f`]): what a kernel written for `f` may assume.
    pub fn includes(self, f: Feature) -> bool {
        self.features().contains(&f)
    }
}

/// A set of CPU features: those of the running CPU ([`Cpu::detect`]),
/// possibly with some taken away ([`Cpu::without`]). It can never hold a
/// feature the CPU lacks, so a kernel checked against any `Cpu` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    bits: u32,
}

impl Cpu {
    /// The running CPU's features (compile-time target features without `std`).
    pub fn detect() -> Cpu {
        let bits = Feature::ALL.iter().filter(|f| f.detected()).fold(0, |b, &f| b | bit(f));
        Cpu { bits }
    }

    /// This set without `f`: what a CPU lacking `f` would run (tests,
    /// benchmarks of a narrower machine).
    pub fn without(self, f: Feature) -> Cpu {
        Cpu { bits: self.bits & !bit(f) }
    }

    /// Whether the set holds `f`.
    pub fn has(self, f: Feature) -> bool {
        self.bits & bit(f) != 0
    }

    /// Whether the set holds every feature `isa` needs.
    pub fn supports(self, isa: Isa) -> bool {
        self.missing(isa).bits == 0
    }

    /// The features `isa` needs that this set lacks.
    pub fn missing(self, isa: Isa) -> Features {
        Features { bits: isa.features().iter().fold(0, |b, &f| b | bit(f)) & !self.bits }
    }
}

fn bit(f: Feature) -> u32 {
    // Discriminants are the declaration order, below 32 features.
    1 << (f as u32)
}

/// A set of features, displayed as their names separated by `", "`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    bits: u32,
}

impl Features {
    /// The features in the set.
    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.iter().copied().filter(move |&f| self.bits & bit(f) != 0)
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, feat) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(feat.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    fn needs_lists_the_features_of_each_level() {
        for &isa in Isa::ALL {
            let names: Vec<&str> = isa.features().iter().map(|f| f.name()).collect();
            assert_eq!(isa.needs(), names.join(", "), "{}", isa.name());
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::Avx512Bf16.name(), "avx512bf16");
        assert_eq!(Isa::parse("avx512-bf16"), None);
    }

    #[test]
    fn a_cpu_without_a_feature_lacks_every_level_that_needs_it() {
        let cpu = Cpu::detect();
        for &isa in Isa::ALL {
            assert_eq!(isa.available(), cpu.supports(isa));
            for &f in isa.features() {
                let less = cpu.without(f);
                assert!(!less.has(f));
                assert!(!less.supports(isa), "{} without {}", isa.name(), f.name());
                assert!(less.missing(isa).to_string().contains(f.name()));
            }
        }
        assert!(cpu.without(Feature::Avx512f).supports(Isa::Scalar));
        let none = Feature::ALL.iter().fold(cpu, |c, &f| c.without(f));
        assert_eq!(none.missing(Isa::Avx512Bf16).to_string(), "f16c, avx512f, avx512bf16");
    }
}
