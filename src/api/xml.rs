//! DataContractSerializer-compatible XML for the API's DTOs (being written).
