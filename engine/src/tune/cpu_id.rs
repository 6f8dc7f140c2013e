//! The running CPU's identity, for keying measured choices: a choice
//! measured on one CPU model says nothing about another.

/// Vendor, brand string and family/model/stepping of the running CPU, from
/// CPUID (x86-64), or the target architecture elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuId {
    /// Brand string (CPUID leaves 0x8000_0002..4), trimmed, e.g.
    /// `AMD EPYC 9B45 128-Core Processor`; empty where there is none.
    pub brand: String,
    /// Vendor string (`GenuineIntel`, `AuthenticAMD`, ...).
    pub vendor: String,
    /// Display family (base + extended, as `/proc/cpuinfo` "cpu family").
    pub family: u32,
    /// Display model (as `/proc/cpuinfo` "model").
    pub model: u32,
    /// Stepping.
    pub stepping: u32,
}

impl CpuId {
    /// The running CPU.
    pub fn current() -> CpuId {
        #[cfg(target_arch = "x86_64")]
        {
            use core::arch::x86_64::__cpuid;
            // Leaves above the reported maxima are not queried.
            let (l0, l1, ext) = (__cpuid(0), __cpuid(1), __cpuid(0x8000_0000).eax);
            let vendor: Vec<u8> = [l0.ebx, l0.edx, l0.ecx].iter().flat_map(|r| r.to_le_bytes()).collect();
            let mut brand = Vec::new();
            if ext >= 0x8000_0004 {
                for leaf in 0x8000_0002u32..=0x8000_0004 {
                    let r = __cpuid(leaf);
                    brand.extend([r.eax, r.ebx, r.ecx, r.edx].iter().flat_map(|v| v.to_le_bytes()));
                }
            }
            let text = |b: &[u8]| {
                String::from_utf8_lossy(b).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string()
            };
            let (base_family, base_model) = ((l1.eax >> 8) & 0xf, (l1.eax >> 4) & 0xf);
            let (ext_family, ext_model) = ((l1.eax >> 20) & 0xff, (l1.eax >> 16) & 0xf);
            let family = if base_family == 0xf { base_family + ext_family } else { base_family };
            let model =
                if base_family == 0x6 || base_family == 0xf { (ext_model << 4) | base_model } else { base_model };
            CpuId { brand: text(&brand), vendor: text(&vendor), family, model, stepping: l1.eax & 0xf }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            CpuId { brand: String::new(), vendor: std::env::consts::ARCH.to_string(), family: 0, model: 0, stepping: 0 }
        }
    }

    /// One line naming the CPU: `brand (vendor family F model M stepping S)`.
    /// This is the key a cached choice is stored under.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} family {} model {} stepping {})",
            if self.brand.is_empty() { "unnamed CPU" } else { &self.brand },
            self.vendor,
            self.family,
            self.model,
            self.stepping
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_cpu_is_described_on_one_line() {
        let d = CpuId::current().describe();
        assert!(!d.contains('\n') && d.contains("family"), "{d}");
        #[cfg(target_arch = "x86_64")]
        {
            let c = CpuId::current();
            assert!(c.vendor.len() == 12, "vendor {:?}", c.vendor);
            assert!(c.family >= 6, "family {}", c.family);
        }
    }
}
