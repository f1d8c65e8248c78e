//! One world: schema, store and policies generated from (seed, world index), cedar's reference for it, and
//! Privet's two bundles (Cedar-exact and fail-closed) loaded from the same texts.

use std::collections::HashSet;
use std::path::PathBuf;

use cedar_policy::Validator;
use privet::{Bundle, BundleSources, SourceFile};

use super::oracle::Oracle;
use super::policies::{self, Policies};
use super::requests::Uid;
use super::rng::Rng;
use super::schema::Schema;
use super::values::Store;

pub struct World {
    pub seed: u64,
    pub index: u64,
    pub schema: Schema,
    pub schema_text: String,
    pub store: Store,
    pub store_text: String,
    /// Stored uids as requests name them.
    pub stored: HashSet<Uid>,
    pub policies: Policies,
    pub oracle: Oracle,
    pub exact: Bundle,
    pub closed: Bundle,
    /// How many requests this world is asked.
    pub requests: usize,
}

impl World {
    /// The world's own generator; request `i` of the world uses `request_rng(i)`.
    fn rng(seed: u64, index: u64) -> Rng {
        Rng::derive(seed, index.wrapping_mul(2).wrapping_add(1))
    }

    pub fn request_rng(&self, i: usize) -> Rng {
        Rng::derive(Self::rng(self.seed, self.index).next(), i as u64 + 1)
    }

    pub fn generate(seed: u64, index: u64) -> World {
        let mut rng = Self::rng(seed, index);
        rng.next(); // the first draw seeds the requests
        let schema = Schema::generate(&mut rng);
        let schema_text = schema.text();
        let (cedar_schema, _) = cedar_policy::Schema::from_cedarschema_str(&schema_text)
            .unwrap_or_else(|e| panic!("generated schema does not parse: {e:?}\n{schema_text}"));
        let store = Store::generate(&mut rng, &schema);
        let store_json = store.json();
        let store_text = serde_json::to_string_pretty(&store_json).unwrap();
        let validator = Validator::new(cedar_schema);
        let policies = policies::generate(&mut rng, &schema, &validator, &store.ids);
        let oracle = Oracle::new(&schema_text, &policies.files, store_json.as_array().unwrap());
        let requests = rng.range(150, 650);
        let bundle = |semantics: &str| {
            let sources = sources(&schema_text, &policies, &store_text, semantics);
            Bundle::from_sources(sources).unwrap_or_else(|e| {
                panic!(
                    "seed {seed:#x} world {index}: Privet refuses a world cedar accepts ({semantics}): {e:?}\n{}",
                    dump(seed, index, &schema_text, &policies, &store_text, None)
                )
            })
        };
        let exact = bundle("cedar");
        let closed = bundle("fail-closed");
        let stored = store.entities.iter().map(|(t, id, _)| (schema.entity_type(*t), id.clone())).collect();
        World { seed, index, schema, schema_text, store, store_text, stored, policies, oracle, exact, closed, requests }
    }

    /// Writes the world (and a request) where `privet eval` can replay it; returns a note naming the directory.
    pub fn dump(&self, request: Option<&str>) -> String {
        dump(self.seed, self.index, &self.schema_text, &self.policies, &self.store_text, request)
    }
}

fn sources(schema: &str, policies: &Policies, store: &str, semantics: &str) -> BundleSources {
    BundleSources {
        manifest: Some(SourceFile::new("privet.toml", format!("[decision]\nsemantics = \"{semantics}\"\n"))),
        schema: SourceFile::new("schema.cedarschema", schema),
        policies: policies.files.iter().map(|(name, text)| SourceFile::new(name, text)).collect(),
        entities: Some(SourceFile::new("entities.json", store)),
    }
}

fn dump(seed: u64, index: u64, schema: &str, policies: &Policies, store: &str, request: Option<&str>) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("random_worlds/seed-{seed:x}-world-{index}"));
    let mut files: Vec<(String, String)> = vec![
        ("schema.cedarschema".into(), schema.into()),
        ("entities.json".into(), store.into()),
        ("privet.toml".into(), "[decision]\nsemantics = \"cedar\"\n".into()),
    ];
    files.extend(policies.files.iter().cloned());
    if let Some(r) = request {
        files.push(("request.json".into(), r.into()));
    }
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| files.iter().try_for_each(|(name, text)| std::fs::write(dir.join(name), text)));
    match written {
        Ok(()) => format!("world written to {} (privet eval DIR --request \"$(cat DIR/request.json)\")", dir.display()),
        Err(e) => format!("could not write the world to {}: {e}", dir.display()),
    }
}
