//! One module per page. Each gathers its data in one small function that calls the API's
//! handlers or the model functions they use, and renders it; its form handlers call the
//! same API handlers the CLI reaches, then go back to the page with the outcome.

pub(crate) mod council;
pub(crate) mod directory;
pub(crate) mod health;
pub(crate) mod knowledge;
pub(crate) mod overview;
pub(crate) mod peers;
pub(crate) mod relationships;
pub(crate) mod sessions;
pub(crate) mod skills;
