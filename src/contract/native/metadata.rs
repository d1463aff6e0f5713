//! `/types/metadata`: ServiceStack's `MetadataTypes` JSON (`config`, `namespaces`, `types`,
//! `operations`), camelCase with nulls omitted, from the contract's description.

use serde_json::{Map, Value, json};

use super::{NativeOptions, selected_types};
use crate::contract::schema::{self, Body, PropType, TypeDef};

/// The `MetadataTypes` document.
pub fn metadata_types(options: &NativeOptions) -> Value {
    let types = selected_types(options);
    let mut namespaces: Vec<&str> = types.iter().map(|t| t.namespace).collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let operations: Vec<Value> = schema::OPERATIONS
        .iter()
        .filter(|op| types.iter().any(|t| t.name == op.request))
        .map(|op| {
            let response = schema::find(op.response).map(metadata_type);
            json!({
                "request": metadata_type(op.request_type()),
                "response": response,
                "actions": [op.verb],
                "returnsVoid": false,
                "method": op.verb,
                "returnType": {"name": op.response, "namespace": schema::find(op.response).map(|t| t.namespace)},
                "routes": [{"path": op.route, "verbs": op.verb}],
                "requiresAuth": true,
                "requiredRoles": [op.required_role],
            })
        })
        .collect();
    let plain: Vec<Value> = types
        .iter()
        .filter(|t| schema::operation(t.name).is_none())
        .filter(|t| !schema::OPERATIONS.iter().any(|op| op.response == t.name))
        .map(|t| metadata_type(t))
        .collect();
    json!({
        "config": {
            "baseUrl": options.base_url(),
            "makePartial": true,
            "makeVirtual": true,
            "addReturnMarker": true,
            "addDescriptionAsComments": true,
            "addServiceStackTypes": true,
            "addResponseStatus": false,
            "makePropertiesOptional": false,
            "initializeCollections": true,
        },
        "namespaces": namespaces,
        "types": plain,
        "operations": operations,
    })
}

/// One `MetadataType`.
fn metadata_type(ty: &TypeDef) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(ty.name));
    out.insert("namespace".into(), json!(ty.namespace));
    if let Some(d) = ty.description {
        out.insert("description".into(), json!(d));
        out.insert(
            "attributes".into(),
            json!([{"name": "Api", "args": [{"name": "Description", "type": "String", "value": d}]}]),
        );
    }
    match ty.body {
        Body::Enum(members) => {
            out.insert("isEnum".into(), json!(true));
            out.insert("enumNames".into(), json!(members));
        }
        Body::Class { base, properties } => {
            if let Some(base) = base.and_then(schema::find) {
                out.insert(
                    "inherits".into(),
                    json!({"name": base.name, "namespace": base.namespace}),
                );
            }
            if let Some(op) = schema::operation(ty.name) {
                out.insert(
                    "implements".into(),
                    json!([{"name": "IReturn`1", "namespace": "ServiceStack", "genericArgs": [op.response]}]),
                );
            }
            let props: Vec<Value> = properties
                .iter()
                .map(|p| {
                    let mut m = Map::new();
                    m.insert("name".into(), json!(p.name));
                    let (type_name, generic_args, namespace): (&str, Option<Vec<&str>>, &str) =
                        match p.ty {
                            PropType::String => ("String", None, "System"),
                            PropType::Bool => ("Boolean", None, "System"),
                            PropType::Enum(t) | PropType::Object(t) => {
                                (t, None, schema::find(t).map_or("", |t| t.namespace))
                            }
                            PropType::List(t) => {
                                ("List`1", Some(vec![t]), "System.Collections.Generic")
                            }
                            PropType::StringMap => (
                                "Dictionary`2",
                                Some(vec!["String", "String"]),
                                "System.Collections.Generic",
                            ),
                        };
                    m.insert("type".into(), json!(type_name));
                    m.insert("namespace".into(), json!(namespace));
                    if let Some(args) = generic_args {
                        m.insert("genericArgs".into(), json!(args));
                    }
                    if matches!(p.ty, PropType::Bool | PropType::Enum(_)) {
                        m.insert("isValueType".into(), json!(true));
                    }
                    if matches!(p.ty, PropType::Enum(_)) {
                        m.insert("isEnum".into(), json!(true));
                    }
                    if let Some(d) = p.description {
                        m.insert("description".into(), json!(d));
                        m.insert(
                            "attributes".into(),
                            json!([{"name": "ApiMember", "args": [{"name": "Description", "type": "String", "value": d}]}]),
                        );
                    }
                    Value::Object(m)
                })
                .collect();
            out.insert("properties".into(), json!(props));
        }
    }
    Value::Object(out)
}
