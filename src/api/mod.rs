//! The HTTP API: routes, authentication, format negotiation, DTOs and their JSON and
//! DataContract XML forms, and the one table of errors.

pub mod dto;
pub mod xml;
