//! `/types/typescript`: the DTOs as TypeScript for `@servicestack/client`, as ServiceStack
//! v6.5's `TypeScriptGenerator` writes them; and the same DTOs as the metadata page shows
//! them (every member optional, no routes and no `IReturn` methods).

use std::fmt::Write as _;

use super::{Default, NativeOptions, quoted, selected_types, type_attributes};
use crate::contract::schema::{self, Body, PropType, TypeDef};

/// The header's options and their defaults, in the generator's order.
const OPTIONS: [(&str, Default); 9] = [
    ("GlobalNamespace", Default::Text("")),
    ("MakePropertiesOptional", Default::Bool(false)),
    ("AddServiceStackTypes", Default::Bool(true)),
    ("AddResponseStatus", Default::Bool(false)),
    ("AddImplicitVersion", Default::Text("")),
    ("AddDescriptionAsComments", Default::Bool(true)),
    ("IncludeTypes", Default::List("")),
    ("ExcludeTypes", Default::List("")),
    ("DefaultImports", Default::List("")),
];

/// How the types are written.
#[derive(Debug, Clone, Copy)]
struct Style {
    optional: bool,
    comments: bool,
    /// Routes, `implements IReturn<…>` and the client methods on request DTOs.
    operations: bool,
}

/// The source `/types/typescript` serves.
pub fn typescript(options: &NativeOptions) -> String {
    let style = Style {
        optional: options.flag("MakePropertiesOptional", false),
        comments: options.flag("AddDescriptionAsComments", true),
        operations: true,
    };
    let mut out = String::new();
    if !options.without_options() {
        out.push_str(&options.preamble("/*", "//"));
        out.push_str(&options.option_lines("//", &OPTIONS));
        out.push_str("*/\n\n");
    }
    let types = selected_types(options);
    if options.flag("AddServiceStackTypes", true)
        && types.iter().any(|t| schema::operation(t.name).is_some())
    {
        out.push_str("\nexport interface IReturn<T>\n{\n    createResponse(): T;\n}\n");
    }
    for ty in types {
        out.push('\n');
        write_type(&mut out, ty, style);
    }
    out.push('\n');
    out
}

/// The DTOs of `operation` as its metadata page shows them (`?lang=typescript`): the
/// types it uses, every member optional, no header, routes or client methods.
pub fn page_dtos(operation: &str) -> String {
    let options = NativeOptions::new("", "", Some(&format!("IncludeTypes={operation}.*")));
    let style = Style {
        optional: true,
        comments: true,
        operations: false,
    };
    let mut out = String::new();
    for ty in selected_types(&options) {
        out.push('\n');
        write_type(&mut out, ty, style);
    }
    out
}

fn write_type(out: &mut String, ty: &TypeDef, style: Style) {
    if style.comments
        && let Some(d) = ty.description
    {
        let _ = writeln!(out, "/**\n* {d}\n*/");
    }
    for attr in type_attributes(ty, style.operations) {
        let _ = writeln!(out, "// @{attr}");
    }
    let (base, properties) = match ty.body {
        Body::Enum(members) => {
            let _ = writeln!(out, "export enum {}\n{{", ty.name);
            for m in members {
                let _ = writeln!(out, "    {m} = '{m}',");
            }
            out.push_str("}\n");
            return;
        }
        Body::Class { base, properties } => (base, properties),
    };
    let op = schema::operation(ty.name).filter(|_| style.operations);
    let _ = write!(out, "export class {}", ty.name);
    if let Some(base) = base {
        let _ = write!(out, " extends {base}");
    }
    if let Some(op) = op {
        let _ = write!(out, " implements IReturn<{}>", op.response);
    }
    out.push_str("\n{\n");
    let mut described = false;
    for p in properties {
        if described {
            out.push('\n');
        }
        described = false;
        if let Some(d) = p.description {
            if style.comments {
                let _ = writeln!(out, "    /**\n    * {d}\n    */");
            }
            let _ = writeln!(out, "    // @ApiMember(Description={})", quoted(d));
            described = true;
        }
        let optional = if style.optional { "?" } else { "" };
        let _ = writeln!(
            out,
            "    public {}{optional}: {};",
            schema::camel(p.name),
            ts_type(p.ty)
        );
    }
    let init = if base.is_some() { "super(init); " } else { "" };
    let _ = writeln!(
        out,
        "\n    public constructor(init?: Partial<{0}>) {{ {init}(Object as any).assign(this, init); }}",
        ty.name
    );
    if let Some(op) = op {
        let _ = writeln!(
            out,
            "    public getTypeName() {{ return '{}'; }}\n    public getMethod() {{ return '{}'; }}\n    \
             public createResponse() {{ return new {}(); }}",
            op.request, op.verb, op.response
        );
    }
    out.push_str("}\n");
}

fn ts_type(ty: PropType) -> String {
    match ty {
        PropType::String => "string".to_owned(),
        PropType::Bool => "boolean".to_owned(),
        PropType::Enum(t) | PropType::Object(t) => t.to_owned(),
        PropType::List(t) => format!("{t}[]"),
        PropType::StringMap => "{ [index:string]: string; }".to_owned(),
    }
}
