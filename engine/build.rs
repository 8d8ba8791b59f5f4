// SPDX-License-Identifier: GPL-2.0-or-later
//! Builds ht-user's engine: Unicorn's C code from the pristine
//! `unicorn-engine-sys` crate of the package registry, with the patch series
//! in `patches/` applied, compiled by cmake, plus bindings generated from the
//! patched `unicorn.h` under the names the `unicorn-engine` crate expects.
//!
//! `HT_ENGINE_SRC=/path/to/tree` builds a local engine tree instead (for
//! engine development: edit there, export the change as a patch).
//!
//! Never probes pkg-config: a system libunicorn would lack the patches.

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const PRISTINE_NAME: &str = "unicorn-engine-sys";
const PRISTINE_VERSION: &str = "2.1.5";
/// A header the build writes into the engine tree; patch 0001 includes it.
const SERIES_HEADER: &str = "uc_patch_series.h";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let patches_dir = manifest_dir.join("patches");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=patches");
    println!("cargo:rerun-if-changed=pristine/Cargo.toml");
    println!("cargo:rerun-if-changed=pristine/Cargo.lock");
    println!("cargo:rerun-if-env-changed=HT_ENGINE_SRC");

    let patches = patch_series(&patches_dir);
    let (tree, series_id) = match env::var_os("HT_ENGINE_SRC") {
        Some(local) => {
            let tree = PathBuf::from(local);
            for watched in ["uc.c", "include", "qemu", "glib_compat", "CMakeLists.txt"] {
                println!("cargo:rerun-if-changed={}", tree.join(watched).display());
            }
            (tree, "local".to_string())
        }
        None => {
            let pristine = pristine_source(&manifest_dir, &out_dir);
            let tree = out_dir.join("engine-src");
            patched_tree(&pristine, &patches, &out_dir.join("engine-staging"), &tree);
            (tree, series_identity(&patches))
        }
    };

    write_if_changed(
        &tree.join(SERIES_HEADER),
        &format!(
            "/* Written by ht-user's engine build: the patch series in this tree. */\n\
             #define UC_PATCH_SERIES \"{series_id}\"\n"
        ),
    );
    fs::write(out_dir.join("patch_series.txt"), &series_id).expect("write patch_series.txt");

    generate_bindings(&tree, &out_dir);
    pristine_helpers(&tree, &out_dir);
    build_engine(&tree);
}

/// The series in application order: every `NNNN-*.patch` file, by name.
fn patch_series(dir: &Path) -> Vec<PathBuf> {
    let mut patches: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the patch series in {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    patches
}

/// Names the series by its patch count and a hash of names and contents, so
/// that ht-user can tell at start-up that the engine it links is this one.
fn series_identity(patches: &[PathBuf]) -> String {
    // FNV-1a: stable across toolchains, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for patch in patches {
        let name = patch.file_name().unwrap().to_string_lossy().into_owned();
        let body = fs::read(patch).expect("read patch");
        for byte in name.bytes().chain(body.into_iter()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("ht-{}-{hash:016x}", patches.len())
}

/// Finds the pristine crate's unpacked source in cargo's cache, downloading
/// it if needed: cargo resolves a tiny manifest whose lockfile pins the
/// crate's checksum.
fn pristine_source(manifest_dir: &Path, out_dir: &Path) -> PathBuf {
    let fetch_dir = out_dir.join("pristine-fetch");
    fs::create_dir_all(fetch_dir.join("src")).expect("create pristine-fetch");
    for file in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        fs::copy(manifest_dir.join("pristine").join(file), fetch_dir.join(file))
            .unwrap_or_else(|e| panic!("copy pristine/{file}: {e}"));
    }
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = fetch_dir.join("Cargo.toml");
    let mut last_error = String::new();
    // Online first (downloads on a fresh machine), then offline (a cached
    // crate is enough when the registry cannot be reached).
    for offline in [false, true] {
        let mut cmd = Command::new(&cargo);
        cmd.args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
            .arg(&manifest);
        if offline {
            cmd.arg("--offline");
        }
        // The outer build's settings are not the nested resolution's business.
        cmd.env_remove("CARGO_TARGET_DIR").env_remove("RUSTFLAGS");
        let output = cmd.output().unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        if output.status.success() {
            return pristine_root_from_metadata(&output.stdout);
        }
        last_error = String::from_utf8_lossy(&output.stderr).into_owned();
    }
    panic!(
        "cannot fetch the pristine {PRISTINE_NAME} {PRISTINE_VERSION} from the package registry \
         (nor find it in cargo's cache):\n{last_error}"
    );
}

fn pristine_root_from_metadata(json: &[u8]) -> PathBuf {
    let metadata: serde_json::Value = serde_json::from_slice(json).expect("cargo metadata output");
    let packages = metadata["packages"].as_array().expect("packages");
    let package = packages
        .iter()
        .find(|p| p["name"] == PRISTINE_NAME && p["version"] == PRISTINE_VERSION)
        .unwrap_or_else(|| panic!("cargo metadata does not list {PRISTINE_NAME} {PRISTINE_VERSION}"));
    let manifest = PathBuf::from(package["manifest_path"].as_str().expect("manifest_path"));
    manifest.parent().expect("crate root").to_path_buf()
}

/// Applies the series to a fresh copy of the pristine source, then brings
/// `tree` up to date with it file by file: unchanged files keep their
/// modification times, so cmake recompiles only what a changed series
/// touches.
fn patched_tree(pristine: &Path, patches: &[PathBuf], staging: &Path, tree: &Path) {
    if staging.exists() {
        fs::remove_dir_all(staging).expect("clear staging tree");
    }
    copy_tree(pristine, staging);
    for patch in patches {
        let status = Command::new("patch")
            .args(["-p1", "--batch", "--forward", "--silent", "--no-backup-if-mismatch", "-d"])
            .arg(staging)
            .arg("-i")
            .arg(patch)
            .status()
            .unwrap_or_else(|e| panic!("cannot run patch (install Debian's `patch`): {e}"));
        assert!(
            status.success(),
            "{} does not apply to the pristine {PRISTINE_NAME} {PRISTINE_VERSION}",
            patch.display()
        );
    }
    sync_tree(staging, tree);
    fs::remove_dir_all(staging).expect("remove staging tree");
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
            // Cargo's cache may hold read-only files; patch must write them.
            let mut perms = fs::metadata(&target).expect("metadata").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&target, perms).expect("set permissions");
        }
    }
}

fn sync_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    let mut wanted = BTreeSet::new();
    for entry in fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name();
        let target = to.join(&name);
        wanted.insert(name);
        if entry.file_type().expect("file type").is_dir() {
            sync_tree(&entry.path(), &target);
        } else {
            let contents = fs::read(entry.path()).expect("read file");
            write_if_changed(&target, &contents);
        }
    }
    for entry in fs::read_dir(to).expect("read directory") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name();
        if !wanted.contains(&name) && name != SERIES_HEADER {
            let path = entry.path();
            if path.is_dir() {
                fs::remove_dir_all(path).expect("remove stale directory");
            } else {
                fs::remove_file(path).expect("remove stale file");
            }
        }
    }
}

fn write_if_changed(path: &Path, contents: impl AsRef<[u8]>) {
    if fs::read(path).ok().as_deref() != Some(contents.as_ref()) {
        fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

fn build_engine(tree: &Path) {
    let archs: Vec<&str> = [
        ("ARCH_X86", "x86"),
        ("ARCH_ARM", "arm"),
        ("ARCH_AARCH64", "aarch64"),
        ("ARCH_RISCV", "riscv"),
        ("ARCH_MIPS", "mips"),
        ("ARCH_SPARC", "sparc"),
        ("ARCH_M68K", "m68k"),
        ("ARCH_PPC", "ppc"),
        ("ARCH_S390X", "s390x"),
        ("ARCH_TRICORE", "tricore"),
    ]
    .into_iter()
    .filter(|(feature, _)| env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
    .map(|(_, arch)| arch)
    .collect();
    let mut config = cmake::Config::new(tree);
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        // Jumps kept off 32-byte boundaries: on Intel cores with the JCC
        // erratum's microcode a hot helper loop that straddles one runs up
        // to twice as slow, so timings swung with every change to the
        // binary's layout (BENCHMARKS.md, "the ic ivau hook's cost").
        config.cflag("-Wa,-mbranches-within-32B-boundaries");
    }
    let dst = config
        .define("UNICORN_BUILD_TESTS", "OFF")
        .define("UNICORN_INSTALL", "ON")
        .define("UNICORN_ARCH", archs.join(";"))
        .build();
    for lib_dir in ["lib", "lib64"] {
        println!("cargo:rustc-link-search=native={}", dst.join(lib_dir).display());
    }
    if env::var_os("CARGO_FEATURE_DYNAMIC_LINKAGE").is_some() {
        println!("cargo:rustc-link-lib=dylib=unicorn");
    } else {
        println!("cargo:rustc-link-lib=static=unicorn");
    }
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rustc-link-lib=m");
}

/// The pristine crate's hand-written helpers (`uc_error`'s `Display`,
/// `TryFrom` for the enums, ...) without its module lines, which our
/// `lib.rs` provides.
fn pristine_helpers(tree: &Path, out_dir: &Path) {
    let lib = tree.join("bindings/rust/sys/src/lib.rs");
    let source = fs::read_to_string(&lib).unwrap_or_else(|e| panic!("read {}: {e}", lib.display()));
    let module_lines = ["#![allow(non_camel_case_types)]", "mod bindings;", "pub use bindings::*;"];
    for line in module_lines {
        assert!(
            source.lines().any(|l| l.trim() == line),
            "{} no longer starts with `{line}`: the engine build needs updating",
            lib.display()
        );
    }
    let helpers: String = source
        .lines()
        .filter(|l| !module_lines.contains(&l.trim()))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(out_dir.join("pristine_helpers.rs"), helpers).expect("write pristine_helpers.rs");
}

fn generate_bindings(tree: &Path, out_dir: &Path) {
    let header = tree.join("include/unicorn/unicorn.h");
    let bindings = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .layout_tests(false)
        .allowlist_type("^uc.*")
        .allowlist_function("^uc_.*")
        .allowlist_var("^uc.*")
        // Constants our patches add as #defines.
        .allowlist_var("^UC_TLB_ARM64_GUARDED$")
        .rustified_enum("^uc.*")
        .prepend_enum_name(false)
        .parse_callbacks(Box::new(names::CrateNames))
        .bitfield_enum(
            ["uc_hook_type", "uc_tcg_op_flag", "uc_prot", "uc_mode", "uc_context_content", "uc_control_type"]
                .join("|"),
        )
        .derive_ord(true)
        .derive_eq(true)
        .use_core()
        .generate()
        .expect("generate bindings from unicorn.h");
    bindings.write_to_file(out_dir.join("bindings.rs")).expect("write bindings.rs");
}

/// The Rust names the `unicorn-engine` crate uses for Unicorn's C types and
/// enum constants (`uc_arch` is `Arch`, `UC_ARCH_X86` is `Arch::X86`, ...).
mod names {
    use bindgen::callbacks::{EnumVariantValue, ParseCallbacks};

    #[derive(Debug)]
    pub struct CrateNames;

    fn upper_camel(snake: &str) -> String {
        snake
            .split('_')
            .filter(|w| !w.is_empty())
            .map(|word| {
                let mut chars = word.chars();
                let first = chars.next().unwrap().to_ascii_uppercase();
                std::iter::once(first).chain(chars.map(|c| c.to_ascii_lowercase())).collect::<String>()
            })
            .collect()
    }

    const TYPE_NAMES: &[(&str, &str)] = &[
        ("uc_err", "uc_error"),
        ("uc_query_type", "Query"),
        ("uc_tlb_type", "TlbType"),
        ("uc_mem_type", "MemType"),
        ("uc_tb", "TranslationBlock"),
        ("uc_arch", "Arch"),
        ("uc_mode", "Mode"),
        ("uc_mem_region", "MemRegion"),
        ("uc_prot", "Prot"),
        ("uc_hook_type", "HookType"),
        ("uc_tlb_entry", "TlbEntry"),
        ("uc_control_type", "ControlType"),
        ("uc_context_content", "ContextMode"),
        ("uc_tcg_op_code", "TcgOpCode"),
        ("uc_tcg_op_flag", "TcgOpFlag"),
    ];

    /// The prefix each enum's constants carry in C, stripped in Rust.
    const VARIANT_PREFIXES: &[(&str, &str)] = &[
        ("query_type", "UC_QUERY_"),
        ("tlb_type", "UC_TLB_"),
        ("control_type", "UC_CTL_"),
        ("context_content", "UC_CTL_CONTEXT_"),
        ("err", "UC_ERR_"),
        ("mem_type", "UC_MEM_"),
        ("mem_region", "UC_MEM_"),
        ("arch", "UC_ARCH_"),
        ("mode", "UC_MODE_"),
        ("prot", "UC_PROT_"),
        ("hook_type", "UC_HOOK_"),
        ("x86_insn", "UC_X86_INS_"),
        ("tcg_op_code", "UC_TCG_OP_"),
        ("tcg_op_flag", "UC_TCG_OP_FLAG_"),
    ];

    impl ParseCallbacks for CrateNames {
        fn item_name(&self, name: &str) -> Option<String> {
            if name == "uc_err" {
                return Some("uc_error".into());
            }
            if name.contains("_cpu_") {
                // uc_cpu_arm64 -> Arm64CpuModel
                return name.strip_prefix("uc_cpu_").map(|arch| format!("{}CpuModel", upper_camel(arch)));
            }
            if let Some(arch) = name.strip_suffix("_reg") {
                // uc_arm64_reg -> RegisterARM64
                return arch.strip_prefix("uc_").map(|a| format!("Register{}", a.replace('_', "").to_uppercase()));
            }
            if let Some(arch) = name.strip_suffix("_insn") {
                // uc_x86_insn -> X86Insn
                return arch.strip_prefix("uc_").map(|a| format!("{}Insn", upper_camel(a)));
            }
            if name.contains("_mode_") {
                return name.strip_prefix("uc_mode_").map(|m| format!("{}Mode", upper_camel(m)));
            }
            TYPE_NAMES.iter().find(|(c, _)| *c == name).map(|(_, rust)| (*rust).to_string())
        }

        fn enum_variant_name(
            &self,
            enum_name: Option<&str>,
            variant: &str,
            _value: EnumVariantValue,
        ) -> Option<String> {
            let enum_name = enum_name?;
            let short = enum_name.strip_prefix("enum uc_")?;
            let prefix = VARIANT_PREFIXES
                .iter()
                .find(|(e, _)| *e == short)
                .map(|(_, p)| (*p).to_string())
                .unwrap_or_else(|| format!("UC_{}_", short.to_uppercase()));
            let mut rust = variant.strip_prefix(&prefix).map(str::to_uppercase)?;
            let numeric = rust.parse::<u32>().is_ok();
            if numeric && (short == "ppc_reg" || short == "mips_reg") {
                rust = format!("R{rust}");
            } else if short.contains("cpu") && rust.starts_with(|c: char| c.is_ascii_digit()) {
                rust = format!("Model_{rust}");
            } else if short == "mode" && matches!(rust.as_str(), "16" | "32" | "64") {
                rust = format!("MODE_{rust}");
            }
            Some(rust)
        }
    }
}
