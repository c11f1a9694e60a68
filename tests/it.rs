mod support {
    pub mod receiver;
}
