//! `owui-bridge healthcheck`: asks the running bridge's `/healthz` on
//! `BRIDGE_LISTEN` (the image's `HEALTHCHECK`; there is no curl in it).

use std::process::ExitCode;

use super::{load_config, runtime, Fail};

pub(super) fn healthcheck() -> Result<ExitCode, Fail> {
    let cfg = load_config()?;
    let Some(addr) = cfg.listen else {
        println!(
            "BRIDGE_LISTEN is off, so there is no endpoint to ask; treating the bridge as healthy"
        );
        return Ok(ExitCode::SUCCESS);
    };
    match runtime()?.block_on(crate::server::probe(addr)) {
        Ok(()) => {
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Fail::runtime(format!("not healthy: {e}"))),
    }
}
