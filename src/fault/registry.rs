//! The registry of fault kinds. [`fault_kinds!`] is invoked once, in
//! `fault/mod.rs`, with one line per kind; from that list it declares each
//! kind's module, its `FaultSpec` variant and its entry in [`KINDS`].
//! Validation, the JSON Schema of `FaultSpec`, `heal`, `takeover list
//! --faults` and the docs table all read [`KINDS`]. Adding a kind is one file
//! under `src/fault/` and one line in that list (ARCHITECTURE.md's recipe).

use super::kind::{Kind, Runtimes};
use super::revert::Revert;

pub use super::KINDS;

/// Declares the fault kinds from one list of `module::Type` lines (each may
/// carry attributes such as `#[cfg(test)]`): for each, the module (the file
/// `src/fault/module.rs`), the re-export of its fault struct, the variant of
/// `FaultSpec` that holds it (tagged by the kind's kebab-case name), the arm
/// of `FaultSpec::as_fault`, and `&module::KIND` in `KINDS`, in list order.
macro_rules! fault_kinds {
    ($( $(#[$attr:meta])* $module:ident :: $Type:ident ),+ $(,)?) => {
        $( $(#[$attr])* mod $module; )+
        $( $(#[$attr])* pub use $module::$Type; )+

        /// One fault, as a scenario step writes it (`kind: kill`, `target: primary`, ...).
        ///
        /// Made by `fault_kinds!` from the registry list in `fault/mod.rs`:
        /// one variant per kind, holding its struct. The JSON Schema comes
        /// from the registry ([`registry::fault_spec_schema`]).
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
        pub enum FaultSpec {
            $(
                $(#[$attr])*
                #[doc = concat!("See [`", stringify!($Type), "`].")]
                $Type($Type),
            )+
        }

        impl FaultSpec {
            /// The fault behind this step: the one place a variant becomes its [`Fault`].
            pub fn as_fault(&self) -> &dyn Fault {
                match self {
                    $( $(#[$attr])* FaultSpec::$Type(f) => f, )+
                }
            }
        }

        /// Every fault kind, in the order of the registry list (the order docs and listings show).
        pub static KINDS: &[&Kind] = &[ $( $(#[$attr])* &$module::KIND, )+ ];
    };
}
pub(crate) use fault_kinds;

/// The kinds users see: everything but test-only kinds.
pub fn shipped() -> impl Iterator<Item = &'static Kind> {
    KINDS
        .iter()
        .copied()
        .filter(|k| !k.name.starts_with(TEST_ONLY_PREFIX))
}

/// Names of kinds that exist only in the harness's own tests start with this.
pub const TEST_ONLY_PREFIX: &str = "test-";

/// The kind named `name` as scenarios write it.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().copied().find(|k| k.name == name)
}

/// Every distinct revert of the registry, in the order a heal runs them.
pub fn reverts() -> Vec<&'static Revert> {
    let mut all: Vec<&'static Revert> = KINDS
        .iter()
        .flat_map(|k| k.reverts.iter().copied())
        .collect();
    all.sort_by_key(|r| r.order);
    all.dedup_by(|a, b| std::ptr::eq(*a, *b));
    all
}

/// The JSON Schema of `FaultSpec`: one object per kind, tagged by `kind`.
pub fn fault_spec_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let one_of: Vec<serde_json::Value> = KINDS
        .iter()
        .map(|k| kind_schema(k, generator).to_value())
        .collect();
    schemars::json_schema!({
        "description": "One fault, as a scenario step writes it (`kind: kill`, `target: primary`, ...).",
        "oneOf": one_of,
    })
}

/// One kind's schema: its fields, plus the `kind` tag (first of `required`) and its description.
fn kind_schema(kind: &Kind, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = (kind.schema)(generator);
    let object = schema.ensure_object();
    object.remove("title");
    object.insert("description".into(), kind.about.into());
    let properties = object
        .entry("properties")
        .or_insert_with(|| serde_json::json!({}));
    if let Some(p) = properties.as_object_mut() {
        p.insert(
            "kind".into(),
            serde_json::json!({ "const": kind.name, "type": "string" }),
        );
    }
    let required = object
        .entry("required")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(r) = required.as_array_mut() {
        r.insert(0, "kind".into());
    }
    schema
}

/// A kind's fields from its schema: required ones as `name`, optional ones as `[name]`.
pub fn fields(kind: &Kind) -> Vec<String> {
    let mut generator = schemars::SchemaGenerator::default();
    let schema = (kind.schema)(&mut generator).to_value();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    let mut out: Vec<String> = required.iter().map(|n| format!("`{n}`")).collect();
    out.extend(
        properties
            .keys()
            .filter(|k| !required.contains(&k.as_str()))
            .map(|k| format!("[`{k}`]")),
    );
    out
}

/// The runtimes that can make a kind, in words.
pub fn runtimes(kind: &Kind) -> &'static str {
    match (kind.runtimes, kind.kubernetes) {
        (Runtimes::Both, false) => "docker, process",
        (Runtimes::Both, true) => "docker, process, kubernetes",
        (Runtimes::DockerOnly(_), false) => "docker",
        (Runtimes::DockerOnly(_), true) => "docker, kubernetes",
        (Runtimes::KubernetesOnly(_), _) => "kubernetes",
    }
}

/// What a heal undoes of a kind, in words (`—`: nothing).
pub fn heal_undoes(kind: &Kind) -> String {
    let what: Vec<&str> = kind.reverts.iter().map(|r| r.what).collect();
    if what.is_empty() {
        "—".into()
    } else {
        what.join(", ")
    }
}

/// The Markdown table of the shipped kinds that `docs/scenario-format.md` holds
/// between its `fault-kinds` markers (a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut t = String::from(
        "| kind | fields | runtimes | `heal` undoes | what it does |\n| --- | --- | --- | --- | --- |\n",
    );
    for k in shipped() {
        let about = k.about.replace('\n', " ");
        t.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            k.name,
            fields(k).join(", "),
            runtimes(k),
            heal_undoes(k),
            about
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!("../../docs/scenario-format.md");
    const BEGIN: &str = "<!-- fault-kinds:begin (generated from src/fault/registry.rs) -->\n";
    const END: &str = "<!-- fault-kinds:end -->";

    #[test]
    fn the_docs_table_is_the_registrys() {
        let start = DOCS
            .find(BEGIN)
            .expect("begin marker in docs/scenario-format.md")
            + BEGIN.len();
        let end = DOCS[start..].find(END).expect("end marker") + start;
        if std::env::var_os("TAKEOVER_BLESS_DOCS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenario-format.md");
            let text = format!("{}{}{}", &DOCS[..start], markdown_table(), &DOCS[end..]);
            std::fs::write(path, text).unwrap();
            return;
        }
        assert_eq!(
            &DOCS[start..end],
            markdown_table(),
            "docs/scenario-format.md's fault table is out of date; rerun this test with TAKEOVER_BLESS_DOCS=1"
        );
    }

    #[test]
    fn every_kind_has_one_name_and_its_schema_tag() {
        let schema = crate::cli::schema::scenario_schema();
        let tags: Vec<&str> = schema["$defs"]["FaultSpec"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["properties"]["kind"]["const"].as_str().unwrap())
            .collect();
        let names: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        assert_eq!(tags, names);
        for name in names {
            assert!(std::ptr::eq(find(name).unwrap(), find(name).unwrap()));
            assert_eq!(KINDS.iter().filter(|k| k.name == name).count(), 1, "{name}");
        }
    }

    #[test]
    fn every_kind_parses_by_its_own_name() {
        // The serde tag of each `FaultSpec` variant is its struct's name in
        // kebab-case; the registry's name must be the same word, or a kind
        // would be listed under one name and parsed under another.
        for kind in KINDS {
            let err = serde_json::from_value::<crate::fault::FaultSpec>(
                serde_json::json!({ "kind": kind.name }),
            )
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
            assert!(
                !err.contains("unknown variant"),
                "`{}` is not the serde tag of its variant: {err}",
                kind.name
            );
        }
    }

    #[test]
    fn a_heal_runs_each_revert_once_in_order() {
        let what: Vec<&str> = reverts().iter().map(|r| r.what).collect();
        assert_eq!(
            what,
            [
                "thaws it",
                "removes its iptables chains",
                "deletes the qdisc",
                "reconnects it",
                "restores the memory limit",
                "deletes the fill file",
                "removes its host's DROP rules and qdiscs",
                "starts the crashed host's containers again"
            ]
        );
    }
}
