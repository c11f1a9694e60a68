//! The integration tests: the real binary, real files, a real HTTP receiver.

mod support {
    pub mod bridge;
    pub mod docker;
    pub mod platform_rules;
    pub mod platforms;
    pub mod readme;
    pub mod receiver;
}

mod cli;
mod delivery;
mod docker;
mod first_hour;
#[cfg(feature = "image-tests")]
mod image;
mod layout;
mod load;
#[cfg(feature = "openwebui-e2e")]
mod openwebui;
mod rulepack;
mod secrets;
mod service;
mod sinks;
