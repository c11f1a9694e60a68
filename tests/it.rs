//! The integration tests: the real binary, real files, a real HTTP receiver.

mod support {
    pub mod bridge;
    pub mod receiver;
}

mod cli;
mod delivery;
