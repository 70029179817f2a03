//! Which address applies: werf's `--synchronization` (`-S`) flag, whose default is the value of
//! `WERF_SYNCHRONIZATION`, and when both are empty a default that depends on the stages
//! storage (`--repo`).

use super::{http, Address, AddressError};

/// The environment variable werf reads the address from.
pub const SYNCHRONIZATION_ENV: &str = "WERF_SYNCHRONIZATION";

/// Where the stages live, which decides the default address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagesStorage {
    /// No `--repo`: the local Docker stages storage (werf's `:local` storage address).
    Local,
    /// A container registry (`--repo`).
    Repo,
}

impl Address {
    /// The address given by `explicit` (the command-line value) or else `env` (the value of
    /// `WERF_SYNCHRONIZATION`); `Ok(None)` when it is unset or empty, i.e. "use the default".
    ///
    /// As in werf, where the flag's default *is* the variable's value, an explicit value —
    /// even an empty one — wins over the variable.
    pub fn select(
        explicit: Option<&str>,
        env: Option<&str>,
    ) -> Result<Option<Address>, AddressError> {
        match explicit.or(env) {
            None | Some("") => Ok(None),
            Some(text) => Address::parse(text).map(Some),
        }
    }

    /// The default address: `:local` for a local stages storage, werf's public server
    /// ([`http::DEFAULT_SERVER`]) for a registry.
    pub fn default_for(storage: StagesStorage) -> Address {
        match storage {
            StagesStorage::Local => Address::Local,
            StagesStorage::Repo => Address::parse(http::DEFAULT_SERVER)
                .expect("werf's default synchronization server is a valid URL"),
        }
    }

    /// Resolves the address as werf does: [`Address::select`], else
    /// [`Address::default_for`] `storage`. A non-local address with a local stages storage
    /// is [`AddressError::RepoRequired`] (werf v2's check).
    ///
    /// werf v2 makes that check before it looks at the address at all; we parse first, so a
    /// malformed address is reported as malformed whatever the storage.
    pub fn resolve_from(
        explicit: Option<&str>,
        env: Option<&str>,
        storage: StagesStorage,
    ) -> Result<Address, AddressError> {
        let Some(address) = Address::select(explicit, env)? else {
            return Ok(Address::default_for(storage));
        };
        if !address.is_local() && storage == StagesStorage::Local {
            return Err(AddressError::RepoRequired);
        }
        Ok(address)
    }

    /// [`Address::resolve_from`] with `WERF_SYNCHRONIZATION` read from the environment. A
    /// value that is not UTF-8 is [`AddressError::Invalid`].
    pub fn resolve(
        explicit: Option<&str>,
        storage: StagesStorage,
    ) -> Result<Address, AddressError> {
        let env = env_value()?;
        Address::resolve_from(explicit, env.as_deref(), storage)
    }
}

/// `WERF_SYNCHRONIZATION`, `None` when unset.
fn env_value() -> Result<Option<String>, AddressError> {
    match std::env::var(SYNCHRONIZATION_ENV) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(value)) => Err(AddressError::Invalid {
            value: value.to_string_lossy().into_owned(),
        }),
    }
}
