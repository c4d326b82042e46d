//! Local images: `FROM scratch` images made of a host binary and the shared
//! libraries `ldd` lists for it, built through the engine's build API from a
//! tar context made in memory. Tags carry the content hash, so an image is
//! built once and reused until its files change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use bollard::query_parameters::{BuildImageOptions, ListImagesOptions};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Serialize;

use super::{labels, FrontdoorKind, ImagesSpec, StackError};

/// The images a stack runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvedImages {
    /// The synthesis worker (entrypoint `synth-worker`).
    pub worker: String,
    /// HAProxy (entrypoint `haproxy`); empty with the nginx front door.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub haproxy: String,
    /// Nginx (entrypoint `nginx`), with the nginx front door only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<String>,
    /// Redis (entrypoint `redis-server`).
    pub redis: String,
    /// The fault sidecar (`iptables`, `tc`, `sleep`, `dd`, `df`, `rm`, `find`).
    pub sidecar: String,
}

/// Which image of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    /// The worker.
    Worker,
    /// HAProxy.
    Haproxy,
    /// Redis.
    Redis,
    /// The fault sidecar.
    Sidecar,
    /// Nginx (the other front door).
    Nginx,
}

impl ImageKind {
    /// Every kind.
    pub const ALL: [ImageKind; 5] = [
        ImageKind::Worker,
        ImageKind::Haproxy,
        ImageKind::Redis,
        ImageKind::Sidecar,
        ImageKind::Nginx,
    ];

    /// The image of a front door.
    pub fn frontdoor(kind: FrontdoorKind) -> ImageKind {
        match kind {
            FrontdoorKind::Haproxy => ImageKind::Haproxy,
            FrontdoorKind::Nginx => ImageKind::Nginx,
        }
    }

    /// Its name (`worker`, `haproxy`, ...), also the repository part of its tag.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Worker => "worker",
            ImageKind::Haproxy => "haproxy",
            ImageKind::Redis => "redis",
            ImageKind::Sidecar => "sidecar",
            ImageKind::Nginx => "nginx",
        }
    }
}

/// What `ensure_one` did for one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageOutcome {
    /// Which image.
    pub kind: ImageKind,
    /// The reference used (`takeover-worker:3fa1...` or the scenario's name).
    pub reference: String,
    /// `built`, `reused` (already on the engine) or `named` (the scenario's own image).
    pub action: String,
    /// Files in the image (0 for a named image).
    pub files: usize,
    /// Bytes of those files.
    pub bytes: u64,
}

/// One file of an image: where it comes from on the host, where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { host: PathBuf, mode: u32 },
    Symlink { target: String },
    Dir,
}

/// The contents of an image before it is built.
#[derive(Debug, Clone)]
pub struct ImageRecipe {
    kind: ImageKind,
    /// Image path -> entry.
    entries: BTreeMap<String, Entry>,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

impl ImageRecipe {
    fn new(kind: ImageKind, entrypoint: &[&str], cmd: &[&str]) -> Self {
        let mut recipe = Self {
            kind,
            entries: BTreeMap::new(),
            entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
        };
        recipe.entries.insert("tmp".into(), Entry::Dir);
        recipe
    }

    /// Adds a host program (at `image_path`) and its `ldd` closure.
    fn add_program(&mut self, host: &Path, image_path: &str) -> Result<(), StackError> {
        self.add_file(host, image_path, 0o755)?;
        self.add_libraries_of(host)
    }

    fn add_file(&mut self, host: &Path, image_path: &str, mode: u32) -> Result<(), StackError> {
        let real = std::fs::canonicalize(host).map_err(|e| StackError::Io {
            context: format!("reading {}", host.display()),
            source: e,
        })?;
        self.entries.insert(
            image_path.trim_start_matches('/').to_string(),
            Entry::File { host: real, mode },
        );
        Ok(())
    }

    fn add_libraries_of(&mut self, host: &Path) -> Result<(), StackError> {
        self.add_libraries_of_all(&[host.to_path_buf()])
    }

    fn add_libraries_of_all(&mut self, hosts: &[PathBuf]) -> Result<(), StackError> {
        for lib in ldd_closure(hosts)? {
            let image_path = lib.to_string_lossy().to_string();
            self.add_file(&lib, &image_path, 0o755)?;
        }
        Ok(())
    }

    fn add_symlink(&mut self, image_path: &str, target: &str) {
        self.entries.insert(
            image_path.trim_start_matches('/').to_string(),
            Entry::Symlink {
                target: target.to_string(),
            },
        );
    }

    fn add_dir(&mut self, image_path: &str) {
        self.entries
            .insert(image_path.trim_start_matches('/').to_string(), Entry::Dir);
    }

    /// The Dockerfile of the build context.
    fn dockerfile(&self, hash: &str) -> String {
        let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
        let mut text = format!(
            "FROM scratch\nCOPY rootfs/ /\nLABEL {}=\"{hash}\"\nENTRYPOINT {}\n",
            labels::IMAGE_CONTENT,
            json(&self.entrypoint)
        );
        if !self.cmd.is_empty() {
            text.push_str(&format!("CMD {}\n", json(&self.cmd)));
        }
        text
    }

    /// blake3 over every path, mode, link target and file content, and the entrypoint.
    pub fn content_hash(&self) -> Result<String, StackError> {
        let mut hasher = blake3::Hasher::new();
        hasher.update(self.kind.name().as_bytes());
        for part in self.entrypoint.iter().chain(self.cmd.iter()) {
            hasher.update(part.as_bytes());
            hasher.update(&[0]);
        }
        for (path, entry) in &self.entries {
            hasher.update(path.as_bytes());
            hasher.update(&[0]);
            match entry {
                Entry::File { host, mode } => {
                    hasher.update(&mode.to_le_bytes());
                    hasher.update(&file_hash(host)?);
                }
                Entry::Symlink { target } => {
                    hasher.update(b"->");
                    hasher.update(target.as_bytes());
                }
                Entry::Dir => {
                    hasher.update(b"/");
                }
            }
        }
        Ok(hasher.finalize().to_hex()[..16].to_string())
    }

    /// The tag the image gets: `takeover-<kind>:<content hash>`.
    pub fn tag(&self) -> Result<String, StackError> {
        Ok(format!(
            "takeover-{}:{}",
            self.kind.name(),
            self.content_hash()?
        ))
    }

    /// Number of files and their total size.
    pub fn size(&self) -> (usize, u64) {
        let mut files = 0;
        let mut bytes = 0;
        for entry in self.entries.values() {
            if let Entry::File { host, .. } = entry {
                files += 1;
                bytes += std::fs::metadata(host).map(|m| m.len()).unwrap_or(0);
            }
        }
        (files, bytes)
    }

    /// The build context: Dockerfile plus `rootfs/`, as an in-memory tar.
    fn context_tar(&self, hash: &str) -> Result<Vec<u8>, StackError> {
        let io = |e: std::io::Error| StackError::Io {
            context: "writing the image build context".into(),
            source: e,
        };
        let mut tar = tar::Builder::new(Vec::new());
        let dockerfile = self.dockerfile(hash);
        let mut header = tar::Header::new_gnu();
        header.set_size(dockerfile.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
            .map_err(io)?;
        let mut dir_header = tar::Header::new_gnu();
        dir_header.set_entry_type(tar::EntryType::Directory);
        dir_header.set_mode(0o755);
        dir_header.set_size(0);
        dir_header.set_cksum();
        tar.append_data(&mut dir_header.clone(), "rootfs/", std::io::empty())
            .map_err(io)?;
        for (path, entry) in &self.entries {
            let name = format!("rootfs/{path}");
            match entry {
                Entry::File { host, mode } => {
                    let data = std::fs::read(host).map_err(|e| StackError::Io {
                        context: format!("reading {}", host.display()),
                        source: e,
                    })?;
                    let mut h = tar::Header::new_gnu();
                    h.set_size(data.len() as u64);
                    h.set_mode(*mode);
                    h.set_cksum();
                    tar.append_data(&mut h, &name, data.as_slice())
                        .map_err(io)?;
                }
                Entry::Symlink { target } => {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    h.set_mode(0o777);
                    tar.append_link(&mut h, &name, target).map_err(io)?;
                }
                Entry::Dir => {
                    let mut h = dir_header.clone();
                    if path == "tmp" {
                        h.set_mode(0o1777);
                        h.set_cksum();
                    }
                    tar.append_data(&mut h, format!("{name}/"), std::io::empty())
                        .map_err(io)?;
                }
            }
        }
        tar.into_inner().map_err(io)
    }
}

/// blake3 of a file's content, remembered per (path, size, modification time)
/// so that a process that starts several stacks hashes each file once.
fn file_hash(path: &Path) -> Result<[u8; 32], StackError> {
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static MEMO: Mutex<BTreeMap<Key, [u8; 32]>> = Mutex::new(BTreeMap::new());
    let io = |e: std::io::Error| StackError::Io {
        context: format!("reading {}", path.display()),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(hash) = MEMO.lock().expect("hash memo poisoned").get(&key) {
        return Ok(*hash);
    }
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path).map_err(io)?;
    std::io::copy(&mut file, &mut hasher).map_err(io)?;
    let hash = *hasher.finalize().as_bytes();
    MEMO.lock().expect("hash memo poisoned").insert(key, hash);
    Ok(hash)
}

/// The shared libraries (and the loader) `ldd` lists for some programs, as host paths.
///
/// Remembered per (path, size, modification time) of the programs, so that a
/// process that starts several stacks runs `ldd` once: over the sidecar's 120-odd
/// iptables modules it takes about a second. A changed program runs it again;
/// the libraries' content is hashed on every call regardless, so a changed
/// library still gives a new image tag.
pub fn ldd_closure(programs: &[PathBuf]) -> Result<Vec<PathBuf>, StackError> {
    type Key = Vec<(PathBuf, u64, Option<std::time::SystemTime>)>;
    static MEMO: Mutex<BTreeMap<Key, Vec<PathBuf>>> = Mutex::new(BTreeMap::new());
    let key: Key = programs
        .iter()
        .map(|p| {
            let meta = std::fs::metadata(p).ok();
            (
                p.clone(),
                meta.as_ref().map_or(0, |m| m.len()),
                meta.and_then(|m| m.modified().ok()),
            )
        })
        .collect();
    if let Some(libs) = MEMO.lock().expect("ldd memo poisoned").get(&key) {
        return Ok(libs.clone());
    }
    let libs = run_ldd(programs)?;
    MEMO.lock()
        .expect("ldd memo poisoned")
        .insert(key, libs.clone());
    Ok(libs)
}

fn run_ldd(programs: &[PathBuf]) -> Result<Vec<PathBuf>, StackError> {
    let shown = programs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("ldd")
        .args(programs)
        .output()
        .map_err(|e| StackError::Io {
            context: format!("running ldd on {shown}"),
            source: e,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // A static program is "not a dynamic executable": nothing to add for it.
        if text.contains("not a dynamic executable") || text.contains("statically linked") {
            return parse_ldd(&text).map_err(|detail| StackError::ImageBuild {
                image: shown.clone(),
                detail,
            });
        }
        return Err(StackError::ImageBuild {
            image: shown.clone(),
            detail: format!(
                "ldd failed: {}{}",
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    parse_ldd(&text).map_err(|detail| StackError::ImageBuild {
        image: shown,
        detail,
    })
}

/// Parses `ldd` output into library paths; a library it could not find is an error.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // With several programs, ldd heads each list with "path:".
        if line.ends_with(':') {
            continue;
        }
        if line.contains("not found") {
            return Err(format!("a shared library is missing on this host: {line}"));
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// Environment variable that, when set, is the only list of folders (like
/// `PATH`) where host programs are looked for.
pub const PROGRAM_PATH_ENV: &str = "TAKEOVER_PROGRAM_PATH";

/// The folders host programs are looked for in, in order: `$TAKEOVER_PROGRAM_PATH`
/// alone when set, else `PATH` and then the usual system folders (a user's PATH
/// often lacks /usr/sbin, where `haproxy` lives).
pub fn host_program_dirs() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os(PROGRAM_PATH_ENV).filter(|p| !p.is_empty()) {
        return std::env::split_paths(&p).collect();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"].map(PathBuf::from));
    dirs
}

pub(crate) fn find_program(name: &str, hint: &str) -> Result<PathBuf, StackError> {
    host_program_dirs()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| StackError::HostProgramMissing {
            program: name.to_string(),
            hint: hint.to_string(),
        })
}

/// Where the worker binary is looked for, in order.
pub fn worker_binary_candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push(p.to_path_buf());
        return out;
    }
    if let Some(p) = std::env::var_os("TAKEOVER_WORKER_BINARY") {
        out.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join("synth-worker"));
            // Test and example binaries live one folder deeper (target/<profile>/deps).
            if let Some(profile_dir) = dir.parent() {
                out.push(profile_dir.join("synth-worker"));
                if let Some(target_dir) = profile_dir.parent() {
                    out.push(target_dir.join("release").join("synth-worker"));
                }
            }
        }
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        out.push(PathBuf::from(target).join("release").join("synth-worker"));
    }
    out.push(PathBuf::from("target/release/synth-worker"));
    out
}

/// Finds the worker binary (the explicit path, or the first candidate that exists).
pub fn find_worker_binary(explicit: Option<&Path>) -> Result<PathBuf, StackError> {
    let candidates = worker_binary_candidates(explicit);
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| StackError::WorkerBinaryMissing {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The recipe of one locally built image.
pub fn recipe(kind: ImageKind, worker_binary: Option<&Path>) -> Result<ImageRecipe, StackError> {
    let apt = |pkg: &str| format!("install it (Debian/Ubuntu: `apt-get install {pkg}`)");
    match kind {
        ImageKind::Worker => {
            let binary = find_worker_binary(worker_binary)?;
            let mut r = ImageRecipe::new(kind, &["/usr/local/bin/synth-worker"], &[]);
            r.add_program(&binary, "/usr/local/bin/synth-worker")?;
            r.add_dir("/data");
            Ok(r)
        }
        ImageKind::Haproxy => {
            let binary = find_program("haproxy", &apt("haproxy"))?;
            let mut r = ImageRecipe::new(
                kind,
                &["/usr/sbin/haproxy"],
                &["-f", "/etc/haproxy/haproxy.cfg", "-db"],
            );
            r.add_program(&binary, "/usr/sbin/haproxy")?;
            r.add_dir("/etc/haproxy");
            Ok(r)
        }
        ImageKind::Redis => {
            let binary = find_program("redis-server", &apt("redis-server"))?;
            let mut r = ImageRecipe::new(
                kind,
                &["/usr/bin/redis-server"],
                &[
                    "--bind",
                    "0.0.0.0",
                    "--protected-mode",
                    "no",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
            );
            r.add_program(&binary, "/usr/bin/redis-server")?;
            Ok(r)
        }
        ImageKind::Sidecar => sidecar_recipe(),
        ImageKind::Nginx => {
            let binary = find_program("nginx", &apt("nginx"))?;
            // The configuration is copied in before start; `-e stderr` keeps
            // Nginx from opening its compiled-in error log path.
            let mut r = ImageRecipe::new(
                kind,
                &["/usr/sbin/nginx"],
                &["-c", "/etc/nginx/nginx.conf", "-e", "stderr"],
            );
            r.add_program(&binary, "/usr/sbin/nginx")?;
            r.add_dir("/etc/nginx");
            Ok(r)
        }
    }
}

fn sidecar_recipe() -> Result<ImageRecipe, StackError> {
    let mut r = ImageRecipe::new(ImageKind::Sidecar, &["/usr/bin/sleep"], &["infinity"]);
    let xtables = find_program(
        "xtables-nft-multi",
        "install iptables (Debian/Ubuntu: `apt-get install iptables`)",
    )?;
    r.add_program(&xtables, "/usr/sbin/xtables-nft-multi")?;
    for name in ["iptables", "iptables-save", "iptables-restore"] {
        r.add_symlink(&format!("/usr/sbin/{name}"), "xtables-nft-multi");
    }
    // iptables loads its matches and targets from this folder; ldd does not see them.
    let module_dir = [
        "/usr/lib/x86_64-linux-gnu/xtables",
        "/usr/lib/xtables",
        "/usr/lib64/xtables",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
    .ok_or_else(|| StackError::HostProgramMissing {
        program: "the xtables module folder".into(),
        hint: "install iptables (Debian/Ubuntu: `apt-get install iptables`)".into(),
    })?;
    let entries = std::fs::read_dir(&module_dir).map_err(|e| StackError::Io {
        context: format!("listing {}", module_dir.display()),
        source: e,
    })?;
    let mut modules: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "so"))
        .collect();
    modules.sort();
    for module in &modules {
        let image_path = module.to_string_lossy().to_string();
        r.add_file(module, &image_path, 0o755)?;
    }
    r.add_libraries_of_all(&modules)?;
    let tc = find_program(
        "tc",
        "install iproute2 (Debian/Ubuntu: `apt-get install iproute2`)",
    )?;
    r.add_program(&tc, "/usr/sbin/tc")?;
    for name in ["sleep", "dd", "df", "rm", "find"] {
        let program = find_program(name, "install coreutils")?;
        r.add_program(&program, &format!("/usr/bin/{name}"))?;
    }
    // A TCP client (`/dev/tcp`) for checks from inside the run network.
    let bash = find_program("bash", "install bash")?;
    r.add_program(&bash, "/usr/bin/bash")?;
    Ok(r)
}

/// Whether the engine has an image.
pub async fn exists(docker: &Docker, reference: &str) -> Result<bool, StackError> {
    match docker.inspect_image(reference).await {
        Ok(_) => Ok(true),
        Err(e) if super::docker::is_not_found(&e) => Ok(false),
        Err(e) => Err(StackError::docker(format!("inspect image {reference}"), e)),
    }
}

/// Builds the image of a recipe unless an image with its content hash exists.
/// `hash` is the recipe's [`ImageRecipe::content_hash`].
pub async fn build(
    docker: &Docker,
    recipe: &ImageRecipe,
    hash: &str,
) -> Result<ImageOutcome, StackError> {
    let tag = format!("takeover-{}:{hash}", recipe.kind.name());
    let (files, bytes) = recipe.size();
    let outcome = |action: &str| ImageOutcome {
        kind: recipe.kind,
        reference: tag.clone(),
        action: action.to_string(),
        files,
        bytes,
    };
    if exists(docker, &tag).await? {
        return Ok(outcome("reused"));
    }
    let context = recipe.context_tar(hash)?;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.clone()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut stream =
        Box::pin(docker.build_image(options, None, Some(bollard::body_full(context.into()))));
    let mut log = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    return Err(StackError::ImageBuild {
                        image: tag,
                        detail: err,
                    });
                }
                if let Some(s) = info.stream {
                    log.push_str(&s);
                }
            }
            Err(e) => {
                return Err(StackError::ImageBuild {
                    image: tag,
                    detail: format!("{e}; build output so far: {}", log.trim()),
                })
            }
        }
    }
    if !exists(docker, &tag).await? {
        return Err(StackError::ImageBuild {
            image: tag,
            detail: format!(
                "the engine finished without the image; output: {}",
                log.trim()
            ),
        });
    }
    Ok(outcome("built"))
}

/// Copies the image `reference` from the engine `from` to the engine `to`
/// unless `to` has it already (`docker save`, then `docker load`, through the
/// API): how an engine without a registry gets an image built once elsewhere.
/// Returns whether it copied.
pub async fn copy_image(from: &Docker, to: &Docker, reference: &str) -> Result<bool, StackError> {
    if exists(to, reference).await? {
        return Ok(false);
    }
    let mut archive = Vec::new();
    let mut saved = Box::pin(from.export_image(reference));
    while let Some(chunk) = saved.next().await {
        let chunk = chunk.map_err(|e| StackError::docker(format!("save image {reference}"), e))?;
        archive.extend_from_slice(&chunk);
    }
    let options = bollard::query_parameters::ImportImageOptions {
        quiet: true,
        ..Default::default()
    };
    let mut loaded = Box::pin(to.import_image(options, bollard::body_full(archive.into()), None));
    while let Some(item) = loaded.next().await {
        item.map_err(|e| StackError::docker(format!("load image {reference}"), e))?;
    }
    if !exists(to, reference).await? {
        return Err(StackError::ImageBuild {
            image: reference.to_string(),
            detail: "the engine loaded the saved image but does not list it".into(),
        });
    }
    Ok(true)
}

/// Makes sure one image is there: the scenario's named image (which must
/// exist), or the locally built one (built now when missing).
pub async fn ensure_one(
    docker: &Docker,
    kind: ImageKind,
    spec: &ImagesSpec,
) -> Result<ImageOutcome, StackError> {
    let named = match kind {
        ImageKind::Worker => &spec.worker,
        ImageKind::Haproxy => &spec.haproxy,
        ImageKind::Redis => &spec.redis,
        ImageKind::Sidecar => &spec.sidecar,
        ImageKind::Nginx => &spec.nginx,
    };
    if let Some(reference) = named {
        if !exists(docker, reference).await? {
            return Err(StackError::ImageMissing {
                image: reference.clone(),
                key: format!("stack.images.{}", kind.name()),
            });
        }
        return Ok(ImageOutcome {
            kind,
            reference: reference.clone(),
            action: "named".into(),
            files: 0,
            bytes: 0,
        });
    }
    // ldd and hashing read files: keep them off the async threads.
    let worker_binary = spec.worker_binary.clone();
    let (recipe, hash) = tokio::task::spawn_blocking(move || {
        let recipe = recipe(kind, worker_binary.as_deref())?;
        let hash = recipe.content_hash()?;
        Ok::<_, StackError>((recipe, hash))
    })
    .await
    .map_err(|e| StackError::Unsupported(format!("image recipe task failed: {e}")))??;
    build(docker, &recipe, &hash).await
}

/// Makes sure every image of a stack with the `frontdoor` proxy is there
/// (the other front door's image is not needed); returns their references.
///
/// `own_worker` is the user's own worker image (`stack.worker.image`): it
/// must be on the engine, and the reference worker's image is then not built.
pub async fn ensure_all(
    docker: &Docker,
    spec: &ImagesSpec,
    frontdoor: FrontdoorKind,
    own_worker: Option<&str>,
) -> Result<ResolvedImages, StackError> {
    let kinds = [
        ImageKind::frontdoor(frontdoor),
        ImageKind::Redis,
        ImageKind::Sidecar,
    ];
    let worker = async {
        match own_worker {
            Some(image) if exists(docker, image).await? => Ok(image.to_string()),
            Some(image) => Err(StackError::ImageMissing {
                image: image.to_string(),
                key: "stack.worker.image".into(),
            }),
            None => ensure_one(docker, ImageKind::Worker, spec)
                .await
                .map(|o| o.reference),
        }
    };
    let others =
        futures_util::future::try_join_all(kinds.map(|kind| ensure_one(docker, kind, spec)));
    let (worker, outcomes) = tokio::try_join!(worker, others)?;
    let mut refs: BTreeMap<&str, String> = outcomes
        .into_iter()
        .map(|o| (o.kind.name(), o.reference))
        .collect();
    Ok(ResolvedImages {
        worker,
        haproxy: refs.remove("haproxy").unwrap_or_default(),
        nginx: refs.remove("nginx"),
        redis: refs["redis"].clone(),
        sidecar: refs["sidecar"].clone(),
    })
}

/// The locally built images on the engine (`takeover-*` repositories), as `(reference, created)`.
pub async fn list_local(docker: &Docker) -> Result<Vec<(String, i64)>, StackError> {
    let options = ListImagesOptions {
        filters: Some(std::collections::HashMap::from([(
            "label".to_string(),
            vec![labels::IMAGE_CONTENT.to_string()],
        )])),
        ..Default::default()
    };
    let images = docker
        .list_images(Some(options))
        .await
        .map_err(|e| StackError::docker("list images", e))?;
    let mut out = Vec::new();
    for image in images {
        for tag in image.repo_tags {
            out.push((tag, image.created));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_yields_library_and_loader_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ff840c32000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007ff84094f000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007ff840c34000)\n";
        let libs = parse_ldd(text).unwrap();
        assert_eq!(
            libs,
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.contains("libfoo"));
    }

    #[test]
    fn a_host_program_recipe_holds_its_closure_and_hashes_stably() {
        let r = recipe(ImageKind::Redis, None).expect("redis-server is installed here");
        assert!(r.entries.contains_key("usr/bin/redis-server"));
        assert!(r.entries.contains_key("lib64/ld-linux-x86-64.so.2"));
        assert!(r.entries.keys().any(|k| k.ends_with("libc.so.6")));
        let (files, bytes) = r.size();
        assert!(files > 3 && bytes > 100_000);
        assert_eq!(r.content_hash().unwrap(), r.content_hash().unwrap());
        let mut other = r.clone();
        other.cmd.push("--loglevel".into());
        assert_ne!(r.content_hash().unwrap(), other.content_hash().unwrap());
        assert!(r.tag().unwrap().starts_with("takeover-redis:"));
    }

    #[test]
    fn sidecar_recipe_has_iptables_modules_and_tc() {
        let r = recipe(ImageKind::Sidecar, None).expect("iptables and iproute2 are installed here");
        assert!(r.entries.contains_key("usr/sbin/iptables"));
        assert!(r
            .entries
            .keys()
            .any(|k| k.ends_with("xtables/libxt_statistic.so")));
        assert!(r.entries.contains_key("usr/sbin/tc"));
        assert!(r.dockerfile("h").starts_with("FROM scratch\n"));
    }

    #[test]
    fn a_missing_worker_binary_names_the_places_searched() {
        let err = find_worker_binary(Some(Path::new("/nonexistent/synth-worker"))).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/synth-worker"), "{text}");
        assert!(
            text.contains("cargo build --release -p synth-worker"),
            "{text}"
        );
    }
}
