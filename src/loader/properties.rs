// SPDX-License-Identifier: GPL-2.0-or-later
//! The GNU property note (PT_GNU_PROPERTY): what a program says it was
//! built for. ht-user reads the one property Linux acts on at load time,
//! AArch64's branch target identification.

/// `PT_GNU_PROPERTY`.
pub const PT_GNU_PROPERTY: u32 = 0x6474_e553;
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const GNU_PROPERTY_AARCH64_FEATURE_1_AND: u32 = 0xc000_0000;
const GNU_PROPERTY_AARCH64_FEATURE_1_BTI: u32 = 1;

/// Whether the note `bytes` (a PT_GNU_PROPERTY segment's contents, of a
/// little-endian program whose properties are aligned to `align` bytes:
/// 8 for 64-bit programs) marks the program as built for BTI. A malformed
/// note (where Linux refuses to execute the program) says no.
pub fn aarch64_bti(bytes: &[u8], align: usize) -> bool {
    let word = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    };
    let (Some(namesz), Some(descsz), Some(kind)) = (word(0), word(4), word(8)) else {
        return false;
    };
    if namesz != 4 || kind != NT_GNU_PROPERTY_TYPE_0 || bytes.get(12..16) != Some(b"GNU\0") {
        return false;
    }
    let end = 16usize.saturating_add(descsz as usize);
    if end > bytes.len() {
        return false;
    }
    let mut at = 16;
    while at + 8 <= end {
        let (Some(pr_type), Some(size)) = (word(at), word(at + 4)) else {
            return false;
        };
        let data = at + 8;
        if pr_type == GNU_PROPERTY_AARCH64_FEATURE_1_AND {
            return size == 4
                && data + 4 <= end
                && word(data).is_some_and(|v| v & GNU_PROPERTY_AARCH64_FEATURE_1_BTI != 0);
        }
        let Some(next) = data
            .checked_add(size as usize)
            .and_then(|n| n.checked_next_multiple_of(align))
        else {
            return false;
        };
        at = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A note with the given (type, data) properties, 8-byte aligned.
    fn note(props: &[(u32, &[u8])]) -> Vec<u8> {
        let mut desc = Vec::new();
        for (kind, data) in props {
            desc.extend(kind.to_le_bytes());
            desc.extend((data.len() as u32).to_le_bytes());
            desc.extend(*data);
            while desc.len() % 8 != 0 {
                desc.push(0);
            }
        }
        let mut n = Vec::new();
        n.extend(4u32.to_le_bytes());
        n.extend((desc.len() as u32).to_le_bytes());
        n.extend(NT_GNU_PROPERTY_TYPE_0.to_le_bytes());
        n.extend(b"GNU\0");
        n.extend(desc);
        n
    }

    #[test]
    fn bti_is_found_after_other_properties() {
        let x86_isa = 0xc000_0002u32;
        let bti = note(&[(x86_isa, &[1, 0, 0, 0]), (0xc000_0000, &[3, 0, 0, 0])]);
        assert!(aarch64_bti(&bti, 8));
        let pac_only = note(&[(0xc000_0000, &[2, 0, 0, 0])]);
        assert!(!aarch64_bti(&pac_only, 8));
        assert!(!aarch64_bti(&note(&[]), 8));
    }

    #[test]
    fn malformed_notes_say_no() {
        let good = note(&[(0xc000_0000, &[1, 0, 0, 0])]);
        for cut in 0..good.len() {
            assert!(!aarch64_bti(&good[..cut], 8), "cut at {cut}");
        }
        let mut wrong_name = good.clone();
        wrong_name[12] = b'X';
        assert!(!aarch64_bti(&wrong_name, 8));
        let mut huge_size = note(&[(0xc000_0001, &[0; 4]), (0xc000_0000, &[1, 0, 0, 0])]);
        huge_size[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!aarch64_bti(&huge_size, 8));
    }
}
