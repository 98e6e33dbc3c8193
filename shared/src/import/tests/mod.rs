//! The importer's tests: real commands with the request curl sends (`corpus`),
//! errors with their exact messages (`errors`), HAR exports (`har`), the contract
//! JSON (`contract`) and properties over arbitrary input (`fuzz`).

mod contract;
mod corpus;
mod errors;
mod fuzz;
mod har;
