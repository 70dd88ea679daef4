//! A service's packages: each function's zip (its files by
//! `package.patterns`, with its Python requirements unless they go in a
//! layer), the layers' zips, with progress bars while they are built.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayo_deploy::package::{self, Contents};
use rayo_deploy::{Function, Layer, Service};

/// A built package.
#[derive(Debug, Clone)]
pub(crate) struct Artifact {
    /// The zip.
    pub(crate) zip: Vec<u8>,
    /// Lambda's `CodeSha256` of it.
    pub(crate) sha256: String,
}

/// Every package of a service.
#[derive(Debug, Default)]
pub(crate) struct Artifacts {
    /// By function key.
    pub(crate) functions: BTreeMap<String, Artifact>,
    /// By layer key.
    pub(crate) layers: BTreeMap<String, Artifact>,
    /// The requirements layer, when `custom.pythonRequirements.layer` asks for one.
    pub(crate) requirements_layer: Option<Artifact>,
}

/// A progress bar on stderr (hidden when it is not a terminal).
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

/// Builds the packages of `functions` (all of the service's when `None`)
/// and of the layers.
pub(crate) fn build(service: &Service, only: Option<&[String]>) -> anyhow::Result<Artifacts> {
    let mut artifacts = Artifacts::default();
    let functions: Vec<&Function> = service
        .functions
        .iter()
        .filter(|f| only.is_none_or(|only| only.contains(&f.key)))
        .collect();
    let requirements = requirements(service)?;
    let bar = progress((functions.len() + service.layers.len()) as u64, "packaging");
    // Functions with the same patterns and runtime share one zip.
    let mut built: BTreeMap<(Vec<String>, String), Artifact> = BTreeMap::new();
    for function in functions {
        bar.set_message(function.key.clone());
        let mut patterns = service.patterns.clone();
        patterns.extend(function.patterns.iter().cloned());
        let key = (patterns.clone(), function.runtime.clone());
        if let Some(artifact) = built.get(&key) {
            artifacts
                .functions
                .insert(function.key.clone(), artifact.clone());
            bar.inc(1);
            continue;
        }
        let mut contents = Contents::new();
        if !service.requirements_layer
            && let Some(requirements) = &requirements
            && function.runtime.starts_with("python")
        {
            let dir = install(service, requirements, &function.runtime, &bar)?;
            contents.extend(package::all_contents(&dir, "")?);
        }
        // The service's own files win over an installed package's.
        contents.extend(package::contents(&service.dir, &patterns, "")?);
        contents.remove(".complete");
        let (zip, sha256) = package::zip(&contents)?;
        let artifact = Artifact { zip, sha256 };
        built.insert(key, artifact.clone());
        artifacts.functions.insert(function.key.clone(), artifact);
        bar.inc(1);
    }
    for layer in &service.layers {
        bar.set_message(format!("layer {}", layer.key));
        artifacts
            .layers
            .insert(layer.key.clone(), build_layer(service, layer)?);
        bar.inc(1);
    }
    if service.requirements_layer
        && let Some(requirements) = &requirements
    {
        let runtime = service
            .functions
            .first()
            .map(|f| f.runtime.clone())
            .unwrap_or_else(|| "python3.12".into());
        let dir = install(service, requirements, &runtime, &bar)?;
        let version = runtime.trim_start_matches("python");
        let mut contents =
            package::all_contents(&dir, &format!("python/lib/python{version}/site-packages/"))?;
        contents.retain(|name, _| !name.ends_with("/.complete"));
        let (zip, sha256) = package::zip(&contents)?;
        artifacts.requirements_layer = Some(Artifact { zip, sha256 });
    }
    bar.finish_and_clear();
    Ok(artifacts)
}

fn build_layer(service: &Service, layer: &Layer) -> anyhow::Result<Artifact> {
    let dir = service.dir.join(&layer.path);
    let contents = package::all_contents(&dir, "")?;
    let (zip, sha256) =
        package::zip(&contents).with_context(|| format!("packaging layer {}", layer.key))?;
    Ok(Artifact { zip, sha256 })
}

/// `requirements.txt` beside the configuration, if any.
fn requirements(service: &Service) -> anyhow::Result<Option<std::path::PathBuf>> {
    let path = service.dir.join("requirements.txt");
    Ok(path.is_file().then_some(path))
}

fn install(
    service: &Service,
    requirements: &Path,
    runtime: &str,
    bar: &ProgressBar,
) -> anyhow::Result<std::path::PathBuf> {
    bar.set_message(format!("pip install -r requirements.txt ({runtime})"));
    let cache = service.dir.join(".serverless").join("requirements");
    let (dir, _cached) = package::install_requirements(requirements, runtime, &cache)
        .with_context(|| format!("installing {}", requirements.display()))?;
    Ok(dir)
}
