//! `/types/python`: the DTOs as Python dataclasses for the PyPI `servicestack` client, as
//! ServiceStack v6.5's `PythonGenerator` writes them (snake_case members, camelCase JSON
//! through `dataclasses_json`, string enums, `IReturn[...]` on request DTOs).

use std::fmt::Write as _;

use super::{Default, NativeOptions, quoted, selected_types, type_attributes};
use crate::contract::schema::{self, Body, PropType, TypeDef};

/// The default imports, as the header names them.
const DEFAULT_IMPORTS: &str = "datetime,decimal,marshmallow.fields:*,servicestack:*,typing:*,\
dataclasses:dataclass/field,dataclasses_json:dataclass_json/LetterCase/Undefined/config,\
enum:Enum/IntEnum";

/// The header's options and their defaults, in the generator's order.
const OPTIONS: [(&str, Default); 10] = [
    ("GlobalNamespace", Default::Text("")),
    ("AddServiceStackTypes", Default::Bool(true)),
    ("AddResponseStatus", Default::Bool(false)),
    ("AddImplicitVersion", Default::Text("")),
    ("AddDescriptionAsComments", Default::Bool(true)),
    ("IncludeTypes", Default::List("")),
    ("ExcludeTypes", Default::List("")),
    ("DefaultImports", Default::List(DEFAULT_IMPORTS)),
    ("DataClass", Default::Text("")),
    ("DataClassJson", Default::Text("")),
];

/// The import lines `DEFAULT_IMPORTS` stands for.
const IMPORTS: &str = "import datetime\nimport decimal\nfrom marshmallow.fields import *\n\
from servicestack import *\nfrom typing import *\nfrom dataclasses import dataclass, field\n\
from dataclasses_json import dataclass_json, LetterCase, Undefined, config\n\
from enum import Enum, IntEnum\n";

/// The source `/types/python` serves.
pub fn python(options: &NativeOptions) -> String {
    let comments = options.flag("AddDescriptionAsComments", true);
    let mut out = String::new();
    if !options.without_options() {
        out.push_str(&options.preamble("\"\"\"", "#"));
        out.push_str(&options.option_lines("#", &OPTIONS));
        out.push_str("\"\"\"\n\n");
    }
    out.push_str(IMPORTS);
    for ty in selected_types(options) {
        // PEP 8: two empty lines before each class.
        out.push_str("\n\n");
        write_type(&mut out, ty, comments);
    }
    out.push('\n');
    out
}

fn write_type(out: &mut String, ty: &TypeDef, comments: bool) {
    for attr in type_attributes(ty, true) {
        let _ = writeln!(out, "# @{attr}");
    }
    let docs = |out: &mut String| {
        if comments && let Some(d) = ty.description {
            let _ = writeln!(out, "    \"\"\"\n    {d}\n    \"\"\"\n");
        }
    };
    let (base, properties) = match ty.body {
        Body::Enum(members) => {
            let _ = writeln!(out, "class {}(str, Enum):", ty.name);
            docs(out);
            for m in members {
                let _ = writeln!(out, "    {} = '{m}'", schema::snake(m).to_uppercase());
            }
            return;
        }
        Body::Class { base, properties } => (base, properties),
    };
    let mut extends: Vec<String> = base.into_iter().map(str::to_owned).collect();
    if let Some(op) = schema::operation(ty.name) {
        extends.push(format!("IReturn[{}]", op.response));
    }
    out.push_str(
        "@dataclass_json(letter_case=LetterCase.CAMEL, undefined=Undefined.EXCLUDE)\n@dataclass\n",
    );
    if extends.is_empty() {
        let _ = writeln!(out, "class {}:", ty.name);
    } else {
        let _ = writeln!(out, "class {}({}):", ty.name, extends.join(", "));
    }
    docs(out);
    if properties.is_empty() {
        out.push_str("    pass\n");
    }
    for (i, p) in properties.iter().enumerate() {
        if let Some(d) = p.description {
            let _ = writeln!(out, "    # @ApiMember(Description={})", quoted(d));
        }
        let _ = writeln!(out, "    {}: {}", schema::snake(p.name), py_type(p.ty));
        if comments && let Some(d) = p.description {
            let _ = writeln!(out, "    \"\"\"\n    {d}\n    \"\"\"");
        }
        if p.description.is_some() && i + 1 < properties.len() {
            out.push('\n');
        }
    }
}

/// The annotation and default of a member.
fn py_type(ty: PropType) -> String {
    match ty {
        PropType::String => "Optional[str] = None".to_owned(),
        PropType::Bool => "bool = False".to_owned(),
        PropType::Enum(t) | PropType::Object(t) => format!("Optional[{t}] = None"),
        PropType::List(t) => format!("Optional[List[{t}]] = None"),
        PropType::StringMap => "Optional[Dict[str, str]] = None".to_owned(),
    }
}
