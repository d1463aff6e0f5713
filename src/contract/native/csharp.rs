//! `/types/csharp`: the DTOs as C# for ServiceStack's .NET clients, as ServiceStack v6.5's
//! `CSharpGenerator` writes them: one `namespace` block per namespace (types ordered by
//! namespace, then name), `partial` classes with `virtual` auto-properties, real `[Route]`
//! and `[Api]`/`[ApiMember]` attributes, `IReturn<…>` on request DTOs and collections
//! initialized in a constructor.

use std::fmt::Write as _;

use super::{Default, NativeOptions, quoted, selected_types};
use crate::contract::schema::{self, Body, PropType, TypeDef};

/// The header's options and their defaults, in the generator's order.
const OPTIONS: [(&str, Default); 20] = [
    ("GlobalNamespace", Default::Text("")),
    ("MakePartial", Default::Bool(true)),
    ("MakeVirtual", Default::Bool(true)),
    ("MakeInternal", Default::Bool(false)),
    ("MakeDataContractsExtensible", Default::Bool(false)),
    ("AddNullableAnnotations", Default::Bool(false)),
    ("AddReturnMarker", Default::Bool(true)),
    ("AddDescriptionAsComments", Default::Bool(true)),
    ("AddDataContractAttributes", Default::Bool(false)),
    ("AddIndexesToDataMembers", Default::Bool(false)),
    ("AddGeneratedCodeAttributes", Default::Bool(false)),
    ("AddResponseStatus", Default::Bool(false)),
    ("AddImplicitVersion", Default::Text("")),
    ("InitializeCollections", Default::Bool(true)),
    ("ExportValueTypes", Default::Bool(false)),
    ("IncludeTypes", Default::List("")),
    ("ExcludeTypes", Default::List("")),
    ("AddNamespaces", Default::List("")),
    (
        "AddDefaultXmlNamespace",
        Default::Text("http://schemas.servicestack.net/types"),
    ),
    ("DefaultNamespaces", Default::List("")),
];

/// How the types are written.
#[derive(Debug, Clone, Copy)]
struct Style {
    partial: bool,
    virtual_: bool,
    internal: bool,
    return_marker: bool,
    comments: bool,
    init_collections: bool,
}

/// The source `/types/csharp` serves.
pub fn csharp(options: &NativeOptions) -> String {
    let style = Style {
        partial: options.flag("MakePartial", true),
        virtual_: options.flag("MakeVirtual", true),
        internal: options.flag("MakeInternal", false),
        return_marker: options.flag("AddReturnMarker", true),
        comments: options.flag("AddDescriptionAsComments", true),
        init_collections: options.flag("InitializeCollections", true),
    };
    let mut out = String::new();
    if !options.without_options() {
        out.push_str(&options.preamble("/*", "//"));
        // DefaultNamespaces is not among v6.5's header lines.
        out.push_str(&options.option_lines("//", &OPTIONS[..OPTIONS.len() - 1]));
        out.push_str("*/\n\n");
    }
    let mut types = selected_types(options);
    types.sort_by(|a, b| (a.namespace, a.name).cmp(&(b.namespace, b.name)));
    let mut namespaces: Vec<&str> = types.iter().map(|t| t.namespace).collect();
    namespaces.dedup();
    for using in [
        "System",
        "System.IO",
        "System.Collections",
        "System.Collections.Generic",
        "System.Runtime.Serialization",
        "ServiceStack",
        "ServiceStack.DataAnnotations",
    ]
    .into_iter()
    .chain(namespaces.iter().copied())
    {
        let _ = writeln!(out, "using {using};");
    }
    out.push('\n');
    for ns in namespaces {
        let _ = writeln!(out, "namespace {ns}\n{{");
        for (i, ty) in types.iter().filter(|t| t.namespace == ns).enumerate() {
            if i > 0 {
                out.push('\n');
            }
            write_type(&mut out, ty, style);
        }
        out.push_str("\n}\n\n");
    }
    out
}

fn summary(out: &mut String, indent: &str, text: &str) {
    let _ = writeln!(
        out,
        "{indent}///<summary>\n{indent}///{text}\n{indent}///</summary>"
    );
}

fn write_type(out: &mut String, ty: &TypeDef, style: Style) {
    let access = if style.internal { "internal" } else { "public" };
    if style.comments
        && let Some(d) = ty.description
    {
        summary(out, "    ", d);
    }
    if let Some(op) = schema::operation(ty.name) {
        let _ = writeln!(
            out,
            "    [Route({}, {})]",
            quoted(op.route),
            quoted(op.verb)
        );
    }
    if let Some(d) = ty.description {
        let _ = writeln!(out, "    [Api(Description={})]", quoted(d));
    }
    let (base, properties) = match ty.body {
        Body::Enum(members) => {
            let _ = writeln!(out, "    {access} enum {}\n    {{", ty.name);
            for m in members {
                let _ = writeln!(out, "        {m},");
            }
            out.push_str("    }\n");
            return;
        }
        Body::Class { base, properties } => (base, properties),
    };
    let partial = if style.partial { "partial " } else { "" };
    let _ = writeln!(out, "    {access} {partial}class {}", ty.name);
    let mut extends: Vec<String> = base.into_iter().map(str::to_owned).collect();
    if style.return_marker
        && let Some(op) = schema::operation(ty.name)
    {
        extends.push(format!("IReturn<{}>", op.response));
    }
    if !extends.is_empty() {
        let _ = writeln!(out, "        : {}", extends.join(", "));
    }
    out.push_str("    {\n");
    let collections: Vec<_> = properties
        .iter()
        .filter(|p| matches!(p.ty, PropType::List(_) | PropType::StringMap))
        .collect();
    if style.init_collections && !collections.is_empty() {
        let _ = writeln!(out, "        public {}()\n        {{", ty.name);
        for p in &collections {
            let _ = writeln!(out, "            {} = new {}{{}};", p.name, cs_type(p.ty));
        }
        out.push_str("        }\n\n");
    }
    let modifier = if style.virtual_ { "virtual " } else { "" };
    let mut described = false;
    for p in properties {
        if described {
            out.push('\n');
        }
        described = false;
        if let Some(d) = p.description {
            if style.comments {
                summary(out, "        ", d);
            }
            let _ = writeln!(out, "        [ApiMember(Description={})]", quoted(d));
            described = true;
        }
        let _ = writeln!(
            out,
            "        public {modifier}{} {} {{ get; set; }}",
            cs_type(p.ty),
            p.name
        );
    }
    out.push_str("    }\n");
}

fn cs_type(ty: PropType) -> String {
    match ty {
        PropType::String => "string".to_owned(),
        PropType::Bool => "bool".to_owned(),
        PropType::Enum(t) | PropType::Object(t) => t.to_owned(),
        PropType::List(t) => format!("List<{t}>"),
        PropType::StringMap => "Dictionary<string, string>".to_owned(),
    }
}
