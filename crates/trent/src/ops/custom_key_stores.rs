//! The custom key store operations, answered as AWS answers an account that has none: Trent keeps
//! all key material itself and cannot create a store backed by CloudHSM or an external key manager.

use super::authorize::{authorize_account, Conditions};
use super::Caller;
use trent_model::*;

pub fn describe(caller: &Caller, input: DescribeCustomKeyStoresRequest) -> Result<DescribeCustomKeyStoresResponse, KmsError> {
    authorize_account(caller, "DescribeCustomKeyStores", &Conditions::default())?;
    // Naming a store asks for that one, and there is none; otherwise the (empty) list of all.
    if let Some(name) = &input.custom_key_store_name {
        return Err(kms_error!(CustomKeyStoreNotFoundException, "Custom key store with name {name} does not exist."));
    }
    if let Some(id) = &input.custom_key_store_id {
        return Err(not_found(id));
    }
    Ok(DescribeCustomKeyStoresResponse { custom_key_stores: Some(Vec::new()), truncated: Some(false), next_marker: None })
}

pub fn create(caller: &Caller) -> Result<CreateCustomKeyStoreResponse, KmsError> {
    authorize_account(caller, "CreateCustomKeyStore", &Conditions::default())?;
    Err(kms_error!(
        UnsupportedOperationException,
        "Trent has no custom key stores: it keeps all key material itself and cannot use CloudHSM or an external key store."
    ))
}

pub fn connect(caller: &Caller, input: ConnectCustomKeyStoreRequest) -> Result<ConnectCustomKeyStoreResponse, KmsError> {
    no_such_store(caller, "ConnectCustomKeyStore", &input.custom_key_store_id)
}

pub fn disconnect(caller: &Caller, input: DisconnectCustomKeyStoreRequest) -> Result<DisconnectCustomKeyStoreResponse, KmsError> {
    no_such_store(caller, "DisconnectCustomKeyStore", &input.custom_key_store_id)
}

pub fn update(caller: &Caller, input: UpdateCustomKeyStoreRequest) -> Result<UpdateCustomKeyStoreResponse, KmsError> {
    no_such_store(caller, "UpdateCustomKeyStore", &input.custom_key_store_id)
}

pub fn delete(caller: &Caller, input: DeleteCustomKeyStoreRequest) -> Result<DeleteCustomKeyStoreResponse, KmsError> {
    no_such_store(caller, "DeleteCustomKeyStore", &input.custom_key_store_id)
}

/// An operation on one store, once authorized: there is no such store.
fn no_such_store<T>(caller: &Caller, operation: &str, id: &str) -> Result<T, KmsError> {
    authorize_account(caller, operation, &Conditions::default())?;
    Err(not_found(id))
}

fn not_found(id: &str) -> KmsError {
    kms_error!(CustomKeyStoreNotFoundException, "Custom key store with id {id} does not exist.")
}
