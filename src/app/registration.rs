//! Who answers the registration ping: a source the caller made, or the miners of the directory over
//! HTTP. The directory file is synced into the store at start and read again at every registration, so
//! edits reach the next one.

use std::rc::Rc;
use std::sync::Arc;

use super::{AppError, Registration};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::miners::RegistrationSource;
use crate::miners::directory::{DirectorySource, FileDirectory, sync};
use crate::miners::http::{HttpRegistration, MinerList, RepositoryCheck};
use crate::store::Store;

pub(super) fn build(
    settings: &Settings,
    registration: Registration,
    store: &Arc<Store>,
    clock: &SharedClock,
) -> Result<Rc<dyn RegistrationSource>, AppError> {
    match registration {
        Registration::Given(source) => Ok(source),
        Registration::Http => Ok(Rc::new(http(settings, store, clock)?)),
    }
}

fn http(settings: &Settings, store: &Arc<Store>, clock: &SharedClock) -> Result<HttpRegistration, AppError> {
    let miners = match settings.miners.directory.as_str() {
        "" => MinerList::Store(store.clone()),
        path => {
            let source = FileDirectory { path: path.into() };
            let entries = source.load().map_err(|e| AppError::Backend(e.to_string()))?;
            let summary = sync(store, &entries, clock.now())?;
            tracing::info!(directory = %source.describe(), added = summary.added, updated = summary.updated, removed = summary.removed, "miner directory synced");
            MinerList::Synced(store.clone(), Arc::new(source))
        }
    };
    let gates = &settings.gates;
    let mut http = HttpRegistration::new(miners, &settings.rules.registration)
        .map_err(|e| AppError::Backend(format!("registration: {e}")))?
        .with_repository_check(RepositoryCheck {
            gates: gates.clone(),
            fetch_timeout: std::time::Duration::from_secs(gates.registration_fetch_secs),
            scratch_dir: settings.validator.scratch_dir.clone().into(),
        });
    if let Some(key) = settings.validator.load_key().map_err(AppError::Backend)? {
        tracing::info!(hotkey = key.address(), "requests to miners are signed");
        http = http.signed_by(key);
    }
    Ok(http)
}
